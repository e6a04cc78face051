package parity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/internal/testenv"
)

// These tests check the suite's own machinery: that a difference is
// found, that the normalisations reorder only what they must, and that
// the intended differences excuse only themselves.

func obs(kv ...string) *observation {
	o := &observation{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.add(kv[i], kv[i+1])
	}
	return o
}

func TestDiff(t *testing.T) {
	a := obs("1.status", "200 OK", "1.body", `"hello"`, "server", "[x]")
	if d := diff(a, a.clone()); len(d) != 0 {
		t.Errorf("identical observations differ: %v", d)
	}
	b := obs("1.status", "200 OK", "1.body", `"hellO"`, "proxy", "[]")
	d := diff(a, b)
	if len(d) != 3 || !strings.HasPrefix(d[0], "1.body:") || !strings.Contains(d[1], "server: missing") || !strings.Contains(d[2], "proxy: net/http has none") {
		t.Errorf("diff = %q", d)
	}
	if k := diffKinds(d); strings.Join(k, ",") != "body,proxy,server" {
		t.Errorf("kinds = %v", k)
	}
}

func TestCanonicalTrace(t *testing.T) {
	tr := &tracer{token: "tok"}
	for _, ev := range []string{
		"GotConn reused=false wasIdle=false",
		"WroteHeaderField user-agent: x", "WroteHeaderField :path: /r/tok/hello", "WroteHeaderField :method: GET",
		"GotFirstResponseByte", "WroteHeaders", "WroteRequest err=false", "PutIdleConn err=false",
	} {
		tr.add("%s", ev)
	}
	want := "[GotConn reused=false wasIdle=false | WroteHeaderField :method: GET | WroteHeaderField :path: /hello | " +
		"WroteHeaderField user-agent: x | WroteHeaders | WroteRequest err=false | GotFirstResponseByte | PutIdleConn err=false]"
	if got := tr.canonical(); got != want {
		t.Errorf("canonical:\n got %s\nwant %s", got, want)
	}
	// A write after Got100Continue stays after it: that order is the
	// protocol's.
	tr = &tracer{}
	for _, ev := range []string{"Wait100Continue", "Got100Continue", "WroteRequest err=false", "GotFirstResponseByte"} {
		tr.add("%s", ev)
	}
	if got := tr.canonical(); got != "[Wait100Continue | Got100Continue | WroteRequest err=false | GotFirstResponseByte]" {
		t.Errorf("100-continue order changed: %s", got)
	}
}

func TestErrString(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("x"), "error[other]"},
		{fmt.Errorf("wrapped: %w", context.Canceled), "error[context.Canceled]"},
		{os.ErrDeadlineExceeded, "error[os.ErrDeadlineExceeded,timeout]"},
		{io.ErrUnexpectedEOF, "error[io.ErrUnexpectedEOF]"},
	} {
		if got := errString(c.err); got != c.want {
			t.Errorf("errString(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestIntendedDifferences(t *testing.T) {
	byName := map[string]*difference{}
	for _, d := range intendedDifferences {
		if d.reason == "" || (d.normalize == nil) != d.docOnly {
			t.Errorf("%q: needs a reason, and a normalize unless documentation only", d.name)
		}
		byName[d.name] = d
	}
	ua := byName["default User-Agent"]
	ref := obs("server", `[c1: GET /hello user-agent="Go-http-client/1.1" body=0]`,
		"1.trace", "[WroteHeaderField user-agent: Go-http-client/1.1 | WroteHeaders]")
	cand := obs("server", `[c1: GET /hello user-agent="transportkit" body=0]`,
		"1.trace", "[WroteHeaderField user-agent: transportkit | WroteHeaders]")
	if !ua.normalize(ref, cand) || len(diff(ref, cand)) != 0 {
		t.Errorf("User-Agent not excused: %v", diff(ref, cand))
	}
	// It excuses nothing else.
	ref = obs("server", `[c1: GET /hello user-agent="Go-http-client/1.1" body=0]`)
	cand = obs("server", `[c1: GET /other user-agent="Go-http-client/1.1" body=0]`)
	if ua.normalize(ref, cand) || len(diff(ref, cand)) != 1 {
		t.Errorf("User-Agent excused another difference: %v", diff(ref, cand))
	}
	to := byName["timeouts match os.ErrDeadlineExceeded too"]
	ref = obs("1.error", "error[context.DeadlineExceeded,timeout]")
	cand = obs("1.error", "error[context.DeadlineExceeded,os.ErrDeadlineExceeded,timeout]")
	if !to.normalize(ref, cand) || len(diff(ref, cand)) != 0 {
		t.Errorf("timeout not excused: %v", diff(ref, cand))
	}
	cand = obs("1.error", "error[os.ErrDeadlineExceeded,timeout]")
	if to.normalize(ref, cand) || len(diff(ref, cand)) != 1 {
		t.Error("a timeout that does not match context.DeadlineExceeded was excused")
	}
}

// brokenTransport is net/http's Transport with one defect: it drops
// response trailers.
type brokenTransport struct{ *http.Transport }

func (b brokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.Transport.RoundTrip(req)
	if err == nil {
		resp.Body = trailerEater{resp, resp.Body}
	}
	return resp, err
}

type trailerEater struct {
	resp *http.Response
	body io.ReadCloser
}

func (e trailerEater) Read(p []byte) (int, error) {
	n, err := e.body.Read(p)
	if err == io.EOF {
		e.resp.Trailer = nil
	}
	return n, err
}

func (e trailerEater) Close() error { return e.body.Close() }

// TestSuiteCatchesADefect runs a scenario through net/http's Transport
// and through a copy that drops trailers: the suite must report it.
func TestSuiteCatchesADefect(t *testing.T) {
	e := &env{certs: testenv.SharedCerts(t), rec: newRecorder(), roles: map[string]string{}}
	e.goH1 = serveGo(t, e.rec.handler(), nil, protocolsOf(true, false, false))
	var s *scenario
	for _, sc := range scenarios {
		if sc.name == "response-trailers" {
			s = sc
		}
	}
	v := variants["h1"]
	good := e.refTransport(s, v)
	defer good.CloseIdleConnections()
	ref := e.execute(t, s, v, good, nil)
	if err := s.check(ref); err != nil {
		t.Fatal(err)
	}
	inner := e.refTransport(s, v)
	defer inner.CloseIdleConnections()
	bad := e.execute(t, s, v, brokenTransport{inner}, nil)
	d := diff(ref, bad)
	if len(d) != 1 || !strings.HasPrefix(d[0], "1.trailer:") {
		t.Errorf("dropped trailers: diff = %q", d)
	}
}
