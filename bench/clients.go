package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/transportkit/transportkit/protocols"
)

// HTTP client contenders (W3, W4). A contender whose backend is one of
// these names is that client; any other is transportkit's
// protocols.Transport on that backend (with its configuration).
const (
	clientNetHTTP  = "nethttp"  // net/http.Transport
	clientFastHTTP = "fasthttp" // github.com/valyala/fasthttp HostClient
	clientWrk      = "wrk"      // the wrk load generator, another process
)

// pooledClient is an http.RoundTripper with a connection pool, built for
// one sample.
type pooledClient struct {
	rt http.RoundTripper
	// dials returns the connections dialed so far.
	dials func() int64
	// closeIdle closes the idle pooled connections.
	closeIdle func()
	// close releases everything (the backend included).
	close func()
}

// newPooledClient builds the pool of contender ct (transportkit on a
// backend, or net/http) keeping up to maxIdle idle connections to one
// origin, with no limit on connections. Every contender dials with the
// same socket options: SO_LINGER 0 (benchOptions), so that closing tens of
// thousands of connections leaves no TIME_WAIT, and TCP_NODELAY (the
// default of both). TLS verification is off (nginx's certificate is
// self-signed); HTTP/2 is not offered.
func newPooledClient(ct Contender, maxIdle int) (*pooledClient, error) {
	insecure := &tls.Config{InsecureSkipVerify: true}
	if ct.Backend == clientNetHTTP {
		var dials atomic.Int64
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: lingerZero}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}
		tr.ForceAttemptHTTP2 = false
		tr.TLSClientConfig = insecure
		tr.MaxIdleConns = maxIdle
		tr.MaxIdleConnsPerHost = maxIdle
		return &pooledClient{
			rt:        tr,
			dials:     dials.Load,
			closeIdle: tr.CloseIdleConnections,
			close:     tr.CloseIdleConnections,
		}, nil
	}
	be, err := ct.Open(benchOptions())
	if err != nil {
		return nil, err
	}
	tr := &protocols.Transport{
		Backend:             be,
		TLSClientConfig:     insecure,
		MaxIdleConnsPerHost: maxIdle,
	}
	return &pooledClient{
		rt:        tr,
		dials:     func() int64 { return tr.Stats().Dials },
		closeIdle: tr.CloseIdleConnections,
		close:     func() { tr.Close(); be.Close() },
	}, nil
}
