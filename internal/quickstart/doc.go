// Package quickstart holds the test that runs the shell commands of the
// project's READMEs as a new user copies them: the first fenced block of
// README.md (its quickstart) and every sh, bash or unlabelled fenced block
// of each README.md under examples/. It has no code of its own; see
// readme_test.go.
//
// The test copies the module into a temporary directory (the READMEs say
// "from the repository root", and their commands write files there),
// builds transportctl fresh and puts it first on PATH, and runs each block
// with bash -e, bounded in time. Where a block names a server or a file
// the user is expected to have (example.com, a SOCKS5 proxy on
// 127.0.0.1:1080, a client certificate), the test starts a local one and
// rewrites the name in the block before running it: the substitutions are
// listed in one table, and a block that names something the table does
// not know fails, so that a README cannot ask for what a new user lacks.
//
//	go test -race ./internal/quickstart/
//
// A block that cannot run as written is a README to fix, not a test to
// bend. Blocks whose info string is not sh, bash or empty (json, go,
// text) are not run.
package quickstart
