package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// loopless is a backend that dials nothing, enough to show the registry.
type loopless struct{}

func (loopless) Name() string { return "example" }
func (loopless) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	return nil, &transport.OpError{Op: "dial", Backend: "example", Network: network, Address: address, Err: transport.ErrUnsupported}
}
func (loopless) Close() error { return nil }

// A backend package registers its driver in init.
func init() {
	registry.Register(registry.Driver{
		Name:         "example",
		Description:  "a backend that dials nothing",
		Capabilities: []registry.Capability{registry.CapInMemory},
		Open: func(opts transport.Options) (transport.Backend, error) {
			return loopless{}, nil
		},
	})
	registry.Register(registry.Driver{
		Name:        "example-elsewhere",
		Description: "a backend for another platform",
		Available: func() error {
			return fmt.Errorf("%w: needs a platform this is not", transport.ErrUnavailable)
		},
		Open: func(opts transport.Options) (transport.Backend, error) {
			return nil, transport.ErrUnavailable
		},
	})
}

func ExampleOpen() {
	b, err := registry.Open("example", transport.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	fmt.Println("opened", b.Name())

	_, err = registry.Open("nosuch", transport.Options{})
	fmt.Println(errors.Is(err, registry.ErrUnknownBackend))
	fmt.Println(err)

	_, err = registry.Open("example-elsewhere", transport.Options{})
	fmt.Println(errors.Is(err, transport.ErrUnavailable))
	// Output:
	// opened example
	// true
	// registry: unknown backend "nosuch" (forgotten import?); known backends: example, example-elsewhere
	// true
}

func ExampleList() {
	infos, err := registry.List(nil)
	if err != nil {
		fmt.Println(err)
	}
	for _, in := range infos {
		fmt.Printf("%s %s available=%v: %s\n", in.Name, in.Kind, in.Available, in.Description)
		if !in.Available {
			fmt.Println("  because", in.Reason)
		}
	}
	// Output:
	// example in-tree available=true: a backend that dials nothing
	// example-elsewhere in-tree available=false: a backend for another platform
	//   because transport: backend unavailable: needs a platform this is not
}

func ExampleSelect() {
	// The name would come from a flag; empty, TRANSPORTKIT_BACKEND, then
	// the config file, then the default chain decide.
	b, choice, err := registry.Select(registry.Selection{Name: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	fmt.Println(choice.Name, choice.Source)
	// Output: example explicit
}

func ExampleDecodeConfig() {
	type config struct {
		Relay   string        `json:"relay"`
		Timeout time.Duration `json:"timeout"`
	}
	cfg, err := registry.DecodeConfig[config](json.RawMessage(`{"relay": "10.0.0.1:8080", "timeout": "5s"}`))
	fmt.Println(cfg.Relay, cfg.Timeout, err)
	_, err = registry.DecodeConfig[config](json.RawMessage(`{"relay": "10.0.0.1:8080", "retries": 3}`))
	var ce *registry.ConfigError
	fmt.Println(errors.As(err, &ce), ce.Field, errors.Is(err, registry.ErrUnknownField))
	// Output:
	// 10.0.0.1:8080 5s <nil>
	// true retries true
}
