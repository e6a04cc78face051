package epoll

import (
	"testing"
	"unsafe"
)

// TestStreamSize pins a stream, its addresses included, at 288 bytes: a
// size class that neither the TLS handshake nor an HTTP request makes
// short-lived objects of, so that long-lived streams do not share spans
// with garbage (at 320 bytes, the class of http.Request, an idle pooled
// connection cost about 300 B more HeapInuse in W3; docs/design/idle-memory.md).
func TestStreamSize(t *testing.T) {
	if got := unsafe.Sizeof(stream{}); got > 288 {
		t.Fatalf("stream is %d bytes, want at most 288", got)
	}
}
