//go:build linux

package stdnet

import "testing"

func TestIsReadableSocketClosedUnderneath(t *testing.T) {
	c := loopbackTCP(t)
	s, err := newStream(c)
	if err != nil {
		t.Fatal(err)
	}
	// Closing the socket behind the stream's back: IsReadable cannot
	// reach it, and a Read would fail at once.
	c.Close()
	if !s.IsReadable() {
		t.Fatal("IsReadable is false on a stream whose socket is closed")
	}
}
