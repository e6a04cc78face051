//go:build linux

package plugins_test

import (
	"testing"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func inProcess(t testing.TB, cfg testConfig) *plugins.Backend {
	t.Helper()
	sc := testServeConfig()
	return pluginstest.TestBackend(t, sc, transport.Options{Config: configJSON(t, cfg)})
}

func TestConformanceInProcess(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  testConfig
	}{
		{"handoff", testConfig{}},
		{"bytes", testConfig{Bytes: "all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := inProcess(t, tc.cfg)
			t.Run("tcp", func(t *testing.T) { transporttest.TestStream(t, transporttest.TCPPipe(b)) })
			t.Run("unix", func(t *testing.T) { transporttest.TestStream(t, transporttest.UnixPipe(b)) })
		})
	}
}

func TestConformanceSubprocess(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  testConfig
	}{
		{"handoff", testConfig{}},
		{"bytes", testConfig{Bytes: "all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openSubprocess(t, tc.cfg, transport.Options{})
			transporttest.TestStream(t, transporttest.TCPPipe(b))
		})
	}
}

func TestBackendInProcess(t *testing.T) {
	transporttest.TestBackend(t, func(t *testing.T) transport.Backend { return inProcess(t, testConfig{}) })
}

// The dial contract is checked in-process only: it does not depend on
// where the plugin runs, and a launch per check makes a slow test. The
// subprocess tests cover the stream suite and the launch itself.
