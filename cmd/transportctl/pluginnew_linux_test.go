//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/registry"
)

// relayBackend is what a plugin author writes in the backend.go that
// plugin new made: the config section and the dial function of a relay
// through an HTTP CONNECT proxy. Unix sockets are local and dialed
// directly.
const relayBackend = `package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/transportkit/transportkit/plugins"
)

type config struct {
	Proxy string ` + "`json:\"proxy\"`" + `
}

func open(cfg config, direct plugins.DialFunc) (plugins.DialFunc, error) {
	if cfg.Proxy == "" {
		return nil, errors.New("relay: \"proxy\" is required")
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if network == "unix" {
			return direct(ctx, network, address)
		}
		c, err := direct(ctx, "tcp", cfg.Proxy)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", address, address)
		// The answer, a byte at a time: what follows it is the stream's.
		var head []byte
		for !bytes.HasSuffix(head, []byte("\r\n\r\n")) && len(head) < 8<<10 {
			b := make([]byte, 1)
			if _, err := c.Read(b); err != nil {
				return c, err
			}
			head = append(head, b[0])
		}
		var major, minor, code int
		if _, err := fmt.Sscanf(string(head), "HTTP/%d.%d %d", &major, &minor, &code); err != nil {
			return c, fmt.Errorf("relay: bad answer %q: %w", head, err)
		}
		switch {
		case code == 200:
			return c, nil
		case code == 407:
			return c, fmt.Errorf("relay: proxy answered %d: %w", code, syscall.EACCES)
		}
		return c, fmt.Errorf("relay: proxy answered %d: %w", code, syscall.ECONNREFUSED)
	}, nil
}
`

// tinyproxyBreaks are the stream checks no stream through tinyproxy can
// pass: it ends the whole tunnel on a half-close (CloseWrite), and turns
// a reset into a clean close (IsReadableAfterReset).
const tinyproxyBreaks = `/StreamTCP/^(CloseWrite|IsReadableAfterReset)$`

// goCmd runs the go command in dir with env added, bounded in time, and
// fails t with its output if it fails.
func goCmd(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPluginNewRelay is the plugin SDK's end-to-end check: plugin new
// writes a module, an author writes only the dial function (a relay
// through tinyproxy), and the plugin builds, passes the conformance
// suites in process and through its binary, and is listed and probed by
// transportctl from TRANSPORTKIT_PLUGIN_PATH.
func TestPluginNewRelay(t *testing.T) {
	noEnv(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	proxy := testenv.StartTinyproxy(t, testenv.TinyproxyOptions{})
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "relay")
	code, out, errOut := cli(t, "plugin", "new", "--replace", root, "relay", dir)
	if code != exitOK {
		t.Fatalf("plugin new: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, "backend.go"), []byte(relayBackend), 0o644); err != nil {
		t.Fatal(err)
	}

	bin := t.TempDir()
	goCmd(t, dir, nil, "build", "-o", filepath.Join(bin, registry.PluginBinaryPrefix+"relay"), ".")
	config := fmt.Sprintf(`{"proxy": %q}`, proxy.Addr)
	test := goCmd(t, dir, []string{"TRANSPORTKIT_TEST_CONFIG=" + config},
		"test", "-count=1", "-v", "-skip", tinyproxyBreaks, "./...")
	for _, suite := range []string{"TestInProcess", "TestPluginProcess"} {
		for _, check := range []string{"Backend/Refused", "Backend/ConnectTrace", "Backend/Deadline", "Backend/DialUnix", "StreamTCP/BasicIO", "StreamTCP/Close", "StreamUnix/Close"} {
			if !strings.Contains(test, "--- PASS: "+suite+"/"+check+" ") {
				t.Errorf("%s/%s did not pass:\n%s", suite, check, test)
			}
		}
	}
	// Through a CONNECT proxy that passes half-closes and resets on, the
	// relay passes every check.
	full := startConnectProxy(t)
	goCmd(t, dir, []string{fmt.Sprintf(`TRANSPORTKIT_TEST_CONFIG={"proxy": %q}`, full.Addr())}, "test", "-count=1", "./...")
	if full.connects.Load() == 0 {
		t.Error("no CONNECT reached the half-closing proxy")
	}

	reqs, err := proxy.Requests()
	if err != nil || !slices.ContainsFunc(reqs, func(r string) bool { return strings.HasPrefix(r, "CONNECT 127.0.0.1:") }) {
		t.Errorf("tinyproxy saw no CONNECT (%v): %q", err, reqs)
	}

	t.Setenv(registry.EnvPluginPath, bin)
	in := listJSON(t)["plugin:relay"]
	if in.Kind != registry.KindPlugin || !in.Available {
		t.Errorf("list: plugin:relay is %+v, want an available plugin", in)
	}
	before := len(reqs)
	cfg := writeFile(t, `{"backends": {"plugin:relay": `+config+`}}`)
	code, out, errOut = cli(t, "--config", cfg, "probe", "--backend", "plugin:relay")
	if code != exitOK || !strings.Contains(out, "plugin:relay") {
		t.Errorf("probe --backend plugin:relay: exit %d\n%s%s", code, out, errOut)
	}
	if reqs, _ := proxy.Requests(); len(reqs) <= before {
		t.Errorf("the probe did not go through tinyproxy: %q", reqs[before:])
	}
	// No plugin process is left; tinyproxy is ended when the test is.
	eventuallyOnly(t, proxy.Pid())
}

// eventuallyOnly fails t unless, within a few seconds, the only process
// this one has started is pid.
func eventuallyOnly(t *testing.T, pid int) {
	t.Helper()
	var left []int
	defer func() {
		if len(left) > 1 || (len(left) == 1 && left[0] != pid) {
			t.Errorf("child processes left behind: %v (tinyproxy is %d)", left, pid)
		}
	}()
	testenv.Eventually(t, 10*time.Second, func() bool {
		left = descendants(t)
		return len(left) == 0 || (len(left) == 1 && left[0] == pid)
	})
}

// connectProxy is an HTTP CONNECT proxy on loopback that relays
// half-closes and resets, so that a stream through it behaves like a
// direct one. testenv.Serve accepts and closes the client connections;
// the proxy closes the upstream ones.
type connectProxy struct {
	addr     string
	ctx      context.Context
	cancel   context.CancelFunc
	connects atomic.Int64

	mu  sync.Mutex
	ups map[net.Conn]bool // nil once closed
}

func startConnectProxy(t *testing.T) *connectProxy {
	p := &connectProxy{ups: map[net.Conn]bool{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.addr = testenv.Serve(t, nil, func(c net.Conn) {
		defer c.Close()
		p.handle(c.(*net.TCPConn))
	})
	// Runs before Serve's cleanup, which then closes the client
	// connections and waits for the handlers.
	t.Cleanup(p.close)
	return p
}

func (p *connectProxy) Addr() string { return p.addr }

// close ends the dials in progress and closes the upstream connections.
func (p *connectProxy) close() {
	p.cancel()
	p.mu.Lock()
	for c := range p.ups {
		c.Close()
	}
	p.ups = nil
	p.mu.Unlock()
}

// track holds the upstream connection c until close; it reports false
// (and closes c) once closed.
func (p *connectProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ups == nil {
		c.Close()
		return false
	}
	p.ups[c] = true
	return true
}

func (p *connectProxy) handle(c *net.TCPConn) {
	c.SetDeadline(time.Now().Add(time.Minute))
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	var d net.Dialer
	up, err := d.DialContext(p.ctx, "tcp", req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if !p.track(up) {
		return
	}
	defer up.Close()
	p.connects.Add(1)
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	c.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		relay(up.(*net.TCPConn), c)
	}()
	relay(c, up.(*net.TCPConn))
	<-done
}

// relay copies src to dst, then passes the end on: a half-close for EOF,
// a reset for a reset.
func relay(dst, src *net.TCPConn) {
	_, err := io.Copy(dst, src)
	if errors.Is(err, syscall.ECONNRESET) {
		dst.SetLinger(0)
		dst.Close()
		return
	}
	dst.CloseWrite()
}
