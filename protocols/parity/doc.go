// Package parity holds the parity suite of protocols.Transport: its
// tests run one table of scenarios through net/http's Transport and
// through protocols.Transport on every backend, and compare what a caller
// observes. The package has no code outside its tests.
package parity
