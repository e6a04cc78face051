package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
)

// TestVerifyNotPlugin: files that are not plugins at all are refused
// with a *NotPluginError that says what they are, the launch's own error
// kept underneath; a plugin binary that fails before its handshake is not
// one of them.
func TestVerifyNotPlugin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		return testenv.WriteFile(t, dir, name, body, mode)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		also       error // also matched, besides ErrNotPlugin; nil for none
	}{
		{"text", write("text", "hello\n", 0o755), nil},
		{"not executable", write("noexec", "#!/bin/sh\nexit 0\n", 0o644), nil},
		{"directory", sub, nil},
		{"exits at once", write("true", "#!/bin/sh\nexit 0\n", 0o755), transport.ErrBackendExited},
		{"prints something else", write("echo", "#!/bin/sh\necho hello\n", 0o755), transport.ErrBackendExited},
		{"never answers", write("sleeps", "#!/bin/sh\nexec sleep 30\n", 0o755), plugins.ErrStartTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugins.Verify(context.Background(), tc.path, plugins.VerifyOptions{StartTimeout: time.Second})
			var npe *plugins.NotPluginError
			if !errors.Is(err, plugins.ErrNotPlugin) || !errors.As(err, &npe) || npe.Path != tc.path || npe.Reason == "" {
				t.Fatalf("Verify(%s): %v, want a *NotPluginError for it", tc.path, err)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("Verify(%s): %v, want it to match %v too", tc.path, err, tc.also)
			}
		})
	}

	// A binary that carries the handshake (here, its key in a script) and
	// exits before answering is a plugin that failed.
	crash := write("crash", "#!/bin/sh\n# "+plugins.Handshake.MagicCookieKey+"\necho panic >&2\nexit 2\n", 0o755)
	_, err := plugins.Verify(context.Background(), crash, plugins.VerifyOptions{StartTimeout: 10 * time.Second})
	var ee *plugins.ExitError
	if errors.Is(err, plugins.ErrNotPlugin) || !errors.As(err, &ee) {
		t.Errorf("Verify of a plugin that fails at start: %v, want an *ExitError and not ErrNotPlugin", err)
	}
}

// TestVerifyOpensWithConfig: Verify opens the plugin's backend with the
// options given, as a launch does, so a config the plugin refuses fails
// it with an *OpenError.
func TestVerifyOpensWithConfig(t *testing.T) {
	if _, err := plugins.Verify(context.Background(), testPluginPath, plugins.VerifyOptions{
		Options: transport.Options{Config: json.RawMessage(`{"bytes": "unix"}`)},
	}); err != nil {
		t.Fatalf("Verify with a config the plugin takes: %v", err)
	}
	_, err := plugins.Verify(context.Background(), testPluginPath, plugins.VerifyOptions{
		Options: transport.Options{Config: json.RawMessage(`{"nosuch": 1}`)},
	})
	var oe *plugins.OpenError
	if !errors.As(err, &oe) || oe.Plugin != "plugin:test" || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("Verify with a config the plugin refuses: %v, want an *OpenError naming the field", err)
	}
	_, err = plugins.Verify(context.Background(), testPluginPath, plugins.VerifyOptions{
		Options: transport.Options{Control: func(string, string, syscall.RawConn) error { return nil }},
	})
	if !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("Verify with Options.Control: %v, want ErrUnsupported", err)
	}
}
