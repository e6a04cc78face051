package main

// This file holds the one HTTP exchange a probe makes over a stream it
// dials itself, so that each phase (connect, TLS, first byte) is timed
// on its own: HTTP/2 with the library's protocols/h2 connection (by ALPN,
// or with prior knowledge over clear text for h2c), HTTP/1.1 with
// net/http's wire helpers. The pooled protocols.Transport would hide the
// dial and handshake inside RoundTrip.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/transportkit/transportkit/protocols"
	"github.com/transportkit/transportkit/protocols/h2"
	"github.com/transportkit/transportkit/transport"
)

// Protocol IDs: ALPN's, and h2c for HTTP/2 with prior knowledge.
const (
	alpnH2    = protocols.ProtoH2
	alpnHTTP1 = protocols.ProtoHTTP11
	protoH2C  = protocols.ProtoH2C
)

// timings are the phases of one fetch, each measured from the end of the
// one before; Total runs from the start of the dial to the end of the body.
type timings struct {
	// Connect is name resolution plus the TCP connect. It is zero when
	// the backend does its own TLS, whose whole time is then in TLS.
	Connect time.Duration
	// TLS is the handshake; zero for http URLs.
	TLS time.Duration
	// TTFB runs from sending the request to reading the response head.
	TTFB time.Duration
	// Total is the whole fetch, body included.
	Total time.Duration
}

// fetchResult is what one fetch saw.
type fetchResult struct {
	timings
	Status int    // HTTP status code
	Proto  string // HTTP version of the response, such as "HTTP/2.0"
	ALPN   string // protocol chosen by ALPN; "" for http URLs
	// Protocol is what the exchange spoke: the ALPN choice, "h2c", or
	// "http/1.1" when ALPN chose none or the URL is http.
	Protocol string
	Bytes    int64 // body length
}

// fetchRequest says what to fetch and how.
type fetchRequest struct {
	URL *url.URL
	// TLS configures the handshake for https URLs; its NextProtos are the
	// protocols offered. ServerName, if empty, is the URL's host.
	TLS *tls.Config
	// OwnTLS tells to let the backend do TLS (transport.DialTLS) rather
	// than Dial plus transport.StartTLS. Connect is then not measured.
	OwnTLS bool
	// RequireH2 fails the fetch unless ALPN chose h2.
	RequireH2 bool
	// H2C speaks HTTP/2 with prior knowledge over the clear-text stream
	// of an http URL.
	H2C bool
}

// fetch makes one GET of fr.URL over a new stream from b and reads the
// whole body. ctx bounds all of it.
func fetch(ctx context.Context, b transport.Backend, fr fetchRequest) (fetchResult, error) {
	var res fetchResult
	addr := hostPort(fr.URL)
	start := time.Now()
	s, err := dialStream(ctx, b, fr, addr, &res.timings)
	if err != nil {
		return res, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := s.SetDeadline(dl); err != nil {
			return res, err
		}
	}
	res.ALPN = transport.NegotiatedProtocol(s)
	if fr.RequireH2 && res.ALPN != alpnH2 {
		return res, fmt.Errorf("server did not negotiate h2 (ALPN %q)", res.ALPN)
	}
	switch {
	case res.ALPN != "":
		res.Protocol = res.ALPN
	case fr.H2C && fr.URL.Scheme == "http":
		res.Protocol = protoH2C
	default:
		res.Protocol = alpnHTTP1
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fr.URL.String(), nil)
	if err != nil {
		return res, err
	}
	req.Header.Set("User-Agent", "transportctl")
	sent := time.Now()
	var resp *http.Response
	if res.Protocol == alpnH2 || res.Protocol == protoH2C {
		c, err := h2.NewConn(s, h2.Options{})
		if err != nil {
			return res, err
		}
		defer c.Close()
		resp, err = c.RoundTrip(req)
		if err != nil {
			return res, err
		}
	} else {
		req.Close = true // one request per connection: ask the server to close
		if err = req.Write(s); err == nil {
			resp, err = http.ReadResponse(bufio.NewReader(s), req)
		}
	}
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	res.TTFB = time.Since(sent)
	res.Status, res.Proto = resp.StatusCode, resp.Proto
	res.Bytes, err = io.Copy(io.Discard, resp.Body)
	res.Total = time.Since(start)
	return res, err
}

// dialStream opens the stream for fr, TLS included for https, and
// records the Connect and TLS phases in t.
func dialStream(ctx context.Context, b transport.Backend, fr fetchRequest, addr string, t *timings) (transport.Stream, error) {
	start := time.Now()
	if fr.URL.Scheme != "https" {
		s, err := b.Dial(ctx, "tcp", addr)
		t.Connect = time.Since(start)
		return s, err
	}
	cfg := fr.TLS
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = fr.URL.Hostname()
	}
	if fr.OwnTLS {
		s, err := transport.DialTLS(ctx, b, "tcp", addr, cfg)
		t.TLS = time.Since(start)
		return s, err
	}
	raw, err := b.Dial(ctx, "tcp", addr)
	t.Connect = time.Since(start)
	if err != nil {
		return nil, err
	}
	s, err := transport.StartTLS(ctx, raw, cfg)
	t.TLS = time.Since(start) - t.Connect
	return s, err
}

// hostPort returns u's host with its port, the scheme's default port when
// the URL has none.
func hostPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}
