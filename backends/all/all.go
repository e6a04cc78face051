// Package all imports every in-tree transportkit backend for its side
// effect of registering with package registry, so that a program can
// select any of them by name:
//
//	import _ "github.com/transportkit/transportkit/backends/all"
//
// Programs that want fewer backends import the ones they want instead.
// Plugin backends are not listed here: they are found at run time.
package all

// One import per in-tree backend, sorted by path so that gofmt keeps the
// order. A new backend adds its line here (see docs/ARCHITECTURE.md,
// "Adding a backend").
import (
	_ "github.com/transportkit/transportkit/backends/epoll"  // "epoll": the Linux engine; unavailable elsewhere
	_ "github.com/transportkit/transportkit/backends/mock"   // "mock": in-memory, for tests
	_ "github.com/transportkit/transportkit/backends/stdnet" // "stdnet": the standard library's net
)
