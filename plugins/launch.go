package plugins

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/transportkit/transportkit/transport"
)

// launchProcess starts plugin p as a child process through go-plugin and
// returns it connected: go-plugin's gRPC protocol only, versions
// negotiated, automatic mutual TLS on the control connection, and an
// explicit start timeout. The binary is opened once and checked as it was
// opened (openBinary: the trust rules, its hash against the pinned
// checksum), and the process is executed from that open file, never from
// a path looked up again. Besides what go-plugin sets up, the child gets:
//
//   - descriptor 3, its end of the handoff channel (envHandoffFD names
//     it), and descriptor 4, its own binary (envBinaryFD), which it was
//     executed from: the kernel names such a process "4", so Serve
//     closes the descriptor and renames the process after its binary,
//     which argv[0] names (its real path);
//   - stdin from /dev/null (go-plugin would pass the host's own);
//   - the parent-death signal SIGTERM (see procAttr);
//   - a process group of its own, which the host kills as soon as the
//     child exits, and when the instance stops, so no process it started
//     outlives it;
//   - a private directory (0700) for go-plugin's unix sockets, its broker
//     listeners included;
//   - the host's log level (envLogLevel).
//
// What it logs, and its stderr, are forwarded by go-plugin to log under
// the backend's name (name), go-plugin's own messages at Trace (see
// chatter), and the tail of its stderr is kept for *ExitError. Ending ctx aborts the launch at once
// (the process, if started, is killed); the error is then ctx's.
func launchProcess(ctx context.Context, p Plugin, name string, log hclog.Logger) (*instance, error) {
	if errPlatform != nil {
		return nil, errPlatform
	}
	if err := ctx.Err(); err != nil {
		return nil, transport.ContextError(err)
	}
	bin, err := openBinary(p)
	if err != nil {
		return nil, err
	}
	defer bin.f.Close() // the child has its own copy once started
	if testHookOpened != nil {
		testHookOpened(p.Path)
	}
	host, peer, err := handoffPair()
	if err != nil {
		return nil, err
	}
	defer peer.Close() // likewise
	inst := newInstance(name)
	inst.sum, inst.realPath = bin.sum, bin.real
	r := newProcRunner(ctx, p.Path, bin, peer, []string{
		envHandoffFD + "=" + strconv.Itoa(childHandoffFD),
		envBinaryFD + "=" + strconv.Itoa(childBinaryFD),
		envLogLevel + "=" + levelName(log),
	}, inst.cancel)
	timeout := p.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	stdio := log.Named(name).StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {pluginKey: &grpcPlugin{}}},
		RunnerFunc:       r.prepare,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     timeout,
		Logger:           quiet(log, filepath.Base(p.Path), name),
		Stderr:           inst.stderr,
		SyncStdout:       stdio,
		SyncStderr:       stdio,
		Managed:          true,
	})
	inst.exitStatus = func() string { return processStatus(client, r.cmd) }
	inst.stopFn = func() {
		r.shutdown(client, log)
		host.Close()
		if inst.handoff != nil {
			inst.handoff.close()
		}
	}
	abort := context.AfterFunc(ctx, r.kill)
	defer abort()
	fail := func(err error) (*instance, error) {
		inst.stop()
		if cerr := ctx.Err(); cerr != nil {
			return nil, transport.ContextError(cerr)
		}
		return nil, err
	}

	began := time.Now()
	_, err = client.Start()
	inst.pid = r.pid()
	if err != nil {
		timedOut := time.Since(began) >= timeout
		if inst.pid > 0 {
			// The handshake fails as soon as stdout closes; give the
			// exit that usually goes with it a moment to be seen.
			select {
			case <-r.exited:
			case <-time.After(exitGrace):
			}
		}
		return fail(notPlugin(p, bin, startError(p, err, timedOut, timeout, inst)))
	}
	// The process runs, so its binary can no longer be written; make sure
	// it was not between the hash and the start.
	if err := bin.unchanged(p); err != nil {
		return fail(err)
	}
	cp, err := client.Client()
	if err != nil {
		return fail(fmt.Errorf("plugins: connecting to %s: %w", p.Path, err))
	}
	raw, err := cp.Dispense(pluginKey)
	cc, ok := raw.(*controlClient)
	if err != nil || !ok {
		return fail(fmt.Errorf("plugins: dispensing %s from %s: %v (%T)", pluginKey, p.Path, err, raw))
	}
	inst.conn, inst.broker = cc.conn, cc.broker
	inst.path, inst.protocol = p.Path, client.NegotiatedVersion()
	inst.handoff = newReceiver(host, log)
	return inst, nil
}

// testHookOpened, when set by a test, runs once a launch has opened and
// checked the binary, before the process starts.
var testHookOpened func(path string)

// startError explains a failed launch.
func startError(p Plugin, err error, timedOut bool, timeout time.Duration, inst *instance) error {
	switch {
	case timedOut:
		return fmt.Errorf("%w: %s gave no handshake within %v: %v", ErrStartTimeout, p.Path, timeout, err)
	case !inst.alive():
		e := inst.exitError()
		e.Status = err.Error() + "; " + e.Status
		return e
	}
	return fmt.Errorf("plugins: starting %s: %w", p.Path, err)
}

// notPlugin returns err, the error of a launch that got no handshake,
// as a *NotPluginError when the file is not a plugin: the system could
// not execute it, or it does not carry the plugin handshake.
func notPlugin(p Plugin, bin *openedBinary, err error) error {
	switch {
	case errors.Is(err, syscall.ENOEXEC):
		return &NotPluginError{Path: p.Path, Reason: "the system cannot execute it (not a program for this machine)", Err: err}
	case errors.Is(err, syscall.EACCES):
		return &NotPluginError{Path: p.Path, Reason: "it is not executable (chmod +x?)", Err: err}
	case bin.handshake:
		return err // a plugin that failed before its handshake
	}
	var ee *ExitError
	how := "and ended without answering it"
	if errors.As(err, &ee) && ee.Status != "" {
		if i := strings.LastIndex(ee.Status, "; "); i >= 0 {
			how = "and ended without answering it (" + ee.Status[i+2:] + ")"
		}
	} else if errors.Is(err, ErrStartTimeout) {
		how = "and did not answer it in time"
	}
	return &NotPluginError{Path: p.Path, Reason: "it does not carry the transportkit plugin handshake (a main that calls plugins.Serve or plugins.ServeDialer) " + how, Err: err}
}

// processStatus returns how the process ended, once go-plugin has reaped
// it (it waits for it), or "" if that takes longer than exitGrace.
func processStatus(client *plugin.Client, cmd *exec.Cmd) string {
	if cmd == nil {
		return "" // never prepared, so never started
	}
	deadline := time.Now().Add(exitGrace)
	for !client.Exited() {
		if time.Now().After(deadline) {
			return ""
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Exited is set under go-plugin's lock after cmd.Wait returned, so
	// ProcessState is safe to read now.
	if cmd.ProcessState == nil {
		return ""
	}
	return cmd.ProcessState.String()
}

// levelName is the name of log's level for envLogLevel; "off" for a
// logger that logs nothing.
func levelName(log hclog.Logger) string {
	l := log.GetLevel()
	if l == hclog.NoLevel {
		l = hclog.Off
	}
	return l.String()
}
