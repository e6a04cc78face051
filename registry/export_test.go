package registry

import "testing"

// isolate gives t an empty registry (no drivers, no discoverers) and,
// if chain is not nil, that default chain; the old state comes back in
// t.Cleanup. Tests that use it must not run in parallel.
func isolate(t testing.TB, chain ...string) {
	t.Helper()
	mu.Lock()
	oldDrivers, oldDisc, oldChain := drivers, discoverers, defaultChain
	drivers, discoverers = map[string]Driver{}, nil
	if chain != nil {
		defaultChain = chain
	}
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		drivers, discoverers, defaultChain = oldDrivers, oldDisc, oldChain
		mu.Unlock()
	})
}
