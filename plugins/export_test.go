//go:build linux

package plugins

import "github.com/transportkit/transportkit/transport"

// PID returns the process id of b's running plugin, or 0.
func PID(b *Backend) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inst == nil {
		return 0
	}
	return b.inst.pid
}

// SetInProcess makes b run handed-off sockets on in (nil: on its own
// net.Conn-based streams) instead of the registry's default chain. It
// must be called before b's first handoff.
func SetInProcess(b *Backend, in transport.Backend) {
	b.inprocOnce.Do(func() { b.inproc = in })
}

// SetTestHookOpened makes every launch call f with the plugin's path once
// it has opened and checked the binary, before the process starts, until
// the returned function is called.
func SetTestHookOpened(f func(path string)) (restore func()) {
	testHookOpened = f
	return func() { testHookOpened = nil }
}
