package registry_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/transportkit/transportkit/registry"
)

type inner struct {
	Host string `json:"host"`
	Port int
}

type Embedded struct {
	Region string `json:"region"`
}

type decodeTarget struct {
	Embedded
	Relay    inner             `json:"relay"`
	Backup   *inner            `json:"backup"`
	Servers  []inner           `json:"servers"`
	Named    map[string]inner  `json:"named"`
	Timeout  time.Duration     `json:"timeout"`
	Addr     netip.Addr        `json:"addr"`
	Tags     []string          `json:"tags"`
	Ignored  string            `json:"-"`
	Plain    string            // no tag: its own name
	Extra    map[string]string `json:"extra,omitempty"`
	internal string            // not decoded: unexported
}

// touch keeps internal used; DecodeConfig must not set it.
func (d decodeTarget) touch() string { return d.internal }

func TestDecodeConfig(t *testing.T) {
	raw := `{"region": "eu", "relay": {"HOST": "a", "port": 1}, "backup": {"host": "b"},
		"servers": [{"host": "c"}, {"host": "d", "Port": 4}], "named": {"x": {"host": "e"}},
		"timeout": "1.5s", "addr": "127.0.0.1", "tags": ["t"], "plain": "p", "extra": {"k": "v"}}`
	got, err := registry.DecodeConfig[decodeTarget](json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := decodeTarget{
		Embedded: Embedded{Region: "eu"},
		Relay:    inner{"a", 1}, Backup: &inner{Host: "b"},
		Servers: []inner{{Host: "c"}, {"d", 4}}, Named: map[string]inner{"x": {Host: "e"}},
		Timeout: 1500 * time.Millisecond, Addr: netip.MustParseAddr("127.0.0.1"), Tags: []string{"t"},
		Plain: "p", Extra: map[string]string{"k": "v"},
	}
	if !reflect.DeepEqual(got, want) || got.touch() != "" {
		t.Errorf("DecodeConfig =\n%+v, want\n%+v", got, want)
	}
	for _, empty := range []string{``, `null`, ` `} {
		if got, err := registry.DecodeConfig[decodeTarget](json.RawMessage(empty)); err != nil || !reflect.DeepEqual(got, decodeTarget{}) {
			t.Errorf("DecodeConfig(%q) = %+v, %v; want the zero value", empty, got, err)
		}
	}
	if got, err := registry.DecodeConfig[struct{}](json.RawMessage(`{}`)); err != nil || got != (struct{}{}) {
		t.Errorf("DecodeConfig[struct{}]({}) = %v, %v", got, err)
	}
}

func TestDecodeConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		raw, field string
		unknown    bool
	}{
		{`{"nope": 1}`, "nope", true},
		{`{"relay": {"host": "a", "nope": 1}}`, "relay.nope", true},
		{`{"servers": [{"host": "a"}, {"nope": 1}]}`, "servers[1].nope", true},
		{`{"named": {"x": {"nope": 1}}}`, "named.x.nope", true},
		{`{"backup": {"nope": 1}}`, "backup.nope", true},
		{`{"ignored": "x"}`, "ignored", true},
		{`{"internal": "x"}`, "internal", true},
		{`{"relay": {"port": "one"}}`, "relay.port", false},
		{`{"timeout": 5}`, "timeout", false},
		{`{"timeout": "soon"}`, "timeout", false},
		{`{"addr": "not an address"}`, "addr", false},
		{`{"tags": "t"}`, "tags", false},
		{`{"servers": [1]}`, "servers[0]", false},
		{`{"named": {"x": 1}}`, "named.x", false},
		{`{"plain": "a", "Plain": "b"}`, "Plain", false},
		{`{"relay": {} `, "", false},
		{`{} {}`, "", false},
		{`[1]`, "", false},
		{`{"relay": }`, "relay", false},
		{`{"servers": [1,]}`, "servers", false},
		{`{"named": {"x": }}`, "named", false},
		{`{"extra": {"k": 1}}`, "extra.k", false},
	} {
		_, err := registry.DecodeConfig[decodeTarget](json.RawMessage(tc.raw))
		var ce *registry.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || errors.Is(err, registry.ErrUnknownField) != tc.unknown {
			t.Errorf("DecodeConfig(%s) = %v; want a *registry.ConfigError for field %q (unknown field: %v)", tc.raw, err, tc.field, tc.unknown)
		}
	}
}
