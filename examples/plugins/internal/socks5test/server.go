// Package socks5test runs a small SOCKS5 proxy on loopback for the socks5
// plugin example's tests: CONNECT only, with no authentication or with a
// username and password (RFC 1928, RFC 1929). It relays half-closes and
// resets, so a stream through it behaves like a direct one.
package socks5test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Server is a SOCKS5 proxy listening on 127.0.0.1.
type Server struct {
	ln       net.Listener
	user     string
	password string

	// Connects counts the CONNECT requests served.
	Connects atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// handshakeTimeout bounds a client's SOCKS handshake.
const handshakeTimeout = 10 * time.Second

// StartTest is Start for a test: the test fails if the server does not
// start, and the server is closed when the test ends.
func StartTest(t testing.TB, user, password string) *Server {
	t.Helper()
	s, err := Start(user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start listens on 127.0.0.1 and serves until Close. If user is not
// empty, clients must authenticate with user and password.
func Start(user, password string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, user: user, password: password, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the proxy's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the proxy, closes every connection it holds and waits for
// its goroutines.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil // refuse new connections
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

// SOCKS5 constants.
const (
	version5         = 5
	methodNone       = 0x00
	methodUserPwd    = 0x02
	methodNoAccepted = 0xff
	cmdConnect       = 1
	atypIPv4         = 1
	atypDomain       = 3
	atypIPv6         = 4

	replyOK          = 0
	replyFailure     = 1
	replyUnreachable = 4
	replyRefused     = 5
	replyCmdNotSupp  = 7
	replyAddrNotSupp = 8

	userPwdVersion  = 1
	userPwdOK       = 0
	userPwdRejected = 1

	// maxHandshakeBytes is the longest field of the handshake: a
	// greeting with 255 methods.
	maxHandshakeBytes = 1 + 1 + 255
)

func (s *Server) handle(c net.Conn) {
	if !s.track(c) {
		c.Close()
		return
	}
	defer s.untrack(c)
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	target, err := s.handshake(c)
	if err != nil {
		return
	}
	up, err := net.DialTimeout("tcp", target, handshakeTimeout)
	if err != nil {
		code := byte(replyFailure)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			code = replyRefused
		case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
			code = replyUnreachable
		}
		reply(c, code, nil)
		return
	}
	if !s.track(up) {
		up.Close()
		return
	}
	defer s.untrack(up)
	s.Connects.Add(1)
	if err := reply(c, replyOK, up.LocalAddr().(*net.TCPAddr)); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		relay(up.(*net.TCPConn), c.(*net.TCPConn))
	}()
	relay(c.(*net.TCPConn), up.(*net.TCPConn))
	<-done
}

// relay copies from src to dst, then passes the end on: a half-close for
// EOF, a reset for a reset (so the client sees what the target did).
func relay(dst, src *net.TCPConn) {
	_, err := io.Copy(dst, src)
	if errors.Is(err, syscall.ECONNRESET) {
		dst.SetLinger(0)
		dst.Close()
		return
	}
	dst.CloseWrite()
}

// handshake negotiates the method, authenticates and reads the CONNECT
// request, returning the target address.
func (s *Server) handshake(c net.Conn) (string, error) {
	buf := make([]byte, maxHandshakeBytes)
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != version5 {
		return "", errors.New("socks5test: bad greeting")
	}
	methods := buf[2 : 2+int(buf[1])]
	if _, err := io.ReadFull(c, methods); err != nil {
		return "", err
	}
	want := byte(methodNone)
	if s.user != "" {
		want = methodUserPwd
	}
	offered := false
	for _, m := range methods {
		offered = offered || m == want
	}
	if !offered {
		c.Write([]byte{version5, methodNoAccepted})
		return "", errors.New("socks5test: no acceptable method")
	}
	if _, err := c.Write([]byte{version5, want}); err != nil {
		return "", err
	}
	if want == methodUserPwd {
		if err := s.authenticate(c, buf); err != nil {
			return "", err
		}
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[0] != version5 {
		return "", errors.New("socks5test: bad request")
	}
	if buf[1] != cmdConnect {
		reply(c, replyCmdNotSupp, nil)
		return "", errors.New("socks5test: only CONNECT")
	}
	var host string
	switch buf[3] {
	case atypIPv4, atypIPv6:
		n := net.IPv4len
		if buf[3] == atypIPv6 {
			n = net.IPv6len
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return "", err
		}
		host = net.IP(buf[:n]).String()
	case atypDomain:
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return "", err
		}
		n := int(buf[0])
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return "", err
		}
		host = string(buf[:n])
	default:
		reply(c, replyAddrNotSupp, nil)
		return "", errors.New("socks5test: bad address type")
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(buf[:2])))), nil
}

// authenticate runs the username/password subnegotiation.
func (s *Server) authenticate(c net.Conn, buf []byte) error {
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != userPwdVersion {
		return errors.New("socks5test: bad auth request")
	}
	user := make([]byte, buf[1])
	if _, err := io.ReadFull(c, user); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return err
	}
	pwd := make([]byte, buf[0])
	if _, err := io.ReadFull(c, pwd); err != nil {
		return err
	}
	if string(user) != s.user || string(pwd) != s.password {
		c.Write([]byte{userPwdVersion, userPwdRejected})
		return errors.New("socks5test: bad credentials")
	}
	_, err := c.Write([]byte{userPwdVersion, userPwdOK})
	return err
}

// reply sends a reply with the bound address (zero when nil).
func reply(c net.Conn, code byte, bound *net.TCPAddr) error {
	msg := []byte{version5, code, 0, atypIPv4, 0, 0, 0, 0, 0, 0}
	if bound != nil {
		if ip4 := bound.IP.To4(); ip4 != nil {
			copy(msg[4:8], ip4)
		}
		binary.BigEndian.PutUint16(msg[8:], uint16(bound.Port))
	}
	_, err := c.Write(msg)
	return err
}
