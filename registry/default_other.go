//go:build !linux

package registry

// defaultChain is what DefaultChain returns: off Linux there is no epoll,
// so only the standard library's net.
var defaultChain = []string{"stdnet"}
