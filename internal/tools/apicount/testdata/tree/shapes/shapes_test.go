package shapes

// TestOnly is in a test file: not counted.
func TestOnly() {}
