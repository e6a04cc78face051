package protocols

// This file dials through proxies as net/http's Transport does for its
// Proxy field: http:// and https:// proxies (CONNECT tunnels, or requests
// forwarded in absolute form to http origins) and socks5:// and
// socks5h:// proxies (RFC 1928, with RFC 1929 user name and password).
//
// The pool needs four calls:
//
//	key := proxyKey(proxyURL)  // the proxy's part of the pool key ("" for none)
//
//	// dialing, in place of b.Dial / transport.DialTLS:
//	s, err := dialProxy(ctx, b, proxyURL, scheme, addr, opts)
//	// s reaches addr through the proxy: for https, run
//	// transport.StartTLS(ctx, s, cfg) over it, as over a direct dial.
//	// When proxyForwards(proxyURL, scheme, opts.Tunnel), s is a stream to
//	// the proxy itself (no tunnel): it can carry requests to any http
//	// origin, so net/http keys such connections by proxy alone.
//
//	// before each request on a forwarding connection:
//	req = forwardRequest(req, proxyURL)
//
// with opts filled from the Transport: TLSConfig from TLSClientConfig
// (better: proxyTLSConfig(t.TLSClientConfig, proxyURL), made once per
// pool, which every dial then shares instead of cloning its own),
// ConnectHeader from ProxyConnectHeader, GetConnectHeader from
// GetProxyConnectHeader, OnConnectResponse from OnProxyConnectResponse,
// MaxHeaderBytes from MaxResponseHeaderBytes, UserAgent from UserAgent,
// and Tunnel from H2C (a forwarding proxy cannot carry HTTP/2 with prior
// knowledge).
//
// Every failure is a *ProxyError naming the proxy without its password;
// its cause keeps the underlying error's identity (a refused proxy still
// matches syscall.ECONNREFUSED, a timeout os.ErrDeadlineExceeded). Every
// step honours the context: its deadline is set on the stream for the
// exchange with the proxy and cleared after, and a cancel closes the
// stream.
//
// Where this differs from net/http, on purpose: any 2xx answer to CONNECT
// opens the tunnel (RFC 9110, section 9.3.6; net/http wants 200); a
// socks5:// proxy gets the target's address, looked up here, as curl
// does (net/http sends the name to socks5:// and socks5h:// alike); the
// TLS ServerName for an https proxy is always the proxy's host (net/http
// takes TLSClientConfig.ServerName when it is set, a name meant for the
// origin); and the pool key holds a keyed fingerprint of the password
// rather than the password (net/http keys by the whole URL).

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/transportkit/transportkit/protocols/internal/h1"
	"github.com/transportkit/transportkit/transport"
)

var (
	// ErrProxyConnect is matched by the error of a dial whose proxy would
	// not open the tunnel: a CONNECT answered with a status other than 2xx
	// (but 401 and 407, see ErrProxyAuth), or a SOCKS5 reply other than
	// success (see SOCKSReplyError).
	ErrProxyConnect = errors.New("protocols: proxy refused the tunnel")

	// ErrProxyAuth is matched by the error of a dial whose proxy asked for
	// credentials or refused those of the proxy URL: a CONNECT answered
	// 407, or 401 (which some proxies, tinyproxy 1.11 among them, send for
	// a wrong password; an answer to CONNECT always comes from the proxy),
	// a SOCKS5 proxy that accepts none of the offered methods or rejects
	// the user name and password.
	ErrProxyAuth = errors.New("protocols: proxy authentication failed")

	// ErrProxyProtocol is matched by the error of a dial whose proxy
	// answered outside its protocol: an unreadable or oversized CONNECT
	// response head, a malformed SOCKS5 reply.
	ErrProxyProtocol = errors.New("protocols: malformed proxy response")

	// ErrInvalidProxy is matched by the error of a dial through a proxy URL
	// that cannot be used: no host, a bad port, a SOCKS5 user name or
	// password longer than 255 bytes, or a scheme other than http, https,
	// socks5 and socks5h (which also matches transport.ErrUnsupported).
	ErrInvalidProxy = errors.New("protocols: invalid proxy URL")
)

// ProxyError is the error of a dial through a proxy. Its message names
// the proxy by scheme, user name, host and port, never by password.
type ProxyError struct {
	// Op is the step that failed: "dial" (reaching the proxy, the TLS
	// handshake with an https proxy included), "connect" (the CONNECT
	// exchange) or "socks" (the SOCKS5 exchange).
	Op string

	// Proxy is the proxy: scheme://user@host:port, without the password.
	Proxy string

	// Target is the host:port the tunnel was asked for; empty when the
	// connection was to forward requests.
	Target string

	// StatusCode and Status are the proxy's answer to CONNECT when it
	// was not 2xx, such as 407 and "407 Proxy Authentication Required".
	// They are zero and empty for other failures.
	StatusCode int
	Status     string

	// Header is the header of that answer (with Proxy-Authenticate for a
	// 407); nil for other failures.
	Header http.Header

	// Err is the cause: ErrProxyAuth, ErrProxyConnect (or a
	// *SOCKSReplyError), ErrProxyProtocol, ErrInvalidProxy, the backend's
	// dial error, a TLS error, or a context's error (a deadline as
	// transport.ErrTimeout). It is never nil.
	Err error
}

// Error describes the failure in one line, such as "protocols: proxy
// http://alice@127.0.0.1:3128: connect example.com:443: 407 Proxy
// Authentication Required: protocols: proxy authentication failed".
func (e *ProxyError) Error() string {
	var b strings.Builder
	b.WriteString("protocols: proxy ")
	b.WriteString(e.Proxy)
	b.WriteString(": ")
	b.WriteString(e.Op)
	if e.Target != "" {
		b.WriteString(" ")
		b.WriteString(e.Target)
	}
	b.WriteString(": ")
	if e.Status != "" {
		b.WriteString(e.Status)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *ProxyError) Unwrap() error { return e.Err }

// Timeout reports whether the dial ran out of time.
func (e *ProxyError) Timeout() bool {
	return errors.Is(e.Err, os.ErrDeadlineExceeded) || errors.Is(e.Err, context.DeadlineExceeded)
}

// SOCKSReplyError is a SOCKS5 proxy's refusal to connect to the target:
// a reply code other than success (RFC 1928, section 6). It matches
// (errors.Is) ErrProxyConnect, and the system error of the same meaning
// where there is one: syscall.EACCES (and so os.ErrPermission) for 2
// (not allowed by the ruleset), syscall.ENETUNREACH for 3,
// syscall.EHOSTUNREACH for 4, syscall.ECONNREFUSED for 5,
// syscall.ETIMEDOUT for 6 (TTL expired), errors.ErrUnsupported for 7
// and 8 (command or address type not supported).
type SOCKSReplyError struct {
	// Code is the reply code, 1 to 255.
	Code int
}

var socksReplies = [...]struct {
	text  string
	errno error
}{
	1: {"general SOCKS server failure", nil},
	2: {"connection not allowed by ruleset", syscall.EACCES},
	3: {"network unreachable", syscall.ENETUNREACH},
	4: {"host unreachable", syscall.EHOSTUNREACH},
	5: {"connection refused", syscall.ECONNREFUSED},
	6: {"TTL expired", syscall.ETIMEDOUT},
	7: {"command not supported", errors.ErrUnsupported},
	8: {"address type not supported", errors.ErrUnsupported},
}

// Error names the reply, such as "SOCKS5 reply 5: connection refused".
func (e *SOCKSReplyError) Error() string {
	text := "unknown failure"
	if e.Code > 0 && e.Code < len(socksReplies) {
		text = socksReplies[e.Code].text
	}
	return "SOCKS5 reply " + strconv.Itoa(e.Code) + ": " + text
}

// Is matches ErrProxyConnect.
func (e *SOCKSReplyError) Is(target error) bool { return target == ErrProxyConnect }

// Unwrap returns the system error of the same meaning, or nil.
func (e *SOCKSReplyError) Unwrap() error {
	if e.Code > 0 && e.Code < len(socksReplies) {
		return socksReplies[e.Code].errno
	}
	return nil
}

// proxyOptions are the Transport's settings that shape a proxied dial.
// The zero value is net/http's defaults.
type proxyOptions struct {
	// TLSConfig configures TLS to an https proxy (roots, client
	// certificates). Its ServerName is replaced by the proxy's host and
	// its NextProtos by http/1.1 (see proxyTLSConfig). If nil, the
	// default configuration.
	TLSConfig *tls.Config

	// ConnectHeader is sent with each CONNECT request, as
	// http.Transport.ProxyConnectHeader. If nil, none.
	ConnectHeader http.Header

	// GetConnectHeader, if not nil, is called for each CONNECT request
	// and what it returns is sent instead of ConnectHeader, as
	// http.Transport.GetProxyConnectHeader. An error fails the dial.
	GetConnectHeader func(ctx context.Context, proxyURL *url.URL, target string) (http.Header, error)

	// OnConnectResponse, if not nil, is called with every answer to a
	// CONNECT request, 2xx or not, before it is checked, as
	// http.Transport.OnProxyConnectResponse. An error fails the dial.
	OnConnectResponse func(ctx context.Context, proxyURL *url.URL, connectReq *http.Request, connectRes *http.Response) error

	// MaxHeaderBytes limits the CONNECT response head. If zero, 10 MiB,
	// as for any response head.
	MaxHeaderBytes int

	// UserAgent is sent with CONNECT requests whose header has no
	// User-Agent field. If empty, h1.DefaultUserAgent.
	UserAgent string

	// Resolver looks up target host names for socks5:// proxies. If nil,
	// net.DefaultResolver.
	Resolver *net.Resolver

	// Tunnel makes http and https proxies tunnel http origins with
	// CONNECT too, instead of taking requests in absolute form: needed
	// for HTTP/2 with prior knowledge, which a forwarding proxy does not
	// carry. If false, http origins are forwarded, as net/http does.
	Tunnel bool
}

// Default ports of proxy schemes.
var proxyPorts = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}

// proxyAddr returns the host:port to dial for proxy, checking the URL.
func proxyAddr(proxy *url.URL) (string, error) {
	port, ok := proxyPorts[proxy.Scheme]
	if !ok {
		return "", fmt.Errorf("%w: %w: scheme %q (want http, https, socks5 or socks5h)", ErrInvalidProxy, transport.ErrUnsupported, proxy.Scheme)
	}
	host := proxy.Hostname()
	if host == "" {
		return "", fmt.Errorf("%w: no host", ErrInvalidProxy)
	}
	if p := proxy.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return "", fmt.Errorf("%w: port %q", ErrInvalidProxy, p)
		}
		port = p
	}
	if u := proxy.User; u != nil && strings.HasPrefix(proxy.Scheme, "socks5") {
		pass, _ := u.Password()
		if len(u.Username()) == 0 || len(u.Username()) > 255 || len(pass) > 255 {
			return "", fmt.Errorf("%w: SOCKS5 user name must be 1 to 255 bytes and password at most 255", ErrInvalidProxy)
		}
	}
	return net.JoinHostPort(strings.ToLower(host), port), nil
}

// proxyName is proxy as error messages show it: scheme://user@host:port,
// without the password.
func proxyName(proxy *url.URL) string {
	host := proxy.Host
	if addr, err := proxyAddr(proxy); err == nil {
		host = addr
	}
	u := url.URL{Scheme: proxy.Scheme, Host: host}
	if proxy.User != nil {
		u.User = url.User(proxy.User.Username())
	}
	return u.String()
}

// secretKey keys the fingerprints of proxy passwords in pool keys. It is
// made at random once per process, so a fingerprint tells nothing outside
// the process.
var secretKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
})

// proxyKey returns the proxy's part of a pool key: "" for no proxy, else
// scheme://user@host:port with the host in lower case and the scheme's
// default port made explicit, so "http://Proxy" and "http://proxy:80"
// share connections. The password is never in it: when the URL has one, a
// keyed fingerprint of it follows after '#', so that connections made
// with other credentials are not shared (net/http keys by the whole URL)
// while the key can be logged. An invalid URL gives its own key; dialing
// through it fails.
func proxyKey(proxy *url.URL) string {
	if proxy == nil {
		return ""
	}
	k := proxyName(proxy)
	if proxy.User != nil {
		if pass, ok := proxy.User.Password(); ok {
			m := hmac.New(sha256.New, secretKey())
			m.Write([]byte(pass))
			k += "#" + hex.EncodeToString(m.Sum(nil)[:8])
		}
	}
	return k
}

// proxyForwards reports whether connections for targetScheme origins
// through proxy go to the proxy itself and carry requests in absolute
// form (an http or https proxy and an http origin, unless tunnel), rather
// than through a tunnel to the origin.
func proxyForwards(proxy *url.URL, targetScheme string, tunnel bool) bool {
	return proxy != nil && !tunnel && targetScheme == "http" &&
		(proxy.Scheme == "http" || proxy.Scheme == "https")
}

// forwardRequest returns req as it is sent on a connection to a
// forwarding proxy: a shallow copy whose URL gives the request target in
// absolute form ("http://host/path?query", the host being req.Host when
// set, as net/http writes it) and, when proxy has a user, whose header
// carries the Proxy-Authorization of proxy's credentials in place of
// any the caller set. req is not modified. A URL that is already opaque
// is sent as it is, as net/http does.
func forwardRequest(req *http.Request, proxy *url.URL) *http.Request {
	r := *req
	if u := req.URL; u != nil && u.Opaque == "" && u.Scheme != "" {
		host := req.Host
		if host == "" {
			host = u.Host
		}
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		if a, err := httpguts.PunycodeHostPort(host); err == nil {
			host = a // as net/http; an invalid name fails in h1
		}
		nu := *u
		nu.Opaque = "//" + removeZone(host) + path
		r.URL = &nu
	}
	if auth := proxyAuth(proxy); auth != "" {
		r.Header = req.Header.Clone()
		if r.Header == nil {
			r.Header = http.Header{}
		}
		r.Header.Set("Proxy-Authorization", auth)
	}
	return &r
}

// removeZone removes the zone from an IPv6 literal host ("[fe80::1%en0]:80"
// becomes "[fe80::1]:80"), which has no meaning off this machine.
func removeZone(host string) string {
	i, j := strings.IndexByte(host, '%'), strings.LastIndexByte(host, ']')
	if !strings.HasPrefix(host, "[") || i < 0 || j < i {
		return host
	}
	return host[:i] + host[j:]
}

// proxyAuth returns the Proxy-Authorization value for proxy's user
// (Basic), or "" when it has none.
func proxyAuth(proxy *url.URL) string {
	if proxy == nil || proxy.User == nil {
		return ""
	}
	pass, _ := proxy.User.Password()
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(proxy.User.Username()+":"+pass))
}

// proxyTLSConfig returns the TLS configuration for an https proxy: base
// (or an empty one) with ServerName the proxy's host and only http/1.1
// offered by ALPN. base itself is returned when it already is so; a pool
// that keeps the result for its dials shares one config among them.
func proxyTLSConfig(base *tls.Config, proxy *url.URL) *tls.Config {
	host := proxy.Hostname()
	if base != nil && base.ServerName == host && slices.Equal(base.NextProtos, []string{ProtoHTTP11}) {
		return base
	}
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.ServerName = host
	cfg.NextProtos = []string{ProtoHTTP11}
	return cfg
}

// dialProxy returns a stream to target (host:port) through proxy, ready
// for what the caller speaks to a targetScheme origin ("http" or
// "https"): for https, run TLS over it. When proxyForwards(proxy,
// targetScheme, opts.Tunnel), it is a stream to the proxy itself, target
// is not used, and requests go through forwardRequest.
//
// http:// and https:// proxies get a CONNECT request (after a TLS
// handshake with an https proxy); socks5:// proxies get the target's
// address, resolved here with opts.Resolver, and socks5h:// proxies its
// name. On any failure the stream is closed and the error is a
// *ProxyError.
func dialProxy(ctx context.Context, b transport.Backend, proxy *url.URL, targetScheme, target string, opts proxyOptions) (transport.Stream, error) {
	forward := proxyForwards(proxy, targetScheme, opts.Tunnel)
	perr := &ProxyError{Op: "dial", Proxy: proxyName(proxy), Target: target}
	if forward {
		perr.Target = ""
	}
	fail := func(err error) (transport.Stream, error) {
		perr.Err = err
		return nil, perr
	}
	addr, err := proxyAddr(proxy)
	if err != nil {
		return fail(err)
	}
	var socksTo []byte // the SOCKS5 request's address and port
	if !forward {
		if socksTo, err = socksAddress(ctx, proxy.Scheme, target, opts.Resolver); err != nil {
			perr.Op = "socks"
			return fail(err)
		}
	}
	var s transport.Stream
	if proxy.Scheme == "https" {
		s, err = transport.DialTLS(ctx, b, "tcp", addr, proxyTLSConfig(opts.TLSConfig, proxy))
	} else {
		s, err = b.Dial(ctx, "tcp", addr)
	}
	if err != nil {
		return fail(err)
	}
	if forward {
		return s, nil
	}
	if socksTo != nil {
		perr.Op = "socks"
		err = exchange(ctx, s, func() error { return socksConnect(s, proxy, socksTo) })
		if err != nil {
			return fail(err)
		}
		return s, nil
	}
	perr.Op = "connect"
	var pending []byte
	err = exchange(ctx, s, func() error {
		var err error
		pending, err = connect(ctx, s, proxy, target, opts, perr)
		return err
	})
	if err != nil {
		return fail(err)
	}
	if len(pending) > 0 {
		return &replayStream{Stream: s, pending: pending}, nil
	}
	return s, nil
}

// exchange runs f, an exchange with the proxy over s, under ctx: ctx's
// deadline is s's deadline until f returns, and a cancel closes s. On
// failure s is closed; a context's end is reported as the context's
// error (a deadline as transport.ErrTimeout).
func exchange(ctx context.Context, s transport.Stream, f func() error) error {
	if err := ctx.Err(); err != nil {
		s.Close()
		return transport.ContextError(err)
	}
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { s.Close() })
	err := f()
	if !stop() {
		s.Close()
		return transport.ContextError(ctx.Err())
	}
	if err == nil {
		err = s.SetDeadline(time.Time{})
	}
	if err != nil {
		s.Close()
	}
	return err
}

// connect sends CONNECT target over s and reads the answer. It returns
// the bytes read past the answer's head, which belong to the tunnel. A
// non-2xx answer fills perr's status fields.
func connect(ctx context.Context, s transport.Stream, proxy *url.URL, target string, opts proxyOptions, perr *ProxyError) ([]byte, error) {
	if target == "" || strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("%w: target %q", h1.ErrInvalidRequest, target)
	}
	hdr := opts.ConnectHeader
	if opts.GetConnectHeader != nil {
		var err error
		if hdr, err = opts.GetConnectHeader(ctx, proxy, target); err != nil {
			return nil, err
		}
	}
	if auth := proxyAuth(proxy); auth != "" {
		hdr = hdr.Clone()
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr.Set("Proxy-Authorization", auth)
	}
	req := &http.Request{
		Method:     http.MethodConnect,
		URL:        &url.URL{Opaque: target},
		Host:       target,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
	}
	head, err := connectHead(req, opts.UserAgent)
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(head); err != nil {
		return nil, err
	}
	limit := int64(opts.MaxHeaderBytes)
	if limit <= 0 {
		limit = h1.DefaultMaxHeaderBytes
	}
	lr := &io.LimitedReader{R: s, N: limit}
	br := bufio.NewReader(lr)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: CONNECT response head larger than %d bytes", ErrProxyProtocol, limit)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: connection closed before the CONNECT response: %w", ErrProxyProtocol, err)
		}
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrProxyProtocol, err)
	}
	if opts.OnConnectResponse != nil {
		if err := opts.OnConnectResponse(ctx, proxy, req, resp); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		perr.StatusCode, perr.Status, perr.Header = resp.StatusCode, resp.Status, resp.Header
		if resp.StatusCode == http.StatusProxyAuthRequired || resp.StatusCode == http.StatusUnauthorized {
			return nil, ErrProxyAuth
		}
		return nil, ErrProxyConnect
	}
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		return slices.Clone(p), nil
	}
	return nil, nil
}

// connectHead returns the head of a CONNECT request as net/http writes
// it: the request line, Host, User-Agent (the header's first value, or
// userAgent when the header has none; none when that value is empty),
// then the header's other fields in sorted order, less those that do not
// belong on a request without a body. Field names and values are checked.
func connectHead(req *http.Request, userAgent string) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, "CONNECT "...)
	b = append(b, req.Host...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, req.Host...)
	b = append(b, "\r\n"...)
	if userAgent == "" {
		userAgent = h1.DefaultUserAgent
	}
	if v, ok := req.Header["User-Agent"]; ok {
		userAgent = ""
		if len(v) > 0 {
			userAgent = v[0]
		}
	}
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("%w: header field name %q", h1.ErrInvalidRequest, k)
		}
		for _, v := range req.Header[k] {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("%w: value of header field %q", h1.ErrInvalidRequest, k)
			}
		}
	}
	if userAgent != "" {
		b = append(b, "User-Agent: "...)
		b = append(b, strings.TrimSpace(userAgent)...)
		b = append(b, "\r\n"...)
	}
	for _, k := range keys {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range req.Header[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, strings.TrimSpace(v)...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...), nil
}

// SOCKS5 protocol constants (RFC 1928, RFC 1929).
const (
	socksVersion      = 5
	socksNoAuth       = 0x00
	socksUserPass     = 0x02
	socksNoMethod     = 0xff
	socksCmdConnect   = 1
	socksAddrIPv4     = 1
	socksAddrName     = 3
	socksAddrIPv6     = 4
	socksUserPassVers = 1
)

// socksAddress returns the address part of a SOCKS5 CONNECT request for
// target (ATYP, address, port), or nil when scheme is not a SOCKS5 one. A
// socks5 proxy gets the target's address, looked up here with r (or
// net.DefaultResolver); a socks5h proxy gets its name.
func socksAddress(ctx context.Context, scheme, target string, r *net.Resolver) ([]byte, error) {
	if scheme != "socks5" && scheme != "socks5h" {
		return nil, nil
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("%w: target %q: %w", h1.ErrInvalidRequest, target, err)
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: target %q: bad port", h1.ErrInvalidRequest, target)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil && scheme == "socks5" {
		if r == nil {
			r = net.DefaultResolver
		}
		ips, lerr := r.LookupNetIP(ctx, "ip", host)
		if lerr != nil {
			return nil, lerr
		}
		if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		ip, err = ips[0], nil
	}
	var b []byte
	switch {
	case err != nil:
		if len(host) == 0 || len(host) > 255 {
			return nil, fmt.Errorf("%w: target host name must be 1 to 255 bytes", h1.ErrInvalidRequest)
		}
		b = append(b, socksAddrName, byte(len(host)))
		b = append(b, host...)
	case ip.Unmap().Is4():
		a := ip.Unmap().As4()
		b = append(b, socksAddrIPv4)
		b = append(b, a[:]...)
	default:
		a := ip.As16()
		b = append(b, socksAddrIPv6)
		b = append(b, a[:]...)
	}
	return binary.BigEndian.AppendUint16(b, uint16(pn)), nil
}

// socksConnect runs a SOCKS5 handshake over s: method negotiation (no
// authentication, and user name and password when proxy has a user),
// authentication, and CONNECT to the address to. It reads exactly the
// proxy's replies, so nothing of the tunnel is consumed.
func socksConnect(s transport.Stream, proxy *url.URL, to []byte) error {
	greeting := []byte{socksVersion, 1, socksNoAuth}
	if proxy.User != nil {
		greeting = []byte{socksVersion, 2, socksNoAuth, socksUserPass}
	}
	if _, err := s.Write(greeting); err != nil {
		return err
	}
	var buf [262]byte
	if err := readFull(s, buf[:2]); err != nil {
		return err
	}
	if buf[0] != socksVersion {
		return fmt.Errorf("%w: SOCKS version %d in method selection", ErrProxyProtocol, buf[0])
	}
	switch buf[1] {
	case socksNoAuth:
	case socksUserPass:
		if proxy.User == nil {
			return fmt.Errorf("%w: method %d chosen but not offered", ErrProxyProtocol, buf[1])
		}
		user := proxy.User.Username()
		pass, _ := proxy.User.Password()
		req := make([]byte, 0, 3+len(user)+len(pass))
		req = append(req, socksUserPassVers, byte(len(user)))
		req = append(req, user...)
		req = append(req, byte(len(pass)))
		req = append(req, pass...)
		_, err := s.Write(req)
		clear(req)
		if err != nil {
			return err
		}
		if err := readFull(s, buf[:2]); err != nil {
			return err
		}
		if buf[1] != 0 {
			return fmt.Errorf("%w: user name and password rejected (status %d)", ErrProxyAuth, buf[1])
		}
	case socksNoMethod:
		return fmt.Errorf("%w: no acceptable authentication method", ErrProxyAuth)
	default:
		return fmt.Errorf("%w: method %d chosen but not offered", ErrProxyProtocol, buf[1])
	}
	req := append([]byte{socksVersion, socksCmdConnect, 0}, to...)
	if _, err := s.Write(req); err != nil {
		return err
	}
	if err := readFull(s, buf[:4]); err != nil {
		return err
	}
	if buf[0] != socksVersion {
		return fmt.Errorf("%w: SOCKS version %d in reply", ErrProxyProtocol, buf[0])
	}
	if buf[1] != 0 {
		return &SOCKSReplyError{Code: int(buf[1])}
	}
	var n int
	switch buf[3] {
	case socksAddrIPv4:
		n = 4
	case socksAddrIPv6:
		n = 16
	case socksAddrName:
		if err := readFull(s, buf[:1]); err != nil {
			return err
		}
		n = int(buf[0])
	default:
		return fmt.Errorf("%w: address type %d in reply", ErrProxyProtocol, buf[3])
	}
	return readFull(s, buf[:n+2])
}

// readFull reads len(p) bytes, reporting a proxy that closed the
// connection early as breaking its protocol.
func readFull(s transport.Stream, p []byte) error {
	_, err := io.ReadFull(s, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: connection closed during the SOCKS5 handshake: %w", ErrProxyProtocol, err)
	}
	return err
}

// replayStream is a tunnel whose first bytes were read with the proxy's
// CONNECT response: Read returns them before reading the stream again.
type replayStream struct {
	transport.Stream

	mu      sync.Mutex
	pending []byte
}

var _ transport.Stream = (*replayStream)(nil)

// Read returns the pending bytes first, then reads the stream. After
// Close it fails as the stream does, pending bytes or not.
func (r *replayStream) Read(p []byte) (int, error) {
	r.mu.Lock()
	if len(r.pending) > 0 && len(p) > 0 && !transport.IsClosed(r.Stream) {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		if len(r.pending) == 0 {
			r.pending = nil
		}
		r.mu.Unlock()
		return n, nil
	}
	r.mu.Unlock()
	return r.Stream.Read(p)
}

// IsReadable is true while bytes are pending, and then the stream's.
func (r *replayStream) IsReadable() bool {
	r.mu.Lock()
	n := len(r.pending)
	r.mu.Unlock()
	return n > 0 || r.Stream.IsReadable()
}

// Info answers from the stream, but has no InfoFD while bytes are
// pending: a reader of the socket would miss them.
func (r *replayStream) Info(key transport.InfoKey) (any, bool) {
	if key == transport.InfoFD {
		r.mu.Lock()
		n := len(r.pending)
		r.mu.Unlock()
		if n > 0 {
			return nil, false
		}
	}
	return r.Stream.Info(key)
}
