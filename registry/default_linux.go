package registry

// defaultChain is what DefaultChain returns: the epoll engine first, and
// the standard library's net where epoll cannot run.
var defaultChain = []string{"epoll", "stdnet"}
