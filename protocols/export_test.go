package protocols

// poolCount returns the number of origin pools t holds.
func poolCount(t *Transport) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.pools)
}
