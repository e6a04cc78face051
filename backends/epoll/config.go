package epoll

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	"github.com/transportkit/transportkit/registry"
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

	// NoSpin stops a loop's only waiting caller from spinning before it
	// sleeps. If false (the default), a caller that waits alone on its
	// loop, while its recent waits were short (a lockstep exchange with a
	// fast peer), first polls the loop without blocking for up to 50 µs,
	// yielding its processor between polls; a wake-up from sleep costs a
	// cross-CPU interrupt that a spin avoids. NoSpin saves that CPU time
	// at the cost of latency.
	NoSpin bool `json:"no_spin"`
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

// ErrOutOfRange is matched (errors.Is) by the cause in a
// *registry.ConfigError for a number outside the range its Config field
// documents.
var ErrOutOfRange = errors.New("out of range")

// ParseConfig decodes the backend's JSON configuration with
// registry.DecodeConfig and fills in the defaults. An empty or null
// message gives the defaults. An unknown field (the cause is
// registry.ErrUnknownField), a field given twice, a value of the wrong
// type or a number outside its range is reported as a
// *registry.ConfigError naming the field.
func ParseConfig(raw json.RawMessage) (Config, error) {
	c, err := registry.DecodeConfig[Config](raw)
	if err != nil {
		return Config{}, err
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
		return &registry.ConfigError{Field: field, Err: fmt.Errorf("%w: %d, want 0 (the default) or 1 to %d", ErrOutOfRange, v, hi)}
	}
	return nil
}

// Name is the name the backend registers under.
const Name = "epoll"

// opError builds the error every operation of this backend returns.
func opError(op, network, address string, err error) error {
	return &transport.OpError{Op: op, Backend: Name, Network: network, Address: address, Err: err}
}
