package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupTestPlugin()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Test-only backends, registered next to the real ones.
var (
	brokenOpen   atomic.Bool // makes test-broken's Open fail
	mockFault    atomic.Bool // makes test-mockfault's peer answer a malformed response
	discoverFail atomic.Bool // makes the test discoverer fail
)

func init() {
	unavailable := func() error { return fmt.Errorf("%w: test backend", transport.ErrUnavailable) }
	registry.Register(registry.Driver{
		Name:        "test-unavailable",
		Description: "never available",
		Available:   unavailable,
		Open:        func(transport.Options) (transport.Backend, error) { return nil, unavailable() },
	})
	registry.Register(registry.Driver{
		Name:        "test-broken",
		Description: "opens when brokenOpen is false, as stdnet does",
		Open: func(o transport.Options) (transport.Backend, error) {
			if brokenOpen.Load() {
				return nil, errors.New("broken on purpose")
			}
			return registry.Open("stdnet", o)
		},
	})
	registry.Register(registry.Driver{
		Name:         "test-inmemory",
		Description:  "an in-memory backend that is not the mock",
		Capabilities: []registry.Capability{registry.CapInMemory},
		Open: func(o transport.Options) (transport.Backend, error) {
			return registry.Open("stdnet", o)
		},
	})
	registry.Register(registry.Driver{
		Name:         "test-mockfault",
		Description:  "the mock, whose peer answers with a malformed HTTP/1.1 response when mockFault is set",
		Capabilities: []registry.Capability{registry.CapInMemory, registry.CapTLS},
		Open: func(o transport.Options) (transport.Backend, error) {
			b, err := mock.Open(o)
			if err != nil {
				return nil, err
			}
			return faultyMock{b}, nil
		},
	})
	registry.RegisterDiscoverer(func(registry.PluginConfig) ([]registry.Driver, error) {
		if discoverFail.Load() {
			return nil, errors.New("plugin dir unreadable")
		}
		return nil, nil
	})
}

// faultyMock is the mock backend whose Handle installs, instead of the
// peer asked for, a scripted HTTP/1.1 server (over the mock's pretend TLS,
// ALPN http/1.1) whose response has two different Content-Lengths: a
// fault only an HTTP/1.1 parser sees.
type faultyMock struct{ *mock.Backend }

func (f faultyMock) Handle(address string, p mock.Peer, faults ...mock.Fault) {
	if !mockFault.Load() {
		f.Backend.Handle(address, p, faults...)
		return
	}
	f.Backend.Handle(address, mock.TLSScriptPeer("http/1.1",
		mock.RecvUntil("\r\n\r\n"),
		mock.Send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")), faults...)
}

// cli runs transportctl in process with args and returns the exit code
// and what it wrote.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// noEnv clears the environment variables that steer the registry.
func noEnv(t *testing.T) {
	t.Setenv(registry.EnvBackend, "")
	t.Setenv(registry.EnvConfig, "")
	t.Setenv(registry.EnvPluginPath, "")
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "transportkit.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeRows(t *testing.T, stdout string) map[string]probeRow {
	t.Helper()
	var rows []probeRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("probe --json printed invalid JSON: %v\n%s", err, stdout)
	}
	m := map[string]probeRow{}
	for _, r := range rows {
		m[r.Backend] = r
	}
	return m
}

func TestList(t *testing.T) {
	noEnv(t)
	code, out, errOut := cli(t, "list")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "DEFAULT") {
		t.Errorf("no header: %q", lines[0])
	}
	for _, want := range []string{"stdnet", "mock", "test-unavailable"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, want+" ") }) {
			t.Errorf("no row for %s:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "unavailable: transport: backend unavailable: test backend") {
		t.Errorf("reason of test-unavailable missing:\n%s", out)
	}
}

func TestListJSON(t *testing.T) {
	noEnv(t)
	code, out, errOut := cli(t, "list", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var infos []registry.Info
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	byName := map[string]registry.Info{}
	defaults := 0
	for _, in := range infos {
		byName[in.Name] = in
		if in.Default {
			defaults++
		}
	}
	if in := byName["stdnet"]; !in.Available || in.Kind != registry.KindInTree || in.Description == "" {
		t.Errorf("stdnet: %+v", in)
	}
	if in := byName["mock"]; !in.Available || in.Default || !slices.Contains(in.Capabilities, registry.CapInMemory) {
		t.Errorf("mock: %+v", in)
	}
	if in := byName["test-unavailable"]; in.Available || in.Reason == "" {
		t.Errorf("test-unavailable: %+v", in)
	}
	if defaults != 1 {
		t.Errorf("%d backends marked default, want 1", defaults)
	}
}

func TestListDiscoveryFailure(t *testing.T) {
	noEnv(t)
	discoverFail.Store(true)
	defer discoverFail.Store(false)
	code, out, errOut := cli(t, "list")
	if code != exitFailure || !strings.Contains(errOut, "plugin dir unreadable") || !strings.Contains(out, "stdnet") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, the list and the discovery error", code, out, errOut)
	}
}

func TestProbeEmbeddedStdnet(t *testing.T) {
	transporttest.VerifyNoLeaks(t) // fds and goroutines
	noEnv(t)
	code, out, errOut := cli(t, "probe", "--backend", "stdnet", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	rows := decodeRows(t, out)
	r, ok := rows["stdnet"]
	if len(rows) != 1 || !ok {
		t.Fatalf("rows %v, want stdnet only", rows)
	}
	if !r.OK || r.Status != http.StatusOK || r.ALPN != "h2" || r.Proto != "HTTP/2.0" || r.Count != 1 ||
		r.Bytes == 0 || !strings.HasPrefix(r.URL, "https://127.0.0.1:") || r.RemoteAddr != strings.TrimSuffix(strings.TrimPrefix(r.URL, "https://"), "/") {
		t.Errorf("row %+v, want an h2 200 from the embedded server", r)
	}
	for name, p := range map[string]*float64{"connect": r.Connect, "tls": r.TLS, "ttfb": r.TTFB, "total": r.Total} {
		if p == nil || *p <= 0 {
			t.Errorf("phase %s = %v, want a time", name, p)
		}
	}
	if r.DNS != nil || r.P99 != nil {
		t.Errorf("dns %v p99 %v: want no DNS phase for an IP address and no p99 for one fetch", r.DNS, r.P99)
	}
	if !strings.Contains(out, `"dns_ms": null`) {
		t.Errorf("JSON lacks a null for the phase not reached:\n%s", out)
	}
}

func TestProbeEmbeddedAll(t *testing.T) {
	transporttest.VerifyNoLeaks(t) // fds and goroutines
	noEnv(t)
	code, out, errOut := cli(t, "probe", "--proto", "h1", "--count", "2")
	rows := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 {
			rows[f[0]] = l
		}
	}
	for name, want := range map[string][]string{
		"stdnet":           {" ok ", "http/1.1", "200"},
		"mock":             {" ok ", "http/1.1", "200", "own TLS", "/"},
		"test-unavailable": {"skipped", "unavailable"},
		"test-inmemory":    {"skipped", "in-memory"},
		"test-broken":      {" ok "},
	} {
		for _, w := range want {
			if !strings.Contains(rows[name], w) {
				t.Errorf("row for %s is %q, want %q in it", name, rows[name], w)
			}
		}
	}
	failed := strings.Contains(out, " FAIL ")
	if (code == exitOK) == failed || (code != exitOK && code != exitFailure) {
		t.Errorf("exit %d with table\n%s\nstderr %s", code, out, errOut)
	}
	if !strings.Contains(out, "(embedded server), proto h1, 2 fetch(es)") {
		t.Errorf("no heading:\n%s", out)
	}
}

func TestProbeMockEmbedded(t *testing.T) {
	noEnv(t)
	t.Setenv(registry.EnvBackend, "mock")
	code, out, errOut := cli(t, "probe", "--json", "--proto", "h2")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	r := decodeRows(t, out)["mock"]
	if !r.OK || r.ALPN != "h2" || r.Status != 200 || r.TLS == nil || r.TTFB == nil {
		t.Errorf("row %+v, want h2 200 over the mock's own TLS", r)
	}
}

// TestProbeEmbeddedH2C probes the embedded server in clear text with
// HTTP/2 by prior knowledge, on every backend (the mock serves h2c in
// memory), and reports h2c as the negotiated protocol.
func TestProbeEmbeddedH2C(t *testing.T) {
	transporttest.VerifyNoLeaks(t) // fds and goroutines
	noEnv(t)
	code, out, errOut := cli(t, "probe", "--json", "--proto", "h2c")
	rows := decodeRows(t, out)
	for _, name := range []string{"stdnet", "mock"} {
		r := rows[name]
		if !r.OK || r.Protocol != "h2c" || r.Proto != "HTTP/2.0" || r.ALPN != "" || r.TLS != nil || r.TTFB == nil || !strings.HasPrefix(r.URL, "http://127.0.0.1:") {
			t.Errorf("%s: row %+v, want h2c over clear text (exit %d, stderr %s)", name, r, code, errOut)
		}
	}
}

func TestProbeEnvUnknown(t *testing.T) {
	noEnv(t)
	t.Setenv(registry.EnvBackend, "nosuch")
	code, out, errOut := cli(t, "probe")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	for _, w := range []string{`"nosuch"`, "forgotten import", "mock", "stdnet", registry.EnvBackend} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr %q lacks %q", errOut, w)
		}
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
}

func TestProbeUnavailableOrBroken(t *testing.T) {
	noEnv(t)
	code, _, errOut := cli(t, "probe", "--backend", "test-unavailable")
	if code != exitFailure || !strings.Contains(errOut, "test backend") {
		t.Errorf("unavailable: exit %d, stderr %q; want 1 with the reason", code, errOut)
	}
	brokenOpen.Store(true)
	defer brokenOpen.Store(false)
	code, out, _ := cli(t, "probe", "--json")
	if r := decodeRows(t, out)["test-broken"]; code != exitFailure || r.OK || !strings.Contains(r.Error, "broken on purpose") {
		t.Errorf("broken: exit %d, row %+v; want exit 1 and the open error", code, r)
	}
}

func TestProbeConfig(t *testing.T) {
	noEnv(t)
	code, out, errOut := cli(t, "--config", writeFile(t, `{"backend": "stdnet", "options": {"connect_timeout": "5s"}}`), "probe", "--json")
	if rows := decodeRows(t, out); code != exitOK || len(rows) != 1 || !rows["stdnet"].OK {
		t.Errorf("exit %d, rows %v, stderr %s; want stdnet only, from the config file", code, rows, errOut)
	}

	bad := writeFile(t, `{"backend": "stdnet", "options": {"conect_timeout": "5s"}}`)
	code, _, errOut = cli(t, "--config", bad, "probe")
	if code != exitUsage || !strings.Contains(errOut, `"options.conect_timeout"`) || !strings.Contains(errOut, bad) {
		t.Errorf("exit %d, stderr %q; want 2 naming the field and the file", code, errOut)
	}

	t.Setenv(registry.EnvConfig, writeFile(t, `{"backend": "nosuch"}`))
	code, _, errOut = cli(t, "list")
	if code != exitUsage || !strings.Contains(errOut, `field "backend"`) {
		t.Errorf("list with a config naming an unknown backend: exit %d, %s; want 2 as every command", code, errOut)
	}
	code, _, errOut = cli(t, "probe")
	if code != exitUsage || !strings.Contains(errOut, `field "backend"`) || !strings.Contains(errOut, "known backends") {
		t.Errorf("exit %d, stderr %q; want 2 for the config's unknown backend", code, errOut)
	}
}

func TestProbeURL(t *testing.T) {
	transporttest.VerifyNoLeaks(t) // fds and goroutines
	noEnv(t)
	h := http.HandlerFunc(probeHandler)
	quiet := log.New(io.Discard, "", 0)
	h2srv := httptest.NewUnstartedServer(h)
	h2srv.EnableHTTP2 = true
	h2srv.Config.ErrorLog = quiet
	h2srv.StartTLS()
	defer h2srv.Close()
	h1srv := httptest.NewUnstartedServer(h)
	h1srv.Config.ErrorLog = quiet
	h1srv.StartTLS()
	defer h1srv.Close()
	noALPN := startNoALPN(t)
	plain := httptest.NewServer(h)
	defer plain.Close()
	h2c := httptest.NewUnstartedServer(h)
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetHTTP1(true)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Start()
	defer h2c.Close()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(r probeRow) bool
	}{
		{"h2 insecure", []string{h2srv.URL, "--insecure"}, exitOK,
			func(r probeRow) bool { return r.OK && r.ALPN == "h2" && r.Protocol == "h2" && r.Status == 200 }},
		{"h2 forced", []string{h2srv.URL, "--insecure", "--proto", "h2"}, exitOK,
			func(r probeRow) bool { return r.OK && r.Protocol == "h2" && r.Proto == "HTTP/2.0" }},
		{"h1 forced", []string{h2srv.URL, "--insecure", "--proto", "h1"}, exitOK,
			func(r probeRow) bool { return r.OK && r.Protocol == "http/1.1" && r.Proto == "HTTP/1.1" }},
		{"h2c", []string{h2c.URL, "--proto", "h2c"}, exitOK,
			func(r probeRow) bool { return r.OK && r.Protocol == "h2c" && r.Proto == "HTTP/2.0" && r.ALPN == "" }},
		{"h2c server, auto", []string{h2c.URL}, exitOK,
			func(r probeRow) bool { return r.OK && r.Protocol == "http/1.1" && r.Proto == "HTTP/1.1" }},
		{"h2c to an HTTP/1.1-only server", []string{plain.URL, "--proto", "h2c"}, exitFailure,
			func(r probeRow) bool { return !r.OK && r.Error != "" }},
		{"count", []string{h2srv.URL + "/x", "--insecure", "--count", "2"}, exitOK,
			func(r probeRow) bool { return r.OK && r.Count == 2 }},
		{"untrusted", []string{h2srv.URL}, exitFailure,
			func(r probeRow) bool { return !r.OK && strings.Contains(r.Error, "certificate") }},
		{"h1 only server", []string{h1srv.URL, "--insecure"}, exitOK,
			func(r probeRow) bool { return r.OK && r.ALPN == "http/1.1" && r.Proto == "HTTP/1.1" }},
		{"h2 refused", []string{h1srv.URL, "--insecure", "--proto", "h2"}, exitFailure,
			func(r probeRow) bool { return !r.OK && strings.Contains(r.Error, "no application protocol") }},
		{"h2 not negotiated", []string{noALPN, "--insecure", "--proto", "h2"}, exitFailure,
			func(r probeRow) bool { return !r.OK && strings.Contains(r.Error, "did not negotiate h2") }},
		{"plain http", []string{plain.URL}, exitOK,
			func(r probeRow) bool { return r.OK && r.ALPN == "" && r.TLS == nil && r.Status == 200 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"probe", "--json", "--backend", "stdnet"}, tt.args...)
			code, out, errOut := cli(t, args...)
			r := decodeRows(t, out)["stdnet"]
			if code != tt.wantCode || !tt.check(r) {
				t.Errorf("exit %d (want %d), row %+v, stderr %s", code, tt.wantCode, r, errOut)
			}
		})
	}

	t.Run("mock skipped for a real URL", func(t *testing.T) {
		code, out, errOut := cli(t, "probe", "--backend", "mock", plain.URL)
		if code != exitFailure || !strings.Contains(out, "skipped") || !strings.Contains(errOut, "no backend could run") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}

// startNoALPN starts a TLS server that offers no ALPN protocol and closes
// each connection after the handshake; it stops when t ends.
func startNoALPN(t *testing.T) string {
	cert, _, err := newCert(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	return "https://" + testenv.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if tc, ok := c.(*tls.Conn); ok {
			tc.Handshake()
		}
		c.Close()
	}) + "/"
}

// TestProbeTimeout probes a server that accepts and never answers, and
// checks that --timeout ends the handshake with a timeout error.
func TestProbeTimeout(t *testing.T) {
	noEnv(t)
	// The handler returns at once: the connection stays open, unanswered,
	// until the test ends.
	addr := testenv.Serve(t, nil, func(net.Conn) {})
	code, out, _ := cli(t, "probe", "--json", "--backend", "stdnet", "--timeout", "100ms", "https://"+addr+"/")
	r := decodeRows(t, out)["stdnet"]
	if code != exitFailure || r.OK || !strings.Contains(r.Error, "timeout") {
		t.Errorf("exit %d, row %+v; want a timeout failure", code, r)
	}
}

func TestUsageErrors(t *testing.T) {
	noEnv(t)
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"--bogus"},
		{"list", "extra"},
		{"--log-level", "loud", "list"},
		{"probe", "--proto", "h3"},
		{"probe", "--count", "0"},
		{"probe", "--timeout", "0s"},
		{"probe", "ftp://example.com/"},
		{"probe", "https://"},
		{"probe", "http://127.0.0.1:1/", "--proto", "h2"},
		{"probe", "https://127.0.0.1:1/", "--proto", "h2c"},
		{"probe", "%zz"},
		{"probe", "a", "b"},
		{"plugin", "extra"},
		{"plugin", "verify"},
		{"plugin", "verify", "a", "b"},
		{"plugin", "verify", "--sha256", "xyz", "p"},
		{"plugin", "verify", "--sha256", strings.Repeat("ab", 31), "p"},
		{"plugin", "verify", "--timeout", "0s", "p"},
		{"--config", filepath.Join(t.TempDir(), "missing.json"), "list"},
	} {
		code, _, errOut := cli(t, args...)
		if code != exitUsage || !strings.HasPrefix(errOut, "transportctl: ") {
			t.Errorf("%q: exit %d, stderr %q; want %d and a message", args, code, errOut, exitUsage)
		}
	}
}

func TestHelp(t *testing.T) {
	noEnv(t)
	for _, args := range [][]string{{"--help"}, {"probe", "--help"}, {"list", "--help"}, {"plugin", "--help"}, {"plugin", "verify", "--help"}, {"plugin"}, {}} {
		code, out, _ := cli(t, args...)
		if code != exitOK || !strings.Contains(out, "Example") && !strings.Contains(out, "Examples") {
			t.Errorf("%q: exit %d, stdout %q", args, code, out)
		}
	}
	_, out, _ := cli(t, "probe", "--help")
	for _, w := range []string{"Exit codes", "TRANSPORTKIT_BACKEND", "--count", "skipped"} {
		if !strings.Contains(out, w) {
			t.Errorf("probe --help lacks %q", w)
		}
	}
	_, out, _ = cli(t, "plugin", "verify", "--help")
	for _, w := range []string{"Exit codes", "--sha256", "--timeout", "transportctl plugin verify ./transportkit-backend-socks5", "plugins.checksums"} {
		if !strings.Contains(out, w) {
			t.Errorf("plugin verify --help lacks %q", w)
		}
	}
	_, out, _ = cli(t, "--help")
	if !strings.Contains(out, "Exit codes") || !strings.Contains(out, "TRANSPORTKIT_CONFIG") {
		t.Errorf("--help lacks exit codes or config:\n%s", out)
	}
}

func TestPercentiles(t *testing.T) {
	ms := func(n int) *time.Duration { d := time.Duration(n) * time.Millisecond; return &d }
	runs := []fetchResult{{total: ms(4)}, {total: ms(1), dns: ms(7)}, {total: ms(2)}, {total: ms(3)}}
	p50 := percentiles(runs, 0.5)
	if p50.Total == nil || *p50.Total != 2.5 {
		t.Errorf("median of 1..4 ms = %v, want 2.5", p50.Total)
	}
	if p50.DNS == nil || *p50.DNS != 7 || p50.Connect != nil {
		t.Errorf("dns %v connect %v: want 7 (the one run that had it) and nil (none had it)", p50.DNS, p50.Connect)
	}
	if p := percentiles(runs[:3], 0.5); *p.Total != 2 {
		t.Errorf("median of 4,1,2 ms = %v, want 2", *p.Total)
	}
	if p := percentiles(runs, 0.99); *p.Total != 4 {
		t.Errorf("p99 of 1..4 ms = %v, want 4", *p.Total)
	}
}

// TestProbeUsesTransport shows that probe's exchange is the library's:
// a response only protocols/internal/h1 (through protocols.Transport) rejects in
// its own words fails the probe with those words, and the phases before
// the failure are still reported.
func TestProbeUsesTransport(t *testing.T) {
	noEnv(t)
	mockFault.Store(true)
	defer mockFault.Store(false)
	code, out, _ := cli(t, "probe", "--backend", "test-mockfault", "--json")
	r := decodeRows(t, out)["test-mockfault"]
	if code != exitFailure || r.OK || !strings.Contains(r.Error, "h1: conflicting Content-Length") {
		t.Fatalf("exit %d, row %+v; want the h1 parser's error", code, r)
	}
	if r.Connect == nil || r.Total != nil {
		t.Errorf("phases %+v: want connect reached and no total (the exchange failed)", r.phases)
	}
}

// TestProbePhasesEveryProtocol: each phase's time is there on HTTP/1.1
// and HTTP/2, DNS included for a host name, on stdnet and epoll.
func TestProbePhasesEveryProtocol(t *testing.T) {
	noEnv(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(probeHandler))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, proto := range []string{"h1", "h2"} {
		code, out, errOut := cli(t, "probe", "--json", "--insecure", "--backend", "stdnet,epoll", "--proto", proto, "--count", "3", u)
		if code != exitOK {
			t.Fatalf("%s: exit %d, %s", proto, code, errOut)
		}
		if !strings.Contains(errOut, "warning: --insecure") {
			t.Errorf("%s: no warning for --insecure: %q", proto, errOut)
		}
		for name, r := range decodeRows(t, out) {
			if r.Count != 3 || r.P99 == nil {
				t.Errorf("%s %s: count %d p99 %v, want 3 fetches and a p99", proto, name, r.Count, r.P99)
				continue
			}
			for phase, v := range map[string][2]*float64{"dns": {r.DNS, r.P99.DNS}, "connect": {r.Connect, r.P99.Connect},
				"tls": {r.TLS, r.P99.TLS}, "ttfb": {r.TTFB, r.P99.TTFB}, "total": {r.Total, r.P99.Total}} {
				if v[0] == nil || v[1] == nil || *v[0] <= 0 || *v[1] < *v[0] {
					t.Errorf("%s %s: phase %s p50 %v p99 %v, want times with p99 >= p50", proto, name, phase, v[0], v[1])
				}
			}
			want := map[string]string{"h1": "http/1.1", "h2": "h2"}[proto]
			if r.Protocol != want || r.RemoteAddr == "" {
				t.Errorf("%s %s: protocol %q remote %q", proto, name, r.Protocol, r.RemoteAddr)
			}
		}
	}
}

func TestProbeRequestFlags(t *testing.T) {
	noEnv(t)
	var got struct {
		sync.Mutex
		method, accept string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Lock()
		got.method, got.accept = r.Method, r.Header.Get("Accept")
		got.Unlock()
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	code, _, errOut := cli(t, "probe", "--backend", "stdnet", "--method", "HEAD", "-H", "Accept: text/x-probe", srv.URL)
	got.Lock()
	if code != exitOK || got.method != "HEAD" || got.accept != "text/x-probe" {
		t.Errorf("exit %d (%s), server saw %s with Accept %q", code, errOut, got.method, got.accept)
	}
	got.Unlock()
	if code, _, _ := cli(t, "probe", "--backend", "stdnet", srv.URL+"/missing"); code != exitOK {
		t.Errorf("404 without --fail: exit %d, want 0 (like curl)", code)
	}
	code, out, errOut := cli(t, "probe", "--backend", "stdnet", "--fail", srv.URL+"/missing")
	if code != exitFailure || !strings.Contains(errOut, "--fail") || !strings.Contains(out, "404") {
		t.Errorf("404 with --fail: exit %d, %q %q; want 1", code, out, errOut)
	}
}

// TestBadInputEveryCommand: each bad input is a clear message and exit 2,
// for every command: an unknown backend (flag, environment, config file),
// an unknown flag, a config file with an unknown field; and the inputs of
// single commands (--count 0, a plugin path that is not a plugin).
func TestBadInputEveryCommand(t *testing.T) {
	noEnv(t)
	notPlugin := filepath.Join(t.TempDir(), "transportkit-backend-x")
	if err := os.WriteFile(notPlugin, []byte("#!/bin/sh\necho not a plugin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	badCfg := writeFile(t, `{"backend": "stdnet", "optionz": {}}`)
	unknownCfg := writeFile(t, `{"backend": "nosuch"}`)
	newDir := filepath.Join(t.TempDir(), "new")
	commands := [][]string{
		{"list"}, {"probe"}, {"bench", "-n", "1"}, {"version"}, {"completion", "bash"},
		{"plugin"}, {"plugin", "verify", notPlugin}, {"plugin", "new", "relay", newDir},
	}
	type badInput struct {
		args []string
		want string
	}
	cases := []badInput{
		{[]string{"probe", "--count", "0"}, "--count 0"},
		{[]string{"probe", "--method", "GE T"}, "--method"},
		{[]string{"probe", "-H", "NoColon"}, "-H"},
		{[]string{"bogus"}, "unknown command"},
		{[]string{"plugin", "verify", notPlugin}, "is not a transportkit plugin"},
	}
	for _, cmd := range commands {
		cases = append(cases,
			badInput{append([]string{"--backend", "nosuch"}, cmd...), `unknown backend "nosuch"`},
			badInput{append(slices.Clone(cmd), "--bogus"), "unknown flag: --bogus"},
			badInput{append([]string{"--config", badCfg}, cmd...), `field "optionz": unknown field`},
			badInput{append([]string{"--config", unknownCfg}, cmd...), `unknown backend "nosuch"`},
		)
	}
	for _, tc := range cases {
		code, out, errOut := cli(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "transportctl: ") {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 naming %q", tc.args, code, errOut, out, tc.want)
		}
	}
	if _, err := os.Stat(newDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("plugin new wrote %s despite the bad input: %v", newDir, err)
	}
	t.Setenv(registry.EnvBackend, "nosuch")
	for _, cmd := range commands {
		if code, _, errOut := cli(t, cmd...); code != exitUsage || !strings.Contains(errOut, registry.EnvBackend) {
			t.Errorf("%s=nosuch %v: exit %d, %q; want 2 naming the variable", registry.EnvBackend, cmd, code, errOut)
		}
	}
}
