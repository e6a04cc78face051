package prototest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// errorsTB is a testing.TB that records Errorf calls instead of failing.
type errorsTB struct {
	testing.TB
	errs []string
}

func (e *errorsTB) Helper() {}

func (e *errorsTB) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

func (e *errorsTB) Error(args ...any) { e.errs = append(e.errs, fmt.Sprint(args...)) }

// Fatalf and Fatal record and end the calling goroutine, as testing's do:
// call the helper under test through fails.
func (e *errorsTB) Fatalf(format string, args ...any) {
	e.Errorf(format, args...)
	runtime.Goexit()
}

func (e *errorsTB) Fatal(args ...any) {
	e.Error(args...)
	runtime.Goexit()
}

// fails runs f with an errorsTB on a goroutine of its own and returns
// what it reported.
func fails(t *testing.T, f func(tb testing.TB)) []string {
	tb := &errorsTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	return tb.errs
}

func TestSameSides(t *testing.T) {
	got := []string{"WroteHeaderField", "WroteHeaders", "WroteRequest(<nil>)", "GotFirstResponseByte"}
	// net/http may report its first byte before its writer's last hook:
	// each side's order is the same.
	interleaved := []string{"WroteHeaderField", "WroteHeaders", "GotFirstResponseByte", "WroteRequest(<nil>)"}
	if tb := (&errorsTB{TB: t}); !SameSides(tb, got, interleaved) || len(tb.errs) != 0 {
		t.Errorf("interleaved sides reported: %q", tb.errs)
	}
	swapped := []string{"WroteHeaders", "WroteHeaderField", "WroteRequest(<nil>)", "GotFirstResponseByte"}
	if tb := (&errorsTB{TB: t}); SameSides(tb, got, swapped) || len(tb.errs) != 1 {
		t.Errorf("writing side out of order: %q, want one error", tb.errs)
	}
	extra := append(slices.Clone(got), "Got100Continue")
	if tb := (&errorsTB{TB: t}); SameSides(tb, got, extra) || len(tb.errs) != 1 {
		t.Errorf("reading side differs: %q, want one error", tb.errs)
	}
}

// TestTraceLog runs a POST with net/http's Transport and checks what the
// log recorded.
func TestTraceLog(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "done")
	}))
	defer srv.Close()
	var l TraceLog
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), l.Trace()), "POST", srv.URL, strings.NewReader("x"))
	req.Header.Set("X-Two", "a")
	req.Header.Add("X-Two", "b")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	want := []string{"WroteHeaderField", "WroteHeaders", "WroteRequest(<nil>)", "GotFirstResponseByte"}
	if !SameSides(t, l.Events(), want) {
		t.Errorf("events %q", l.Events())
	}
	if f := l.Fields(); !slices.Contains(f, "X-Two: a,b") || !slices.IsSorted(f) {
		t.Errorf("fields %q, want X-Two: a,b among them, sorted", f)
	}
	if n := l.FieldNames(); !slices.Contains(n, "X-Two") || !slices.Contains(n, "Host") {
		t.Errorf("field names %q", n)
	}
}

func TestGzipHandler(t *testing.T) {
	h := NewGzipHandler(t)
	if a := h.LastAccepted(); a != "" {
		t.Errorf("LastAccepted before any request: %q", a)
	}
	for _, ae := range []string{"gzip", ""} {
		req := httptest.NewRequest("GET", "/", nil)
		if ae != "" {
			req.Header.Set("Accept-Encoding", ae)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		body := w.Body.Bytes()
		if ae == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if string(body) != GzipText || w.Header().Get("Content-Encoding") != ae || h.LastAccepted() != ae {
			t.Errorf("Accept-Encoding %q: body %q, Content-Encoding %q, seen %q", ae, body, w.Header().Get("Content-Encoding"), h.LastAccepted())
		}
	}
}

// TestCompressionChecks runs every case through net/http's Transport,
// the reference, and then shows that CheckResponse notices a response
// that does not fit the case.
func TestCompressionChecks(t *testing.T) {
	h := NewGzipHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range CompressionCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			tr := &http.Transport{DisableCompression: tc.DisableCompression}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest(tc.Method, srv.URL, nil)
			before := tc.Request(req)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			tc.CheckResponse(t, h, req, before, resp)
		})
	}
	tc := CompressionCases(t)[0]
	resp := &http.Response{Body: io.NopCloser(strings.NewReader("other")), Header: http.Header{}, ContentLength: 5}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	tb := &errorsTB{TB: t}
	tc.CheckResponse(tb, h, req, http.Header{"X": {"y"}}, resp)
	// The body, the Accept-Encoding seen (the last case's, ""), Uncompressed,
	// Content-Length and the header.
	if len(tb.errs) != 5 {
		t.Errorf("CheckResponse on a wrong response: %q, want five errors", tb.errs)
	}
}

func TestCorruptCases(t *testing.T) {
	for _, tc := range CorruptCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			zr, err := gzip.NewReader(bytes.NewReader(tc.Body))
			if err == nil {
				_, err = io.ReadAll(zr)
			}
			resp := &http.Response{Uncompressed: true, Body: io.NopCloser(&errReader{err})}
			CheckCorrupt(t, resp, tc.Want)
		})
	}
}

// errReader fails every Read with err.
type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

// TestCheckCorruptFails shows that CheckCorrupt notices a body not
// decompressed, a read error other than the one wanted, and a body that
// reads again after its error.
func TestCheckCorruptFails(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		resp *http.Response
	}{
		{"not decompressed", &http.Response{Body: io.NopCloser(&errReader{boom})}},
		{"other error", &http.Response{Uncompressed: true, Body: io.NopCloser(&errReader{io.EOF})}},
		{"reads again", &http.Response{Uncompressed: true, Body: io.NopCloser(&onceErr{err: boom})}},
	} {
		if errs := fails(t, func(tb testing.TB) { CheckCorrupt(tb, tc.resp, boom) }); len(errs) != 1 {
			t.Errorf("%s: %q, want one error", tc.name, errs)
		}
	}
}

// onceErr fails its first Read with err and then reads nothing, without
// error.
type onceErr struct {
	err  error
	done bool
}

func (r *onceErr) Read([]byte) (int, error) {
	if r.done {
		return 0, nil
	}
	r.done = true
	return 0, r.err
}

// TestTCPServer: the counts follow the connections, and Close closes a
// connection its handler still holds and waits for the handler.
func TestTCPServer(t *testing.T) {
	var returned atomic.Bool
	s := StartTCP(t, func(c net.Conn) {
		c.Write([]byte("x"))
		io.Copy(io.Discard, c) // until Close closes c
		returned.Store(true)
	})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if s.Served() != 1 || s.Open() != 1 {
		t.Errorf("served %d, open %d: want 1 and 1", s.Served(), s.Open())
	}
	s.Close()
	if !returned.Load() || s.Open() != 0 {
		t.Errorf("after Close: handler returned %v, %d open", returned.Load(), s.Open())
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read after Close: %v, want EOF", err)
	}
}
