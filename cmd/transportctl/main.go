// Command transportctl lists the transportkit backends (in-tree ones and
// plugin binaries), probes an HTTPS target with each of them, side by
// side, and verifies plugin binaries.
//
// Run "transportctl help" for the commands, flags and exit codes.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/transportkit/transportkit/plugins"
)

// Exit codes.
const (
	exitOK      = 0 // everything worked
	exitFailure = 1 // a probe failed, or a backend could not be used
	exitUsage   = 2 // bad command line or config file, unknown backend
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args (without the program name), writes
// results to stdout and diagnostics to stderr, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	// No plugin process may outlive the command, whatever it opened.
	defer plugins.Cleanup()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "transportctl:", err)
	var fe *failure
	if errors.As(err, &fe) {
		return exitFailure
	}
	return exitUsage
}

// failure marks an error as a failure of the work asked for (exit code 1)
// rather than of the request itself (exit code 2, the default).
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }
