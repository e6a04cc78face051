// Command transportctl lists the transportkit backends (in-tree ones and
// plugin binaries), probes an HTTPS target with each of them, side by
// side, and verifies plugin binaries.
//
// Run "transportctl help" for the commands, flags and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/transportkit/transportkit/plugins"
)

// Exit codes.
const (
	exitOK      = 0 // everything worked
	exitFailure = 1 // a probe failed, or a backend could not be used
	exitUsage   = 2 // bad command line or config file, unknown backend
)

func main() {
	// SIGINT (Ctrl-C) or SIGTERM ends the command's context instead of
	// the process, so that the command stops, the plugins it launched
	// (and whatever they started) are ended by plugins.Cleanup, and
	// go-plugin's temporary directories are removed before exiting. A
	// second signal has its default effect.
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Stop(sigs)
		cancel(&interrupted{s})
	}()
	os.Exit(runContext(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args (without the program name), writes
// results to stdout and diagnostics to stderr, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run under ctx: when ctx ends with an *interrupted cause,
// the command stops, says so and returns 128 plus the signal's number, as
// a shell reports a command a signal ended.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// No plugin process may outlive the command, whatever it opened.
	defer plugins.Cleanup()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var in *interrupted
	if errors.As(context.Cause(ctx), &in) {
		plugins.Cleanup()
		fmt.Fprintln(stderr, "transportctl: interrupted")
		return in.code()
	}
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

// interrupted is the cause of the command's context when a signal ended
// it.
type interrupted struct{ sig os.Signal }

func (e *interrupted) Error() string { return "interrupted by " + e.sig.String() }

// code is the exit code for the signal: 128 plus its number (130 for
// SIGINT, 143 for SIGTERM).
func (e *interrupted) code() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGINT)
}
