package epoll_test

import (
	"errors"
	"testing"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/registry"
)

func TestParseConfig(t *testing.T) {
	c, err := epoll.ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Loops != epoll.DefaultLoops() || c.Events != 256 || c.TryRead || c.BlockingWait {
		t.Errorf("defaults = %+v", c)
	}
	c, err = epoll.ParseConfig([]byte(`{"loops": 3, "events": 8, "try_read": true, "blocking_wait": true, "lock_os_thread": true, "no_yield": true, "no_spin": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Loops != 3 || c.Events != 8 || !c.TryRead || !c.BlockingWait || !c.LockOSThread || !c.NoYield || !c.NoSpin {
		t.Errorf("parsed = %+v", c)
	}
	if c, err := epoll.ParseConfig([]byte(" null ")); err != nil || c.Loops == 0 {
		t.Errorf("null: %+v, %v", c, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		json, field string
		unknown     bool
	}{
		{`{"loops": 1, "bogus": 2}`, "bogus", true},
		{`{"loops": "two"}`, "loops", false},
		{`{"loops": -1}`, "loops", false},
		{`{"events": -5}`, "events", false},
		{`{"loops": 1, "loops": 2}`, "loops", false},
		{`[1, 2]`, "", false},
		{`{"loops": 1`, "", false},
	} {
		_, err := epoll.ParseConfig([]byte(tc.json))
		var ce *registry.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v is not a *ConfigError", tc.json, err)
			continue
		}
		if ce.Field != tc.field {
			t.Errorf("%s: Field = %q, want %q", tc.json, ce.Field, tc.field)
		}
		if errors.Is(err, registry.ErrUnknownField) != tc.unknown {
			t.Errorf("%s: errors.Is(err, ErrUnknownField) = %v, want %v", tc.json, !tc.unknown, tc.unknown)
		}
		if ce.Error() == "" {
			t.Errorf("%s: empty message", tc.json)
		}
	}
}

// TestParseConfigBounds: every number has a documented range, and a value
// outside it is a *ConfigError naming the field and matching
// ErrOutOfRange, before anything is allocated (issue 11, defect 6: events
// 178956971 made epoll_wait fail with EINVAL and panic, 178956970
// allocated 2.1 GB per loop).
func TestParseConfigBounds(t *testing.T) {
	for _, tc := range []struct {
		json, field string
	}{
		{`{"events": 178956971}`, "events"},
		{`{"events": 178956970}`, "events"},
		{`{"events": 65537}`, "events"},
		{`{"events": -1}`, "events"},
		{`{"loops": 1025}`, "loops"},
		{`{"loops": 9223372036854775807}`, "loops"},
		{`{"loops": -1}`, "loops"},
	} {
		_, err := epoll.ParseConfig([]byte(tc.json))
		var ce *registry.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: error %v, want a *ConfigError for %q", tc.json, err, tc.field)
			continue
		}
		if !errors.Is(err, epoll.ErrOutOfRange) {
			t.Errorf("%s: %v does not match ErrOutOfRange", tc.json, err)
		}
	}
	for _, ok := range []string{`{"events": 65536, "loops": 1024}`, `{"events": 1, "loops": 1}`} {
		if _, err := epoll.ParseConfig([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
