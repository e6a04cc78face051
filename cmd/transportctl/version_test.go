package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	noEnv(t)
	code, out, errOut := cli(t, "version")
	if code != exitOK || errOut != "" {
		t.Fatalf("version: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"transportctl ", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "stdnet", "mock"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "plugin:") {
		t.Errorf("version lists plugins: %q", out)
	}

	code, flagOut, _ := cli(t, "--version")
	if code != exitOK || flagOut != out {
		t.Errorf("--version: exit %d, %q; want the version line %q", code, flagOut, out)
	}

	code, out, _ = cli(t, "version", "--json")
	var v versionInfo
	if code != exitOK || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("version --json: exit %d, %q", code, out)
	}
	if v.Module != "github.com/transportkit/transportkit" || v.Go != runtime.Version() || len(v.Backends) == 0 {
		t.Errorf("version --json = %+v", v)
	}

	if code, _, errOut := cli(t, "version", "extra"); code != exitUsage || !strings.Contains(errOut, "unknown command") && !strings.Contains(errOut, "accepts 0 arg") {
		t.Errorf("version extra: exit %d, %q; want a usage error", code, errOut)
	}
}

func TestVersionLine(t *testing.T) {
	v := versionInfo{Version: "v1.2.3", Revision: "0123456789abcdef0123", Modified: true, Go: "go1.27.3", Platform: "linux/amd64", Backends: []string{"epoll", "stdnet"}}
	want := "transportctl v1.2.3 (0123456789ab, modified), go1.27.3 linux/amd64, backends: epoll, stdnet"
	if got := v.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestVersionFromBuild builds the binary the way a user would and checks
// that the VCS revision it was built from is reported.
func TestVersionFromBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git to stamp the revision")
	}
	rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "transportctl")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=") // this machine's GOFLAGS may turn stamping off
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if v.Revision != strings.TrimSpace(string(rev)) {
		t.Errorf("revision %q, want HEAD %q", v.Revision, strings.TrimSpace(string(rev)))
	}
	_ = os.Remove(bin)
}

func TestCompletion(t *testing.T) {
	noEnv(t)
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := cli(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, "transportctl") {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), errOut)
		}
	}
	code, out, _ := cli(t, "__complete", "probe", "--backend", "std")
	if code != exitOK || !strings.Contains(out, "stdnet\t") || strings.Contains(out, "epoll") {
		t.Errorf("completing --backend std: exit %d, %q; want stdnet only", code, out)
	}
	code, out, _ = cli(t, "__complete", "probe", "--backend", "stdnet,mo")
	if code != exitOK || !strings.Contains(out, "stdnet,mock\t") {
		t.Errorf("completing --backend stdnet,mo: exit %d, %q; want stdnet,mock", code, out)
	}
}
