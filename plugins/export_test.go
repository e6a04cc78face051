package plugins

// PID returns the process id of b's running plugin, or 0.
func PID(b *Backend) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inst == nil {
		return 0
	}
	return b.inst.pid
}
