package httperr

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestServerClosedMatchesEOF(t *testing.T) {
	err := fmt.Errorf("read: %w", ErrServerClosed)
	if !errors.Is(err, ErrServerClosed) || !errors.Is(err, io.EOF) {
		t.Fatalf("%v: want ErrServerClosed and io.EOF", err)
	}
	if errors.Is(err, ErrNotProcessed) {
		t.Fatalf("%v matches ErrNotProcessed", err)
	}
	if ErrServerClosed.Error() == "" || ErrNotProcessed.Error() == "" {
		t.Fatal("empty message")
	}
}
