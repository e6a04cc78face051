package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// launchProcess starts plugin p as a child process through go-plugin and
// returns it connected: go-plugin's gRPC protocol only, versions
// negotiated, automatic mutual TLS on the control connection, the
// checksum verified by go-plugin too when one is pinned, and an explicit
// start timeout. Besides what go-plugin sets up, the child gets:
//
//   - descriptor 3, its end of the handoff channel (envHandoffFD names
//     it);
//   - a process group of its own, which the host kills as soon as the
//     child exits, and when the instance stops, so no process it started
//     outlives it;
//   - a private directory (0700) for go-plugin's unix sockets, its broker
//     listeners included;
//   - the host's log level (envLogLevel).
//
// Its stderr is forwarded to log under the binary's name by go-plugin,
// and its tail kept for *ExitError.
func launchProcess(p Plugin, name string, log hclog.Logger) (*instance, error) {
	if errPlatform != nil {
		return nil, errPlatform
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	host, peer, err := handoffPair()
	if err != nil {
		return nil, err
	}
	sockDir, err := os.MkdirTemp("", "transportkit-plugin-")
	if err != nil {
		host.Close()
		peer.Close()
		return nil, err
	}
	inst := newInstance(name)
	cmd := exec.Command(p.Path)
	cmd.Env = []string{
		envHandoffFD + "=3",
		envLogLevel + "=" + levelName(log),
		plugin.EnvUnixSocketDir + "=" + sockDir,
	}
	cmd.ExtraFiles = []*os.File{peer}
	cmd.SysProcAttr = procAttr()
	var secure *plugin.SecureConfig
	if p.Checksum != "" {
		sum, _ := hex.DecodeString(p.Checksum) // Check made sure it is hex
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	timeout := p.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	stdio := log.Named(filepath.Base(p.Path)).StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {pluginKey: &grpcPlugin{}}},
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     timeout,
		Logger:           log,
		Stderr:           inst.stderr,
		SyncStdout:       stdio,
		SyncStderr:       stdio,
		Managed:          true,
	})
	began := time.Now()
	_, err = client.Start()
	peer.Close() // the child has its own copy now
	pid := 0
	if cmd.Process != nil {
		pid = cmd.Process.Pid
	}
	inst.pid = pid
	watched := make(chan struct{})
	if pid > 0 {
		go func() {
			defer close(watched)
			waitExit(pid)
			inst.cancel()
			killGroup(pid)
		}()
	} else {
		close(watched)
	}
	inst.exitStatus = func() string { return processStatus(client, cmd) }
	inst.stopFn = func() {
		client.Kill()
		<-watched
		host.Close()
		if inst.handoff != nil {
			inst.handoff.close()
		}
		os.RemoveAll(sockDir)
	}
	if err != nil {
		inst.stop()
		return nil, startError(p, err, time.Since(began) >= timeout, timeout, inst)
	}
	cp, err := client.Client()
	if err != nil {
		inst.stop()
		return nil, fmt.Errorf("plugins: connecting to %s: %w", p.Path, err)
	}
	raw, err := cp.Dispense(pluginKey)
	cc, ok := raw.(*controlClient)
	if err != nil || !ok {
		inst.stop()
		return nil, fmt.Errorf("plugins: dispensing %s from %s: %v (%T)", pluginKey, p.Path, err, raw)
	}
	inst.conn, inst.broker = cc.conn, cc.broker
	inst.path, inst.protocol = p.Path, client.NegotiatedVersion()
	inst.handoff = newReceiver(host, log)
	return inst, nil
}

// startError explains a failed launch.
func startError(p Plugin, err error, timedOut bool, timeout time.Duration, inst *instance) error {
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		// The binary changed between Check and go-plugin's own check.
		got, _ := FileSHA256(p.Path)
		return &ChecksumError{Path: p.Path, Want: p.Checksum, Got: got}
	case timedOut:
		return fmt.Errorf("%w: %s gave no handshake within %v: %v", ErrStartTimeout, p.Path, timeout, err)
	case !inst.alive():
		e := inst.exitError()
		e.Status = err.Error() + "; " + e.Status
		return e
	}
	return fmt.Errorf("plugins: starting %s: %w", p.Path, err)
}

// processStatus returns how the process ended, once go-plugin has reaped
// it (it waits for it), or "" if that takes longer than exitGrace.
func processStatus(client *plugin.Client, cmd *exec.Cmd) string {
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
