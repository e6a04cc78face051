package epoll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"

	"github.com/transportkit/transportkit/transport"
)

// Config holds the epoll backend's own settings, read from
// transport.Options.Config as a JSON object such as {"loops": 2}. The zero
// value selects the defaults.
type Config struct {
	// Loops is the number of event loops, each one goroutine blocked in
	// epoll_wait. Streams are spread over the loops in turn. If zero,
	// DefaultLoops() is used; it must not be negative.
	Loops int `json:"loops"`

	// Events is the most readiness events one epoll_wait call returns. If
	// zero, 256; it must not be negative.
	Events int `json:"events"`

	// BlockingWait makes each loop sleep in a blocking epoll_wait on its
	// own thread. If false (the default), a loop sleeps in the runtime's
	// poller, which wakes it when its epoll fd has events; that saves a
	// thread hand-off per wake-up and measured faster (see BENCHMARKS.md).
	BlockingWait bool `json:"blocking_wait"`

	// LockOSThread pins each loop goroutine to its own OS thread. It
	// applies only with BlockingWait. If false (the default), loops are
	// ordinary goroutines.
	LockOSThread bool `json:"lock_os_thread"`

	// NoYield applies only with BlockingWait. If false (the default), a
	// loop that has just woken callers yields its processor once
	// (runtime.Gosched) and polls again without blocking before it sleeps
	// in epoll_wait, so the woken goroutines run at once.
	NoYield bool `json:"no_yield"`

	// TryRead makes every Read try the read system call first, even when
	// the poller's readiness state says the socket was drained and nothing
	// arrived since. If false (the default), such a Read parks at once and
	// saves the read that could only fail with EAGAIN.
	TryRead bool `json:"try_read"`
}

// defaultEvents is Config.Events when zero.
const defaultEvents = 256

// DefaultLoops returns the number of event loops used when Config.Loops is
// zero: one loop per four Ps (GOMAXPROCS), at least one. A loop serves
// thousands of streams; more loops mean more threads in epoll_wait
// competing with the goroutines they wake.
func DefaultLoops() int {
	n := (runtime.GOMAXPROCS(0) + 3) / 4
	if n < 1 {
		n = 1
	}
	return n
}

// ErrUnknownField is the cause in a ConfigError for a field the backend
// does not know.
var ErrUnknownField = errors.New("unknown field")

// ConfigError reports a bad field in the backend's JSON configuration.
type ConfigError struct {
	// Field is the JSON name of the field at fault; empty when the
	// configuration is not a JSON object at all.
	Field string
	// Err is the cause: ErrUnknownField, a JSON decoding error, or a
	// description of the bad value.
	Err error
}

// Error names the field and the cause.
func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "epoll: config: " + e.Err.Error()
	}
	return fmt.Sprintf("epoll: config field %q: %v", e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// ParseConfig decodes the backend's JSON configuration and fills in the
// defaults. An empty or null message gives the defaults. An unknown field
// or a bad value is reported as a *ConfigError naming the field.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return Config{}, &ConfigError{Err: err}
		}
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			var dst any
			switch name {
			case "loops":
				dst = &c.Loops
			case "events":
				dst = &c.Events
			case "blocking_wait":
				dst = &c.BlockingWait
			case "lock_os_thread":
				dst = &c.LockOSThread
			case "no_yield":
				dst = &c.NoYield
			case "try_read":
				dst = &c.TryRead
			default:
				return Config{}, &ConfigError{Field: name, Err: ErrUnknownField}
			}
			if err := json.Unmarshal(fields[name], dst); err != nil {
				return Config{}, &ConfigError{Field: name, Err: err}
			}
		}
	}
	if c.Loops < 0 {
		return Config{}, &ConfigError{Field: "loops", Err: fmt.Errorf("must not be negative, got %d", c.Loops)}
	}
	if c.Events < 0 {
		return Config{}, &ConfigError{Field: "events", Err: fmt.Errorf("must not be negative, got %d", c.Events)}
	}
	if c.Loops == 0 {
		c.Loops = DefaultLoops()
	}
	if c.Events == 0 {
		c.Events = defaultEvents
	}
	return c, nil
}

// Name is the name the backend registers under.
const Name = "epoll"

// opError builds the error every operation of this backend returns.
func opError(op, network, address string, err error) error {
	return &transport.OpError{Op: op, Backend: Name, Network: network, Address: address, Err: err}
}
