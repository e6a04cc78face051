package all_test

import (
	"slices"
	"testing"

	_ "github.com/transportkit/transportkit/backends/all"
	"github.com/transportkit/transportkit/registry"
)

// TestRegistered checks that importing all registers every in-tree
// backend that runs everywhere.
func TestRegistered(t *testing.T) {
	names := registry.Names()
	for _, want := range []string{"mock", "stdnet"} {
		if !slices.Contains(names, want) {
			t.Errorf("registry.Names() = %v, want %q among them", names, want)
		}
	}
}
