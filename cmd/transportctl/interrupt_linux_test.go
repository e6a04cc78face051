//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/registry"
)

// The slowstart test plugin and transportctl itself, built once per test
// binary by slowBuild.
var slowBuilt struct {
	once      sync.Once
	dir, tctl string
	err       error
}

// slowBuild builds the slowstart plugin into a directory that passes the
// trust rules, and transportctl, and returns the directory and the
// transportctl binary. A failed build fails the test.
func slowBuild(t *testing.T) (dir, tctl string) {
	t.Helper()
	b := &slowBuilt
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		b.dir, b.err = os.MkdirTemp("", "transportctl-slowstart-")
		if b.err != nil {
			return
		}
		if b.err = os.Chmod(b.dir, 0o755); b.err != nil {
			return
		}
		if _, b.err = pluginstest.Build(ctx, "./testdata/slowstart", "slowstart", b.dir); b.err != nil {
			return
		}
		b.tctl = filepath.Join(b.dir, "transportctl")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", b.tctl, ".").CombinedOutput(); err != nil {
			b.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		t.Fatalf("building the slowstart plugin and transportctl: %v", b.err)
	}
	// transportctl is in the directory too, but is no plugin's name.
	return b.dir, b.tctl
}

// cleanupSlowBuild removes what slowBuild built.
func cleanupSlowBuild() {
	if slowBuilt.dir != "" {
		os.RemoveAll(slowBuilt.dir)
	}
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// TestInterruptEndsPluginProcesses: SIGINT or SIGTERM while a plugin is
// starting ends transportctl promptly, with "interrupted" and 128 plus
// the signal's number, AND everything the plugin started (its process
// group), and leaves no go-plugin directory in TMPDIR: transportctl
// catches the signal, ends its command and runs plugins.Cleanup.
func TestInterruptEndsPluginProcesses(t *testing.T) {
	dir, tctl := slowBuild(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			pidfile := filepath.Join(t.TempDir(), "helper.pid")
			cmd := exec.Command(tctl, "probe", "--backend", "plugin:slowstart")
			cmd.Env = append(os.Environ(),
				registry.EnvPluginPath+"="+dir, registry.EnvBackend+"=", registry.EnvConfig+"=",
				"TMPDIR="+tmp, "SLOWSTART_PIDFILE="+pidfile, "SLOWSTART_INIT=20s")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			defer func() {
				cmd.Process.Kill()
				<-waited
			}()
			var helper int
			for deadline := time.Now().Add(20 * time.Second); helper == 0 && time.Now().Before(deadline); {
				if b, err := os.ReadFile(pidfile); err == nil {
					helper, _ = strconv.Atoi(string(b))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if helper == 0 {
				t.Fatal("the plugin did not start its helper within 20s")
			}
			t.Cleanup(func() { syscall.Kill(helper, syscall.SIGKILL) })
			cmd.Process.Signal(tc.sig)
			select {
			case err := <-waited:
				waited <- err
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
					t.Errorf("transportctl ended with %v, want exit code %d", err, tc.code)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("transportctl did not end within 10s of %v", tc.sig)
			}
			if got := stderr.String(); got != "transportctl: interrupted\n" {
				t.Errorf("stderr %q, want the one line \"transportctl: interrupted\"", got)
			}
			for deadline := time.Now().Add(5 * time.Second); alive(helper) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			if alive(helper) {
				t.Errorf("the plugin's helper process %d outlived transportctl after %v", helper, tc.sig)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("left in TMPDIR after %v: %v", tc.sig, names)
			}
		})
	}
}
