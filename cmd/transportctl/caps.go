package main

import "github.com/transportkit/transportkit/registry"

// capStrings returns capabilities as the strings listings print.
func capStrings(caps []registry.Capability) []string {
	s := make([]string, len(caps))
	for i, c := range caps {
		s[i] = string(c)
	}
	return s
}
