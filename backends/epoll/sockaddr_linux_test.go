package epoll

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAddresses covers the conversions between socket addresses and
// net.Addr, and the family checks of local addresses.
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
