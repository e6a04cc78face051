package main

import (
	"fmt"
	"strings"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"

	_ "github.com/transportkit/transportkit/backends/epoll"
	_ "github.com/transportkit/transportkit/backends/stdnet"
)

// Contender is one backend configuration under test.
type Contender struct {
	// Label names the contender in the report.
	Label string
	// Backend is the registered backend name.
	Backend string
	// Config is the backend's JSON configuration, if any.
	Config string
}

// Open opens the contender's backend with opts (its Config added).
func (c Contender) Open(opts transport.Options) (transport.Backend, error) {
	if c.Config != "" {
		opts.Config = []byte(c.Config)
	}
	return registry.Open(c.Backend, opts)
}

// parseContenders reads -contenders: BACKEND or LABEL=BACKEND:JSON,
// separated by commas outside JSON braces.
func parseContenders(s string) ([]Contender, error) {
	var out []Contender
	depth, start := 0, 0
	var parts []string
	for i, r := range s {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, s[start:])
	seen := map[string]bool{}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		c := Contender{Label: p, Backend: p}
		if label, rest, ok := strings.Cut(p, "="); ok {
			c.Label = label
			c.Backend = rest
			if be, cfg, ok := strings.Cut(rest, ":"); ok {
				c.Backend, c.Config = be, cfg
			}
		}
		if seen[c.Label] {
			return nil, fmt.Errorf("contender %q given twice", c.Label)
		}
		seen[c.Label] = true
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no contenders")
	}
	return out, nil
}
