package epoll

import (
	"errors"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

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

func TestAddresses(t *testing.T) {
	if f := netFamily(&unix.SockaddrLinklayer{}); f != "unknown" {
		t.Errorf("netFamily(link layer) = %q", f)
	}
	if sameFamily("udp", "tcp4") {
		t.Error("udp matched tcp4")
	}
	if a := sockaddrToAddr("unix", nil); a.Network() != "unix" {
		t.Errorf("sockaddrToAddr(unix, nil) = %v", a)
	}
	if a := sockaddrToAddr("tcp", nil); a != nil {
		t.Errorf("sockaddrToAddr(tcp, nil) = %v", a)
	}
	a := sockaddrToAddr("tcp6", &unix.SockaddrInet6{Port: 80, ZoneId: 1, Addr: [16]byte{15: 1}})
	if ta, ok := a.(*net.TCPAddr); !ok || ta.Port != 80 || ta.Zone == "" {
		t.Errorf("sockaddrToAddr(zoned) = %#v", a)
	}
	if _, err := localSockaddr(&net.TCPAddr{IP: net.IPv6loopback}, unix.AF_INET); err == nil {
		t.Error("IPv6 local address accepted for IPv4")
	}
	if sa, err := localSockaddr(&net.TCPAddr{Port: 1}, unix.AF_INET6); err != nil || sa.(*unix.SockaddrInet6).Port != 1 {
		t.Errorf("localSockaddr(any6) = %v, %v", sa, err)
	}
	if sa, err := localSockaddr(&net.UnixAddr{Name: "x"}, unix.AF_UNIX); err != nil || sa.(*unix.SockaddrUnix).Name != "x" {
		t.Errorf("localSockaddr(unix) = %v, %v", sa, err)
	}
}
