// Package prototest holds the test helpers that the tests of
// protocols/internal/h1 and protocols/internal/h2 share: a gzip-serving handler and the
// checks of a response's transparent decompression, and a recorder of the
// request-level hooks of an httptrace.ClientTrace with the comparison of
// its events against net/http's.
//
// It is imported by tests only; the helpers take a testing.TB and fail
// the test themselves.
package prototest
