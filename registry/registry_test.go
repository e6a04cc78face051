package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/transportkit/transportkit/transport"
)

// fakeBackend is a transport.Backend that dials nothing.
type fakeBackend struct {
	name string
	opts transport.Options
}

var _ transport.Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Name() string { return f.name }
func (f *fakeBackend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	return nil, &transport.OpError{Op: "dial", Backend: f.name, Network: network, Address: address, Err: transport.ErrUnsupported}
}
func (f *fakeBackend) Close() error { return nil }

// fake returns a driver for name that opens a *fakeBackend holding its
// options.
func fake(name string) Driver {
	return Driver{
		Name:         name,
		Description:  "fake " + name,
		Capabilities: []Capability{CapTCP},
		Open: func(opts transport.Options) (transport.Backend, error) {
			return &fakeBackend{name: name, opts: opts}, nil
		},
	}
}

// unavailable returns a driver for name whose Available says why not.
func unavailable(name, why string) Driver {
	d := fake(name)
	d.Available = func() error { return fmt.Errorf("%w: %s", transport.ErrUnavailable, why) }
	return d
}

// noEnv clears the registry's environment variables for t.
func noEnv(t *testing.T) {
	t.Setenv(EnvBackend, "")
	t.Setenv(EnvConfig, "")
	t.Setenv(EnvPluginPath, "")
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "transportkit.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", want)
		}
		if s := fmt.Sprint(r); !strings.HasPrefix(s, "registry: ") || !strings.Contains(s, want) {
			t.Fatalf("panic %q, want a registry: message mentioning %q", s, want)
		}
	}()
	f()
}

func TestRegister(t *testing.T) {
	isolate(t)
	Register(fake("b"))
	Register(fake("a"))
	if got, want := Names(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	if d, _ := lookup("a"); d.Kind != KindInTree {
		t.Errorf("Kind = %q, want %q for an empty Kind", d.Kind, KindInTree)
	}
	mustPanic(t, "empty name", func() { Register(Driver{Open: fake("x").Open}) })
	mustPanic(t, "nil Open", func() { Register(Driver{Name: "x"}) })
	mustPanic(t, `"a"`, func() { Register(fake("a")) })
	mustPanic(t, "nil Discoverer", func() { RegisterDiscoverer(nil) })
}

func TestOpen(t *testing.T) {
	isolate(t)
	noEnv(t)
	Register(fake("good"))
	Register(unavailable("gone", "not on this system"))
	boom := errors.New("boom")
	failing := fake("failing")
	failing.Open = func(transport.Options) (transport.Backend, error) { return nil, boom }
	Register(failing)
	opErr := &transport.OpError{Op: "open", Backend: "operr", Err: boom}
	oe := fake("operr")
	oe.Open = func(transport.Options) (transport.Backend, error) { return nil, opErr }
	Register(oe)
	nilb := fake("nil")
	nilb.Open = func(transport.Options) (transport.Backend, error) { return nil, nil }
	Register(nilb)

	b, err := Open("good", transport.Options{ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if fb := b.(*fakeBackend); fb.opts.ConnectTimeout != time.Second {
		t.Errorf("options not passed: %+v", fb.opts)
	}

	_, err = Open("nosuch", transport.Options{})
	var ue *UnknownBackendError
	if !errors.Is(err, ErrUnknownBackend) || !errors.As(err, &ue) {
		t.Fatalf("Open(nosuch) = %v, want an *UnknownBackendError", err)
	}
	if want := []string{"failing", "gone", "good", "nil", "operr"}; ue.Name != "nosuch" || !slices.Equal(ue.Known, want) {
		t.Errorf("error %+v, want name nosuch and known %v", ue, want)
	}
	if !strings.Contains(err.Error(), "forgotten import?") || !strings.Contains(err.Error(), "failing, gone, good, nil, operr") {
		t.Errorf("message %q does not say how to fix it", err)
	}

	_, err = Open("gone", transport.Options{})
	var op *transport.OpError
	if !errors.Is(err, transport.ErrUnavailable) || !errors.As(err, &op) || op.Op != "open" || op.Backend != "gone" {
		t.Errorf("Open(gone) = %v, want an open OpError matching ErrUnavailable", err)
	}

	_, err = Open("failing", transport.Options{})
	if !errors.Is(err, boom) || !errors.As(err, &op) || op.Backend != "failing" {
		t.Errorf("Open(failing) = %v, want an OpError wrapping boom", err)
	}
	if _, err = Open("operr", transport.Options{}); err != opErr {
		t.Errorf("Open(operr) = %v, want the driver's own *OpError unchanged", err)
	}
	if _, err = Open("nil", transport.Options{}); !errors.As(err, &op) || op.Backend != "nil" {
		t.Errorf("Open(nil) = %v, want an OpError", err)
	}
}

func TestUnknownBackendErrorNoneKnown(t *testing.T) {
	isolate(t)
	_, err := Open("x", transport.Options{})
	if err == nil || !strings.Contains(err.Error(), "none registered") {
		t.Errorf("err = %v, want it to say none are registered", err)
	}
}

func TestUnknownPluginSaysWhatToImport(t *testing.T) {
	isolate(t)
	_, err := Open("plugin:socks5", transport.Options{})
	var ue *UnknownBackendError
	if !errors.As(err, &ue) || !ue.NoDiscoverer {
		t.Fatalf("err = %v, want an *UnknownBackendError with NoDiscoverer", err)
	}
	if !strings.Contains(err.Error(), `import _ "github.com/transportkit/transportkit/plugins"`) {
		t.Errorf("message %q does not name the plugins package", err)
	}

	RegisterDiscoverer(func(PluginConfig) ([]Driver, error) { return nil, nil })
	_, err = Open("plugin:socks5", transport.Options{})
	if !errors.As(err, &ue) || ue.NoDiscoverer {
		t.Fatalf("err = %v, want an *UnknownBackendError without NoDiscoverer", err)
	}
	if !strings.Contains(err.Error(), "no plugin binary transportkit-backend-socks5") {
		t.Errorf("message %q does not say the binary was not found", err)
	}
}

func TestDefaultChain(t *testing.T) {
	want := []string{"stdnet"}
	if runtime.GOOS == "linux" {
		want = []string{"stdnet", "epoll"}
	}
	c := DefaultChain()
	if !slices.Equal(c, want) {
		t.Fatalf("DefaultChain() = %v, want %v", c, want)
	}
	c[0] = "changed"
	if DefaultChain()[0] == "changed" {
		t.Error("DefaultChain returned its own slice")
	}
}

func TestSelectOrder(t *testing.T) {
	isolate(t, "first", "second")
	noEnv(t)
	for _, n := range []string{"first", "second", "explicit", "env", "config"} {
		Register(fake(n))
	}
	cfgPath := writeConfig(t, `{"backend": "config"}`)
	tests := []struct {
		name       string
		sel        Selection
		env        string
		wantName   string
		wantSource Source
	}{
		{"default", Selection{}, "", "first", SourceDefault},
		{"config", Selection{ConfigPath: cfgPath}, "", "config", SourceConfig},
		{"env beats config", Selection{ConfigPath: cfgPath}, "env", "env", SourceEnv},
		{"explicit beats all", Selection{Name: "explicit", ConfigPath: cfgPath}, "env", "explicit", SourceExplicit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvBackend, tt.env)
			b, c, err := Select(tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			if b.Name() != tt.wantName || c.Name != tt.wantName || c.Source != tt.wantSource {
				t.Errorf("got backend %q, choice %+v; want %q from %s", b.Name(), c, tt.wantName, tt.wantSource)
			}
		})
	}
	t.Run("explicit reason", func(t *testing.T) {
		_, c, err := Select(Selection{Name: "explicit"})
		if err != nil || c.Reason != "named explicitly" {
			t.Errorf("choice %+v, err %v; want the default reason", c, err)
		}
		_, c, err = Select(Selection{Name: "explicit", Reason: "--backend flag"})
		if err != nil || c.Source != SourceExplicit || c.Reason != "--backend flag" {
			t.Errorf("choice %+v, err %v; want the reason given", c, err)
		}
	})
	t.Run("config from env", func(t *testing.T) {
		t.Setenv(EnvConfig, cfgPath)
		_, c, err := Select(Selection{})
		if err != nil || c.Source != SourceConfig || !strings.Contains(c.Reason, cfgPath) {
			t.Errorf("choice %+v, err %v; want the config file from %s", c, err, EnvConfig)
		}
	})
}

func TestSelectNamedNeverFallsBack(t *testing.T) {
	isolate(t, "gone", "good")
	noEnv(t)
	Register(unavailable("gone", "not here"))
	Register(fake("good"))

	_, c, err := Select(Selection{Name: "gone"})
	if !errors.Is(err, transport.ErrUnavailable) || c.Name != "gone" {
		t.Errorf("explicit unavailable: choice %+v, err %v; want ErrUnavailable", c, err)
	}

	t.Setenv(EnvBackend, "nosuch")
	_, c, err = Select(Selection{})
	var ue *UnknownBackendError
	if !errors.As(err, &ue) || c.Source != SourceEnv || !strings.Contains(err.Error(), EnvBackend) {
		t.Errorf("env unknown: choice %+v, err %v; want an UnknownBackendError naming %s", c, err, EnvBackend)
	}
	if !slices.Equal(ue.Known, []string{"gone", "good"}) {
		t.Errorf("Known = %v", ue.Known)
	}
	t.Setenv(EnvBackend, "")

	p := writeConfig(t, `{"backend": "nosuch"}`)
	_, _, err = Select(Selection{ConfigPath: p})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "backend" || ce.Path != p || !errors.Is(err, ErrUnknownBackend) {
		t.Errorf("config unknown: err %v; want a ConfigError for field backend wrapping ErrUnknownBackend", err)
	}
}

func TestSelectDefaultChain(t *testing.T) {
	noEnv(t)
	boom := errors.New("boom")
	openUnavailable := fake("epoll")
	openUnavailable.Open = func(transport.Options) (transport.Backend, error) {
		return nil, fmt.Errorf("%w: no loops", transport.ErrUnavailable)
	}
	openFails := fake("epoll")
	openFails.Open = func(transport.Options) (transport.Backend, error) { return nil, boom }
	availFails := fake("epoll")
	availFails.Available = func() error { return boom }

	tests := []struct {
		name       string
		drivers    []Driver
		wantName   string
		wantReason string
		wantErr    error
	}{
		{"first available", []Driver{fake("epoll"), fake("stdnet")}, "epoll", "default chain", nil},
		{"not registered", []Driver{fake("stdnet")}, "stdnet", "skipped epoll: not registered", nil},
		{"unavailable", []Driver{unavailable("epoll", "not Linux"), fake("stdnet")}, "stdnet", "not Linux", nil},
		{"open unavailable", []Driver{openUnavailable, fake("stdnet")}, "stdnet", "no loops", nil},
		{"real open error stops", []Driver{openFails, fake("stdnet")}, "", "", boom},
		{"real availability error stops", []Driver{availFails, fake("stdnet")}, "", "", boom},
		{"none", []Driver{unavailable("epoll", "x"), fake("mock")}, "", "", ErrNoBackend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t, "epoll", "stdnet")
			for _, d := range tt.drivers {
				Register(d)
			}
			var logs bytes.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
			b, c, err := Select(Selection{Logger: log})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Name() != tt.wantName || c.Source != SourceDefault || !strings.Contains(c.Reason, tt.wantReason) {
				t.Errorf("got %q, choice %+v; want %q with reason containing %q", b.Name(), c, tt.wantName, tt.wantReason)
			}
			if !strings.Contains(logs.String(), "backend selected") || !strings.Contains(logs.String(), "[DEBUG]") {
				t.Errorf("choice not logged at debug:\n%s", logs.String())
			}
			if fb := b.(*fakeBackend); fb.opts.Logger == nil {
				t.Error("Selection.Logger not handed to the backend")
			}
		})
	}
}

func TestSelectOptionsFromConfig(t *testing.T) {
	isolate(t, "b")
	noEnv(t)
	Register(fake("b"))
	p := writeConfig(t, `{
		"options": {"connect_timeout": "5s", "keepalive": "-1s", "no_delay": false, "local_addr": "127.0.0.1:0"},
		"backends": {"b": {"loops": 2}, "other": {}}
	}`)
	b, _, err := Select(Selection{ConfigPath: p})
	if err != nil {
		t.Fatal(err)
	}
	o := b.(*fakeBackend).opts
	la, _ := o.LocalAddr.(*net.TCPAddr)
	if o.ConnectTimeout != 5*time.Second || o.KeepAlive != -time.Second || !o.DisableNoDelay ||
		la == nil || la.String() != "127.0.0.1:0" || string(o.Config) != `{"loops": 2}` {
		t.Errorf("options %+v not taken from the config file", o)
	}

	// Values set in code win.
	code := transport.Options{ConnectTimeout: time.Second, KeepAlive: time.Minute, Config: json.RawMessage(`{}`),
		LocalAddr: &net.TCPAddr{IP: net.IPv6loopback}}
	b, _, err = Select(Selection{ConfigPath: p, Options: code})
	if err != nil {
		t.Fatal(err)
	}
	o = b.(*fakeBackend).opts
	if o.ConnectTimeout != time.Second || o.KeepAlive != time.Minute || string(o.Config) != `{}` || o.LocalAddr != code.LocalAddr {
		t.Errorf("options %+v: code's values lost", o)
	}
}

func TestSelectConfigErrors(t *testing.T) {
	isolate(t, "b")
	noEnv(t)
	Register(fake("b"))
	missing := filepath.Join(t.TempDir(), "missing.json")
	_, _, err := Select(Selection{ConfigPath: missing})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Path != missing || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want a ConfigError for the missing file", err)
	}
	t.Setenv(EnvConfig, writeConfig(t, `{"bogus": 1}`))
	_, _, err = Select(Selection{})
	if !errors.Is(err, ErrUnknownField) {
		t.Errorf("err = %v, want ErrUnknownField from %s's file", err, EnvConfig)
	}
	// A config given in code is used as it is, TRANSPORTKIT_CONFIG unread.
	b, c, err := Select(Selection{Config: &Config{Backend: "b"}})
	if err != nil || b.Name() != "b" || c.Source != SourceConfig {
		t.Errorf("Select with Config: %v, %+v, %v", b, c, err)
	}
}

func TestLoadConfig(t *testing.T) {
	p := writeConfig(t, `{"backend": "epoll",
 "options": {"connect_timeout": "5s", "keepalive": "30s", "no_delay": true, "local_addr": "[::1]:0"},
 "backends": {"epoll": {"loops": 2}},
 "plugins": {"dirs": ["/opt/transportkit/plugins", "rel"],
   "checksums": {"socks5": "`+strings.Repeat("ab", 32)+`"}, "start_timeout": "10s"}}`)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/opt/transportkit/plugins", filepath.Join(filepath.Dir(p), "rel")}
	if cfg.Path != p || cfg.Backend != "epoll" || cfg.Options.ConnectTimeout != 5*time.Second ||
		cfg.Options.KeepAlive != 30*time.Second || cfg.Options.NoDelay == nil || !*cfg.Options.NoDelay ||
		cfg.Options.LocalAddr != "[::1]:0" || string(cfg.Backends["epoll"]) != `{"loops": 2}` ||
		!slices.Equal(cfg.Plugins.Dirs, want) || cfg.Plugins.Checksums["socks5"] != strings.Repeat("ab", 32) ||
		cfg.Plugins.StartTimeout != 10*time.Second {
		t.Errorf("LoadConfig = %+v", cfg)
	}

	for _, body := range []string{`{}`, `null`, `{"options": null, "plugins": {"start_timeout": null}}`} {
		if _, err := LoadConfig(writeConfig(t, body)); err != nil {
			t.Errorf("LoadConfig(%s) = %v, want no error", body, err)
		}
	}
}

// atPosition as a wanted text asks for a line and column in the message.
const atPosition = "<line and column>"

var positionRE = regexp.MustCompile(`line [0-9]+, column [0-9]+`)

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		body      string
		wantField string
		wantErr   error  // matched with errors.Is, if not nil
		wantText  string // in the message, if not empty
	}{
		{`{"bogus": 1}`, "bogus", ErrUnknownField, `field "bogus": unknown field`},
		{`{"Backend": "x"}`, "Backend", ErrUnknownField, ""},
		{`{"options": {"conect_timeout": "5s"}}`, "options.conect_timeout", ErrUnknownField, ""},
		{`{"plugins": {"dir": []}}`, "plugins.dir", ErrUnknownField, ""},
		{`{"options": {"connect_timeout": "5 seconds"}}`, "options.connect_timeout", nil, "unknown unit"},
		{`{"options": {"connect_timeout": 5}}`, "options.connect_timeout", nil, "duration string"},
		{`{"options": {"connect_timeout": "-1s"}}`, "options.connect_timeout", nil, "negative"},
		{`{"options": {"no_delay": "yes"}}`, "options.no_delay", nil, "want bool"},
		{`{"options": {"local_addr": "localhost:0"}}`, "options.local_addr", nil, "IP:port"},
		{`{"options": []}`, "options", nil, "JSON object"},
		{`{"backend": 3}`, "backend", nil, "want string"},
		{`{"backend": "a", "backend": "b"}`, "backend", nil, "twice"},
		{`{"backends": {"epoll": 2}}`, "backends.epoll", nil, "JSON object"},
		{`{"backends": {"": {}}}`, "backends", nil, "empty backend name"},
		{`{"plugins": {"dirs": [""]}}`, "plugins.dirs[0]", nil, "empty directory"},
		{`{"plugins": {"checksums": {"socks5": "abc"}}}`, "plugins.checksums.socks5", nil, "SHA-256"},
		{`{"plugins": {"start_timeout": "-2s"}}`, "plugins.start_timeout", nil, "negative"},
		{`[]`, "", nil, "JSON object"},
		{`{"backend": "x"} {}`, "", nil, "after the JSON object"},
		{"{\n\"backend\": \"x\",\n}", "", nil, atPosition},
		{`{"backend": "x"`, "", nil, "unexpected end"},
		{``, "", nil, "unexpected end"},
		{`{"backend" "x"}`, "backend", nil, atPosition},
		{`{"options": {"keepalive": }}`, "options", nil, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			p := writeConfig(t, tt.body)
			_, err := LoadConfig(p)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if ce.Path != p || ce.Field != tt.wantField {
				t.Errorf("ConfigError{Path: %q, Field: %q}, want field %q", ce.Path, ce.Field, tt.wantField)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("message %q lacks the path", err)
			}
			// A syntax error says where it is; the exact line, column and
			// wording are the JSON decoder's, which differ between Go
			// releases, so only their presence is checked.
			if tt.wantText == atPosition {
				if !positionRE.MatchString(err.Error()) {
					t.Errorf("message %q gives no line and column", err)
				}
			} else if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("message %q lacks %q", err, tt.wantText)
			}
		})
	}
}

func TestConfigErrorMessage(t *testing.T) {
	err := &ConfigError{Err: errors.New("bad")}
	if got, want := err.Error(), "registry: config: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestResolveConfigNone(t *testing.T) {
	noEnv(t)
	cfg, err := ResolveConfig("")
	if err != nil || cfg == nil || cfg.Path != "" || cfg.Backend != "" {
		t.Errorf("ResolveConfig(\"\") = %+v, %v; want an empty config", cfg, err)
	}
}

func TestList(t *testing.T) {
	isolate(t, "epoll", "stdnet")
	noEnv(t)
	Register(unavailable("epoll", "not Linux"))
	Register(fake("stdnet"))
	m := fake("mock")
	m.Capabilities = nil
	m.Details = map[string]string{"k": "v"}
	Register(m)
	infos, err := List(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
		if in.Capabilities == nil {
			t.Errorf("%s: nil Capabilities", in.Name)
		}
	}
	if !slices.Equal(names, []string{"epoll", "mock", "stdnet"}) {
		t.Fatalf("names %v, want sorted epoll, mock, stdnet", names)
	}
	e, mk, s := infos[0], infos[1], infos[2]
	if e.Available || !strings.Contains(e.Reason, "not Linux") || e.Default {
		t.Errorf("epoll info %+v, want unavailable with the reason", e)
	}
	if !s.Available || s.Reason != "" || !s.Default || s.Kind != KindInTree || s.Description != "fake stdnet" {
		t.Errorf("stdnet info %+v, want available and default", s)
	}
	if mk.Default || mk.Details["k"] != "v" {
		t.Errorf("mock info %+v", mk)
	}
}

func TestDiscoverer(t *testing.T) {
	isolate(t, "stdnet")
	noEnv(t)
	envDir := t.TempDir()
	t.Setenv(EnvPluginPath, envDir+string(filepath.ListSeparator))
	Register(fake("stdnet"))
	searchFailed := errors.New("cannot read dir")
	var gotCfg PluginConfig
	RegisterDiscoverer(func(cfg PluginConfig) ([]Driver, error) {
		gotCfg = cfg
		socks := fake("plugin:socks5")
		socks.Details = map[string]string{"path": "/x/transportkit-backend-socks5", "checksum": "ok"}
		broken := unavailable("plugin:broken", "checksum mismatch")
		broken.Kind = KindPlugin
		return []Driver{socks, broken, fake("noprefix"), {Name: "plugin:noopen"}, fake("plugin:")}, searchFailed
	})
	RegisterDiscoverer(func(cfg PluginConfig) ([]Driver, error) {
		dup := fake("plugin:socks5")
		dup.Description = "second"
		return []Driver{dup, fake("stdnet")}, nil
	})
	cfg := &Config{Plugins: PluginConfig{Dirs: []string{"/cfg/plugins"}, StartTimeout: time.Second}}

	infos, err := List(cfg)
	if !errors.Is(err, searchFailed) || !strings.Contains(fmt.Sprint(err), `"noprefix"`) ||
		!strings.Contains(fmt.Sprint(err), `"plugin:noopen"`) {
		t.Errorf("List error %v, want the search failure and the invalid drivers", err)
	}
	if want := []string{envDir, "/cfg/plugins"}; !slices.Equal(gotCfg.Dirs, want) || gotCfg.StartTimeout != time.Second {
		t.Errorf("discoverer given %+v, want dirs %v", gotCfg, want)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
		if in.Name == "plugin:socks5" && (in.Kind != KindPlugin || in.Description != "fake plugin:socks5" || in.Details["checksum"] != "ok") {
			t.Errorf("socks5 info %+v, want the first discoverer's plugin", in)
		}
		if in.Name == "stdnet" && in.Description != "fake stdnet" {
			t.Errorf("a discovered stdnet replaced the registered one: %+v", in)
		}
	}
	if want := []string{"plugin:broken", "plugin:socks5", "stdnet"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}

	b, err := Open("plugin:socks5", transport.Options{})
	if err != nil || b.Name() != "plugin:socks5" {
		t.Fatalf("Open(plugin:socks5) = %v, %v", b, err)
	}
	if _, err := Open("plugin:broken", transport.Options{}); !errors.Is(err, transport.ErrUnavailable) {
		t.Errorf("Open(plugin:broken) = %v, want ErrUnavailable", err)
	}
	_, err = Open("plugin:nosuch", transport.Options{})
	var ue *UnknownBackendError
	if !errors.As(err, &ue) || !errors.Is(err, searchFailed) {
		t.Fatalf("Open(plugin:nosuch) = %v, want an UnknownBackendError and the search failure", err)
	}
	if want := []string{"plugin:broken", "plugin:socks5", "stdnet"}; !slices.Equal(ue.Known, want) {
		t.Errorf("Known = %v, want %v", ue.Known, want)
	}
	// The config's plugin settings reach the discoverer through Select.
	if _, _, err := Select(Selection{Name: "plugin:socks5", Config: cfg}); err != nil || !slices.Contains(gotCfg.Dirs, "/cfg/plugins") {
		t.Errorf("Select(plugin:socks5) = %v, discoverer given %+v", err, gotCfg)
	}
}
