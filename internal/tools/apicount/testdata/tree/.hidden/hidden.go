// Package hidden is in a dot directory: not counted.
package hidden

func Hidden() {}
