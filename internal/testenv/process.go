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
	// t.TempDir()).
	Dir string
	// Output is the file that gets its stdout and stderr.
	Output string

	cmd     *exec.Cmd
	stopSig os.Signal
	done    chan struct{} // closed when the process was reaped
	err     error         // Wait's result, set before done is closed
	once    sync.Once
}

// startProcess starts bin with args in dir, registers its stop with
// t.Cleanup and waits until every one of addrs accepts. stop is the
// signal that ends it gracefully. The test fails if it cannot start,
// exits first, or does not listen within StartTimeout; the message
// carries the end of its output and of logFile (if not empty).
func startProcess(t testing.TB, name, bin string, args []string, dir string, stop os.Signal, logFile string, addrs ...string) *Process {
	t.Helper()
	p := &Process{Name: name, Dir: dir, Output: filepath.Join(dir, name+".out"), stopSig: stop, done: make(chan struct{})}
	out, err := os.Create(p.Output)
	if err != nil {
		t.Fatalf("testenv: %s: %v", name, err)
	}
	defer out.Close()
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, addr := range addrs {
		if err := p.waitAccept(ctx, addr); err != nil {
			p.Stop()
			t.Fatalf("testenv: %s: %v\n%s", name, err, p.diagnostics(logFile))
		}
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

// diagnostics returns the ends of the process's output and of logFile.
func (p *Process) diagnostics(logFile string) string {
	s := "output: " + tail(p.Output)
	if logFile != "" {
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

// Pid returns the process id.
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
// of its process group. It returns once the process was reaped, and
// does nothing more when called again. Launchers call it at cleanup.
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
	})
}

// Kill kills the process's whole group at once. Stop still reaps it.
func (p *Process) Kill() {
	err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		p.cmd.Process.Kill()
	}
}
