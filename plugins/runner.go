package plugins

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
)

// Descriptors a plugin process is started with, besides stdin, stdout
// and stderr.
const (
	// childHandoffFD is the plugin's end of the handoff channel.
	childHandoffFD = 3
	// childBinaryFD is the plugin binary the host opened and checked: the
	// process is executed from it, through /proc/self/fd, so the file
	// that runs is the file that was checked whatever happens to its path.
	childBinaryFD = 4
)

// shutdownTimeout bounds the graceful part of a plugin's shutdown
// (go-plugin's Shutdown call and its wait for the process to exit); a
// plugin that has not exited by then is killed.
const shutdownTimeout = 3 * time.Second

// procRunner runs one plugin process for go-plugin (a runner.Runner given
// through ClientConfig.RunnerFunc, so that the host, not go-plugin,
// chooses what is executed): the opened binary, by its descriptor, in a
// process group of its own that is killed as soon as the process exits.
// Closing the launch's context kills the process, so a launch can be
// interrupted at any point.
type procRunner struct {
	path   string          // the plugin's path as given, its name in logs
	bin    *openedBinary   // what is executed
	peer   *os.File        // the plugin's end of the handoff channel
	env    []string        // added to go-plugin's environment, and winning over it
	onExit func()          // called once the process has exited
	abort  context.Context // ends the launch

	// Set by prepare.
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
	tmpDir         string

	exited chan struct{} // closed once the process exited and its group was killed

	mu      sync.Mutex
	proc    *os.Process // nil until started
	aborted bool
}

var _ runner.Runner = (*procRunner)(nil)

func newProcRunner(ctx context.Context, path string, bin *openedBinary, peer *os.File, env []string, onExit func()) *procRunner {
	return &procRunner{path: path, bin: bin, peer: peer, env: env, onExit: onExit, abort: ctx, exited: make(chan struct{})}
}

// prepare is the ClientConfig.RunnerFunc: it builds the command from the
// environment go-plugin prepared in spec (its handshake variables, the
// directory for its sockets, the host's environment).
func (r *procRunner) prepare(_ hclog.Logger, spec *exec.Cmd, tmpDir string) (runner.Runner, error) {
	cmd := &exec.Cmd{
		Path:        "/proc/self/fd/" + strconv.Itoa(childBinaryFD),
		Args:        []string{r.bin.real},
		Env:         append(append([]string(nil), spec.Env...), r.env...),
		ExtraFiles:  []*os.File{r.peer, r.bin.f},
		SysProcAttr: procAttr(),
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	r.cmd, r.stdout, r.stderr, r.tmpDir = cmd, stdout, stderr, tmpDir
	return r, nil
}

// Start starts the process, unless the launch was aborted.
func (r *procRunner) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.abort.Err()
	if r.aborted && err == nil {
		err = net.ErrClosed
	}
	if err == nil {
		err = r.cmd.Start()
	}
	if err != nil {
		// go-plugin removes its socket directory only for a process
		// that started.
		os.RemoveAll(r.tmpDir)
		r.stdout.Close()
		r.stderr.Close()
		close(r.exited)
		return err
	}
	r.proc = r.cmd.Process
	pid := r.proc.Pid
	go func() {
		defer close(r.exited)
		waitExit(pid)
		r.onExit()
		killGroup(pid)
	}()
	return nil
}

// kill kills the process if it runs, and keeps it from starting if not.
func (r *procRunner) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.aborted = true
	if r.proc != nil {
		r.proc.Signal(syscall.SIGKILL) // os.ErrProcessDone once reaped
	}
}

// Kill is go-plugin's way to end the process.
func (r *procRunner) Kill(context.Context) error {
	r.kill()
	return nil
}

// Wait waits for the process to exit and reaps it.
func (r *procRunner) Wait(context.Context) error { return r.cmd.Wait() }

// pid returns the process id, or 0 if the process did not start.
func (r *procRunner) pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.Pid
}

// ID is the process id, or "" before the process started (go-plugin then
// has nothing to kill).
func (r *procRunner) ID() string {
	if pid := r.pid(); pid > 0 {
		return strconv.Itoa(pid)
	}
	return ""
}

func (r *procRunner) Name() string          { return r.path }
func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }

// Diagnose says what usually keeps a binary from answering the handshake.
func (r *procRunner) Diagnose(context.Context) string {
	return "This usually means that the binary is not a transportkit plugin (a main that calls plugins.Serve), " +
		"was built for another architecture, or failed before it could answer."
}

// PluginToHost and HostToPlugin keep addresses as they are: host and
// plugin share the file system and the network.
func (r *procRunner) PluginToHost(network, address string) (string, string, error) {
	return network, address, nil
}

func (r *procRunner) HostToPlugin(network, address string) (string, string, error) {
	return network, address, nil
}

// shutdown ends the plugin through client, within bounds: go-plugin's
// graceful shutdown (its Shutdown call, which has no deadline of its own,
// and a wait for the process to exit) gets shutdownTimeout; then the
// process is killed, and if go-plugin still waits exitGrace later (a
// process that left the plugin's group keeps its output pipes open), the
// pipes are closed under it. It returns once the process is gone.
func (r *procRunner) shutdown(client *plugin.Client, log hclog.Logger) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.Kill()
	}()
	t := time.NewTimer(shutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("plugin did not shut down in time; killing it", "plugin", r.path, "pid", r.pid(), "timeout", shutdownTimeout)
		r.kill()
		select {
		case <-done:
		case <-time.After(exitGrace):
			r.stdout.Close()
			r.stderr.Close()
			<-done
		}
	}
	if r.cmd != nil {
		<-r.exited
	}
}
