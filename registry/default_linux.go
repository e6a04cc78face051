package registry

// defaultChain is what DefaultChain returns: the standard library's net
// first, and the epoll engine for a program that links epoll without
// stdnet. The figures decide the order (issue 13's rule: epoll goes first
// only when it is at least as fast as stdnet in every W1 and W4 shape);
// BENCHMARKS.md has them and README.md ("Choosing a backend") the reason.
var defaultChain = []string{"stdnet", "epoll"}
