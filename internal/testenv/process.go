package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the launchers.
const (
	// StartTimeout bounds the wait for a started program to accept on
	// all its ports.
	StartTimeout = 10 * time.Second
	// StopTimeout is how long a program may take to exit after the stop
	// signal before its process group is killed.
	StopTimeout = 10 * time.Second
)

// StopTimeout and StartTimeout as variables that the package's tests
// shorten.
var (
	stopTimeout  = StopTimeout
	startTimeout = StartTimeout
)

// Process is a program started by a launcher, in the foreground and in
// its own process group, with its output in a file of its folder.
type Process struct {
	// Name is the program's name, for messages.
	Name string
	// Dir is the folder of its configuration, logs and files (a
	// t.TempDir(), or a folder of its own that Stop removes for the
	// launchers that take no test).
	Dir string
	// Output is the file that gets its stdout and stderr.
	Output string

	cmd       *exec.Cmd
	stopSig   os.Signal
	removeDir bool          // Stop removes Dir
	done      chan struct{} // closed when the process was reaped
	err       error         // Wait's result, set before done is closed
	once      sync.Once
}

// command is a program for a launcher to run.
type command struct {
	name    string    // for messages, and the output file's name
	bin     string    // the program
	args    []string  // its arguments
	dir     string    // its working folder, holding its files
	stop    os.Signal // the signal that ends it gracefully
	logFile string    // a log whose end goes into error messages, if set
	addrs   []string  // the addresses it must accept on
}

// start starts the command and waits until every one of its addresses
// accepts. If it cannot start, exits first, or does not listen within
// StartTimeout, it is stopped and the error carries the end of its
// output and of its log. onStart, if not nil, is called as soon as the
// process runs (to register its stop).
func (c command) start(onStart func(*Process)) (*Process, error) {
	p := &Process{Name: c.name, Dir: c.dir, Output: filepath.Join(c.dir, c.name+".out"), stopSig: c.stop, done: make(chan struct{})}
	out, err := os.Create(p.Output)
	if err != nil {
		return nil, fmt.Errorf("testenv: %s: %w", c.name, err)
	}
	defer out.Close()
	p.cmd = exec.Command(c.bin, c.args...)
	p.cmd.Dir = c.dir
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", c.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if onStart != nil {
		onStart(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, addr := range c.addrs {
		if err := p.waitAccept(ctx, addr); err != nil {
			p.Stop()
			return nil, fmt.Errorf("testenv: %s: %w\n%s", c.name, err, p.diagnostics(c.logFile))
		}
	}
	return p, nil
}

// startTest starts the command for t: its stop is registered with
// t.Cleanup, and the test fails if it does not start and listen.
func (c command) startTest(t testing.TB) *Process {
	t.Helper()
	p, err := c.start(func(p *Process) { t.Cleanup(p.Stop) })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitAccept waits until addr accepts a connection, the process exits or
// ctx ends.
func (p *Process) waitAccept(ctx context.Context, addr string) error {
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before listening on %s: %v", addr, p.err)
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s after %v: %w", addr, startTimeout, err)
		case <-time.After(PollInterval):
		}
	}
}

// diagnostics returns the ends of the process's output and of logFile
// (if it was written).
func (p *Process) diagnostics(logFile string) string {
	s := "output: " + tail(p.Output)
	if _, err := os.Stat(logFile); err == nil {
		s += "\nlog: " + tail(logFile)
	}
	return s
}

// tail returns the last 4 KiB of a file, or why it cannot be read.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// Pid returns the process id, which is also its process group's.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited (and was reaped).
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process: the stop signal, then, after StopTimeout, a kill
// of its process group. It returns once the process was reaped (and its
// folder removed, for the launchers that take no test), and does nothing
// more when called again. Launchers that take a test call it at cleanup.
func (p *Process) Stop() {
	p.once.Do(func() {
		if !p.Exited() {
			p.cmd.Process.Signal(p.stopSig)
		}
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			p.Kill()
			<-p.done
		}
		if p.removeDir {
			os.RemoveAll(p.Dir)
		}
	})
}

// Kill kills the process's whole group at once. Stop still reaps it.
func (p *Process) Kill() {
	err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		p.cmd.Process.Kill()
	}
}
