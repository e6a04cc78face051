// Package parity is the parity suite of protocols.Transport: the proof
// that it is a drop-in for net/http users. Its tests (the package has no
// other code) run one table of scenarios through net/http's Transport and
// through protocols.Transport on every backend, against the same local
// servers, and compare what a caller can observe. Every difference is a
// failure, except those listed, with their reasons, in the table
// intendedDifferences (differences_test.go).
//
//	go test -race ./protocols/parity/                  # the whole table
//	go test -race -run 'TestParity/gzip' ./protocols/parity/
//	PARITY_REPORT=/tmp/parity.md go test ./protocols/parity/   # the outcome table as Markdown
//
// docs/ARCHITECTURE.md, section "The parity suite", is the description
// of the suite: what runs (transports, servers, variants, scenarios), what
// is compared and how the traces are normalised, which fields are set by
// name, and the intended differences with their reasons, as
// intendedDifferences lists them; an entry of that table that no run shows
// any more fails the suite.
package parity
