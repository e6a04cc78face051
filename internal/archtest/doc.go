// Package archtest keeps the module's documents true to its code. Its
// tests, run by go test ./... and first of all by .ci/run, check three
// things:
//
//   - The import rules: docs/ARCHITECTURE.md holds, between the markers
//     <!-- archtest:rules --> and <!-- /archtest:rules -->, the table of
//     which package may import which. [ParseRules] reads it, [ListPackages]
//     asks go list for the real graph, and [CheckImports] reports every
//     import the table does not allow, every package it does not cover and
//     every allowance no package uses, so the table and the graph cannot
//     drift apart.
//   - The links: [CheckLinks] follows every relative link of the Markdown
//     files (to a file, and to a heading when it names one) and every file
//     a Markdown text or a Go comment names by its path (docs/ARCHITECTURE.md,
//     protocols/alpn.go, or a bare file name in the comment's own
//     package), and reports those that lead nowhere.
//   - The names: [LoadNames] collects the exported names of the module's
//     packages, and [CheckNames] reports every pkg.Name or pkg.Type.Member
//     of a module package that a Markdown file or a Go comment mentions,
//     and every doc link of a comment to its own package, that does not
//     exist: what a rename or a removal left behind. A record of removed
//     names goes between <!-- archtest:history --> and
//     <!-- /archtest:history -->, which this check skips.
//
// Run them alone with
//
//	go test ./internal/archtest/
//
// The package is test tooling: nothing a program links imports it.
package archtest
