// Package nested has a go.mod (written by the test): another module, not
// counted.
package nested

func Nested() {}
