package epoll

import (
	"errors"
	"testing"
)

// TestFDTableBounds: the fd table refuses fds out of its range, finds
// nothing in a chunk never used, and a failed register leaves no entry.
func TestFDTableBounds(t *testing.T) {
	for _, fd := range []int32{-1, fdChunks * fdChunkSize} {
		if s := fdLookup(fd); s != nil {
			t.Errorf("fdLookup(%d) = %v", fd, s)
		}
	}
	if err := fdStore(-1, nil); !errors.Is(err, errFDTooLarge) {
		t.Errorf("fdStore(-1) = %v", err)
	}
	if err := fdStore(fdChunks*fdChunkSize, nil); !errors.Is(err, errFDTooLarge) {
		t.Errorf("fdStore(max) = %v", err)
	}
	// An fd in a chunk nobody used yet.
	if s := fdLookup(fdChunks*fdChunkSize - 1); s != nil {
		t.Errorf("fdLookup(last) = %v", s)
	}
	l := &loop{}
	if err := l.register(&stream{fd: -1}, false); err == nil {
		t.Error("register(-1) worked")
	}
	if err := l.register(&stream{fd: 0}, false); err == nil {
		t.Error("register on a loop without epoll fd worked")
	}
	if fdLookup(0) != nil {
		t.Error("a failed register left its stream in the table")
	}
}
