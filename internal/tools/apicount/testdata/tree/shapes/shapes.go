// Package shapes is the fixture of apicount's tests: one exported and one
// unexported name of every kind the command counts or passes over.
package shapes

import "io"

// Counted: exported top-level functions, variables and constants.

func Area() int { return 0 }

func perimeter() int { return 0 }

var (
	Unit, scale = 1, 2
	_           = scale
)

const (
	Pi    = 3
	twoPi = 2 * Pi
)

// Square is an exported struct: its exported fields count, embedded ones
// (by value, by pointer, from another package, generic) included.
type Square struct {
	Side, Depth int
	color       string
	Corner
	*Edge
	io.Reader
	Box[int]
	inner
}

// Corner and Edge are embedded in Square.
type (
	Corner struct{ X, Y int }
	Edge   struct{}
)

// Box and Pair are generic: methods on them count.
type Box[T any] struct{ Item T }

type Pair[K comparable, V any] struct{ Key K }

// inner is unexported: neither its fields nor its methods count.
type inner struct{ Hidden int }

func (inner) Visible() {}

// Methods of exported types count, by value or pointer receiver, but not
// the unexported ones.
func (s Square) Scale() {}

func (s *Square) Grow() {}

func (s *Square) shrink() {}

func (b Box[T]) Open() T { return b.Item }

func (p *Pair[K, V]) Swap() {}

// Shape is an exported interface: its exported methods count, not the
// unexported one nor the embedded interface.
type Shape interface {
	Area() int
	Name() string
	secret()
	io.Closer
}

// Number is a constraint: a union has no methods.
type Number interface{ ~int | ~float64 }

// Area2 is an alias and Mapper a func type: each counts as a type only.
type (
	Area2  = Square
	Mapper func(int) int
)
