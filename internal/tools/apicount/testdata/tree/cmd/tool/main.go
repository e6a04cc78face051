// Command tool is a main package: not counted.
package main

func Exported() {}

func main() {}
