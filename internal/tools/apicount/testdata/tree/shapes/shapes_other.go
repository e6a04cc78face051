//go:build !linux

package shapes

// Platform is declared once per platform file: it counts once.
func Platform() string { return "other" }

// Native is a method declared once per platform file.
func (s Square) Native() {}
