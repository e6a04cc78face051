package shapes

// Platform is declared once per platform file: it counts once.
func Platform() string { return "linux" }

// Native is a method declared once per platform file.
func (s Square) Native() {}
