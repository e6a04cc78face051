package reliability

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/sys/unix"
)

// faultID names a fault of the matrix.
type faultID int

const (
	fRefused    faultID = iota // nothing listens: the connect is refused
	fNoConnect                 // the connect never completes
	fSilentTLS                 // TCP accepted, the TLS handshake never answered
	fStall                     // the request is read and never answered
	fResetHead                 // a reset in the middle of the response head
	fResetBody                 // a reset in the middle of the body
	fTruncated                 // the connection closed before the body's end
	fSlowHead                  // the response trickles, one byte every 100 ms
	fSlowBody                  // the body trickles, one byte every 100 ms
	fTLSFailure                // the server aborts the handshake with an alert
	fWrongHost                 // the certificate is for another host
	fNoFDs                     // the server process is out of descriptors
)

// Sizes of the responses the fault servers send.
const (
	bodyLen   = 1000 // the Content-Length of a broken body
	sentBody  = 100  // the bytes of it sent before the fault
	slowLen   = 100  // the Content-Length of a trickled body
	trickle   = 100 * time.Millisecond
	serveWait = 10 * time.Second // bounds every wait of a fault server
)

// wire is how a cell's request travels: its HTTP version, and whether
// over TLS (https) or in clear text (http/1.1, or h2c by prior knowledge).
type wire struct {
	h2  bool
	tls bool
}

func (w wire) String() string {
	switch {
	case w.h2 && w.tls:
		return "h2"
	case w.h2:
		return "h2c"
	case w.tls:
		return "h1-tls"
	}
	return "h1"
}

// faultServer answers connections with one fault. Its serve runs over a
// real socket (reset sends an RST with SO_LINGER 0) or a mock connection
// (reset is the mock's ResetAfter fault, armed with resetOffset).
type faultServer struct {
	id    faultID
	w     wire
	pki   *pki
	reset func(net.Conn)
}

// serve runs the fault on one connection, then reads until the client
// closes it (or serveWait passes), so that a connection the client
// leaked keeps its server busy and is seen.
func (s *faultServer) serve(raw net.Conn) {
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(serveWait))
	if s.fault(raw) {
		io.Copy(io.Discard, raw)
	}
}

// fault plays the fault on raw and reports whether the connection is
// still open.
func (s *faultServer) fault(raw net.Conn) bool {
	var c net.Conn = raw
	switch s.id {
	case fSilentTLS, fNoConnect, fRefused, fNoFDs:
		return true
	case fTLSFailure:
		// Only cipher suites of TLS 1.2 with RSA key exchange, which
		// clients no longer offer: the server answers the ClientHello
		// with a handshake_failure alert.
		cfg := s.pki.ServerConfig()
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
		tls.Server(raw, cfg).Handshake()
		return false
	case fWrongHost:
		cfg := &tls.Config{Certificates: []tls.Certificate{s.pki.wrongHost}}
		tls.Server(raw, cfg).Handshake() // the client rejects the certificate
		return false
	}
	if s.w.tls {
		proto := "http/1.1"
		if s.w.h2 {
			proto = http2.NextProtoTLS
		}
		tc := tls.Server(raw, s.pki.ServerConfig(proto))
		if tc.Handshake() != nil {
			return false
		}
		c = tc
	}
	if s.w.h2 {
		return s.h2(raw, c)
	}
	return s.h1(raw, c)
}

// h1 reads a request head on c and answers with the fault.
func (s *faultServer) h1(raw, c net.Conn) bool {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		if line == "\r\n" {
			break
		}
	}
	switch s.id {
	case fStall:
	case fResetHead:
		c.Write(h1PartialHead)
		s.reset(raw)
		return false
	case fResetBody, fTruncated:
		c.Write(append(h1Head(bodyLen), bytes.Repeat([]byte("x"), sentBody)...))
		if s.id == fResetBody {
			s.reset(raw)
		} else {
			raw.Close()
		}
		return false
	case fSlowHead:
		return trickleBytes(c, append(h1Head(5), "hello"...))
	case fSlowBody:
		if _, err := c.Write(h1Head(slowLen)); err != nil {
			return false
		}
		return trickleBytes(c, bytes.Repeat([]byte("x"), slowLen))
	}
	return true
}

// h2 reads the client's preface and first request on c and answers with
// the fault. Before the response it writes exactly h2Preamble bytes: its
// SETTINGS and the ACK of the client's.
func (s *faultServer) h2(raw, c net.Conn) bool {
	stream, ok := readH2Request(c)
	if !ok {
		return false
	}
	switch s.id {
	case fStall:
	case fResetHead:
		c.Write(h2PartialHead(stream))
		s.reset(raw)
		return false
	case fResetBody, fTruncated:
		c.Write(append(h2Headers(stream, bodyLen), h2Data(stream, sentBody, false)...))
		if s.id == fResetBody {
			s.reset(raw)
		} else {
			raw.Close()
		}
		return false
	case fSlowHead:
		return trickleBytes(c, append(h2Headers(stream, 5), h2Data(stream, 5, true)...))
	case fSlowBody:
		if _, err := c.Write(h2Headers(stream, slowLen)); err != nil {
			return false
		}
		for range slowLen {
			time.Sleep(trickle)
			if _, err := c.Write(h2Data(stream, 1, false)); err != nil {
				return false
			}
		}
	}
	return true
}

// trickleBytes writes b one byte every 100 ms.
func trickleBytes(c net.Conn, b []byte) bool {
	for i := range b {
		time.Sleep(trickle)
		if _, err := c.Write(b[i : i+1]); err != nil {
			return false
		}
	}
	return true
}

// h1Head is a response head announcing a body of n bytes.
func h1Head(n int) []byte {
	return []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(n) + "\r\n\r\n")
}

// h1PartialHead is the start of a response head, cut in a header field.
var h1PartialHead = h1Head(bodyLen)[:24]

// h2Preamble is the number of bytes an HTTP/2 fault server writes before
// its response: its empty SETTINGS frame and the ACK of the client's.
const h2Preamble = 2 * 9

// readH2Request reads the client preface, sends SETTINGS, acknowledges
// the client's, and returns the stream of the first request.
func readH2Request(c net.Conn) (uint32, bool) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return 0, false
	}
	fr := http2.NewFramer(c, c)
	if fr.WriteSettings() != nil {
		return 0, false
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0, false
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && fr.WriteSettingsAck() != nil {
				return 0, false
			}
		case *http2.HeadersFrame:
			return f.StreamID, true
		}
	}
}

// h2Headers is a HEADERS frame for stream with status 200 and a
// Content-Length of n.
func h2Headers(stream uint32, n int) []byte {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/plain"})
	enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(n)})
	var out bytes.Buffer
	http2.NewFramer(&out, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block.Bytes(), EndHeaders: true})
	return out.Bytes()
}

// h2PartialHead is the HEADERS frame of a response cut in its header
// block.
func h2PartialHead(stream uint32) []byte {
	f := h2Headers(stream, bodyLen)
	return f[:9+(len(f)-9)/2]
}

// h2Data is a DATA frame of n bytes for stream.
func h2Data(stream uint32, n int, end bool) []byte {
	var out bytes.Buffer
	http2.NewFramer(&out, nil).WriteData(stream, end, bytes.Repeat([]byte("x"), n))
	return out.Bytes()
}

// resetOffset is the number of bytes a fault server writes on a clear
// text connection before it resets it, for the mock's ResetAfter; -1 for
// a fault without a reset.
func resetOffset(id faultID, w wire) int {
	switch {
	case id == fResetHead && w.h2:
		return h2Preamble + len(h2PartialHead(1))
	case id == fResetBody && w.h2:
		return h2Preamble + len(h2Headers(1, bodyLen)) + len(h2Data(1, sentBody, false))
	case id == fResetHead:
		return len(h1PartialHead)
	case id == fResetBody:
		return len(h1Head(bodyLen)) + sentBody
	}
	return -1
}

// rst resets a TCP connection: SO_LINGER 0 makes close send an RST.
func rst(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// reservedPort holds a loopback port bound to a socket that does not
// listen, so that connects to it are refused and no one else takes the
// port meanwhile.
func reservedPort(t testing.TB) string {
	t.Helper()
	return sockName(t, boundSocket(t))
}

// boundSocket returns a TCP socket bound to a free loopback port, closed
// when t ends.
func boundSocket(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// blackhole returns a loopback address whose connects never complete: a
// listener with a backlog of 0 that never accepts, whose accept queue is
// filled first, so that the kernel drops every later SYN.
func blackhole(t testing.TB) string {
	t.Helper()
	fd := boundSocket(t)
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr := sockName(t, fd)
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr // full: this SYN was dropped
			}
			t.Fatalf("filling the backlog of %s: %v", addr, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("the accept queue of %s never filled", addr)
	return ""
}

func sockName(t testing.TB, fd int) string {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	in, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		t.Fatalf("socket name %T", sa)
	}
	return net.JoinHostPort(net.IP(in.Addr[:]).String(), strconv.Itoa(in.Port))
}

// readAddrs reads n lines of "host:port" from r.
func readAddrs(r *bufio.Reader, n int) ([]string, error) {
	var out []string
	for range n {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(line))
	}
	return out, nil
}
