//go:build linux

package plugins_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// running reports whether process pid exists and is not a zombie.
func running(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	rest := data[bytes.LastIndexByte(data, ')')+1:]
	f := strings.Fields(string(rest))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// TestHostKilledDuringStart kills a host process (this test binary, run
// as runHost) while its plugin starts: once before the plugin answers
// the handshake, once while the plugin's backend opens, after it started
// a child process. Neither the plugin nor its child may outlive the
// host.
func TestHostKilledDuringStart(t *testing.T) {
	for _, stallAt := range []string{"handshake", "open"} {
		t.Run(stallAt, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pids")
			host := exec.Command(os.Args[0])
			host.Env = append(os.Environ(), envHost+"="+testPluginPath, envStall+"="+stallAt, envPIDFile+"="+pidFile)
			var stderr syncBuffer
			host.Stderr = &stderr
			if err := host.Start(); err != nil {
				t.Fatal(err)
			}
			var pids []int
			t.Cleanup(func() {
				host.Process.Kill()
				host.Wait()
				for _, pid := range pids {
					syscall.Kill(pid, syscall.SIGKILL) // only left by a failure
				}
			})
			eventually(t, "the plugin stalled in its start", func() bool {
				data, err := os.ReadFile(pidFile)
				if err != nil {
					return false
				}
				pids = pids[:0]
				for _, f := range strings.Fields(strings.Trim(string(data), "[]")) {
					pid, err := strconv.Atoi(f)
					if err != nil {
						t.Fatalf("pid file %q", data)
					}
					pids = append(pids, pid)
				}
				return true
			})
			if want := map[string]int{"handshake": 1, "open": 2}[stallAt]; len(pids) != want {
				t.Fatalf("pids %v, want %d", pids, want)
			}
			if err := host.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			host.Wait()
			killed := time.Now()
			eventually(t, "the plugin and its child gone with the host", func() bool {
				for _, pid := range pids {
					if running(pid) {
						return false
					}
				}
				return true
			})
			t.Logf("plugin processes %v gone %v after the host was killed", pids, time.Since(killed))
			if t.Failed() {
				t.Logf("host's stderr:\n%s", stderr.String())
			}
		})
	}
}
