// Package reliability holds no code: its tests prove how protocols.Transport
// behaves when the network or the server misbehaves, on every backend.
//
// TestFaultMatrix sends one HTTP/1.1 and one HTTP/2 request per fault
// (connection refused, a connect that never completes, a TLS server that
// never answers, a stall after the request, a reset in the response head
// and in the body, a truncated body, a response trickled one byte every
// 100 ms against a 1 s deadline, a TLS handshake failure, a certificate
// for another host, a server out of file descriptors) over every backend:
// stdnet, epoll, mock, and a plugin over each of its data paths (the
// SOCKS5 example plugin, whose sockets are handed to the host, and a test
// plugin whose bytes go through the plugin). Each request must fail with a
// typed error (errors.Is, errors.As) that names its phase (dial, TLS,
// response head, body), within its deadline, and leave no goroutine, file
// descriptor or server connection behind.
//
// TestSoak runs concurrent GETs and POSTs for a minute (longer with
// -soak=5m; skipped with -short) through one Transport to nginx, over
// HTTP/1.1 and HTTP/2, through a chaos proxy that resets and delays a
// share of the connections, and checks that every idempotent request
// succeeded, that the others failed with typed errors, and that
// goroutines, descriptors and the heap stay flat.
//
//	go test -race ./protocols/reliability/
//	go test -race -run TestSoak ./protocols/reliability/ -soak=5m
//
// docs/RELIABILITY.md has the table of expected errors and the figures of
// the last soak.
package reliability
