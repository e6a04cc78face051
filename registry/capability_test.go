package registry

import (
	"encoding/json"
	"testing"
)

// TestCapabilityJSON: typed capabilities list as the plain strings they
// were before Capability had a type (issue 15), so JSON output and the
// plugin wire are unchanged.
func TestCapabilityJSON(t *testing.T) {
	b, err := json.Marshal(Info{Name: "x", Capabilities: []Capability{CapTCP, CapUnix, "own"}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"x","kind":"","available":false,"default":false,"capabilities":["tcp","unix","own"],"description":""}`
	if string(b) != want {
		t.Errorf("json.Marshal = %s\nwant %s", b, want)
	}
	var in Info
	if err := json.Unmarshal([]byte(`{"capabilities":["fd","readable"]}`), &in); err != nil ||
		len(in.Capabilities) != 2 || in.Capabilities[0] != CapFD || in.Capabilities[1] != CapReadable {
		t.Errorf("json.Unmarshal = %+v, %v", in.Capabilities, err)
	}
}
