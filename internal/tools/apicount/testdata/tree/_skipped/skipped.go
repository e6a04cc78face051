// Package skipped is in an underscore directory: not counted.
package skipped

func Skipped() {}
