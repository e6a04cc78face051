// Package plain has one name of each top-level kind.
package plain

type T int

func F() {}

var V int

const C = 1
