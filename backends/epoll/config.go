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
// value selects the defaults. ParseConfig refuses a number outside the
// range its field documents.
type Config struct {
	// Loops is the number of event loops. Streams are spread over the
	// loops in turn. If zero, DefaultLoops() is used; otherwise it must
	// be 1 to 1024 (MaxLoops).
	Loops int `json:"loops"`

	// Events is the most readiness events one epoll_wait call returns
	// (12 bytes each, per loop). If zero, 256; otherwise it must be 1 to
	// 65536 (MaxEvents).
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

// The ranges of Config's numbers. A loop holds two fds and a goroutine,
// and an events buffer of 12 bytes per event; the kernel itself refuses
// more than about 178 million events per call.
const (
	// MaxLoops is the largest Config.Loops.
	MaxLoops = 1024
	// MaxEvents is the largest Config.Events (768 KiB per loop).
	MaxEvents = 65536
)

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

var (
	// ErrUnknownField is the cause in a ConfigError for a field the
	// backend does not know.
	ErrUnknownField = errors.New("unknown field")

	// ErrOutOfRange is matched (errors.Is) by the cause in a ConfigError
	// for a number outside the range its Config field documents.
	ErrOutOfRange = errors.New("out of range")
)

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
// defaults. An empty or null message gives the defaults. An unknown field,
// a field given twice, a value of the wrong type or a number outside its
// range is reported as a *ConfigError naming the field.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return Config{}, &ConfigError{Err: err}
		}
		if name := repeatedKey(raw); name != "" {
			return Config{}, &ConfigError{Field: name, Err: errors.New("given twice")}
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
	if err := inRange("loops", c.Loops, MaxLoops); err != nil {
		return Config{}, err
	}
	if err := inRange("events", c.Events, MaxEvents); err != nil {
		return Config{}, err
	}
	if c.Loops == 0 {
		c.Loops = DefaultLoops()
	}
	if c.Events == 0 {
		c.Events = defaultEvents
	}
	return c, nil
}

// inRange checks a number whose zero means the default and whose other
// values must be 1 to hi.
func inRange(field string, v, hi int) error {
	if v < 0 || v > hi {
		return &ConfigError{Field: field, Err: fmt.Errorf("%w: %d, want 0 (the default) or 1 to %d", ErrOutOfRange, v, hi)}
	}
	return nil
}

// repeatedKey returns the first key that the JSON object raw, already
// known to be valid, holds more than once, or "".
func repeatedKey(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token() // {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := tok.(string)
		if seen[key] {
			return key
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// Name is the name the backend registers under.
const Name = "epoll"

// opError builds the error every operation of this backend returns.
func opError(op, network, address string, err error) error {
	return &transport.OpError{Op: op, Backend: Name, Network: network, Address: address, Err: err}
}
