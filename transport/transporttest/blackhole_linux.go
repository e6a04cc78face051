package transporttest

import (
	"errors"
	"net"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// blackhole is a loopback TCP address that neither refuses nor completes
// a connect: its socket listens with a backlog of 0 and never accepts, and
// its accept queue is filled, so Linux drops further SYNs and the dialer
// keeps waiting (retransmitting) until it gives up.
type blackhole struct {
	addr    string
	fd      int
	fillers []net.Conn
}

// probeTimeout is how long a connect to the full queue is given to prove
// it hangs. A connect that can complete takes microseconds on loopback.
const probeTimeout = 500 * time.Millisecond

// maxFillers bounds the connections used to fill the accept queue.
const maxFillers = 8

func newBlackhole() (*blackhole, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	bh := &blackhole{fd: fd}
	if err := bh.listen(); err != nil {
		bh.Close()
		return nil, err
	}
	// Fill the queue until a connect hangs.
	for range maxFillers {
		c, err := net.DialTimeout("tcp", bh.addr, probeTimeout)
		if err == nil {
			bh.fillers = append(bh.fillers, c)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return bh, nil
		}
		bh.Close()
		return nil, err
	}
	bh.Close()
	return nil, errors.New("transporttest: accept queue never filled; cannot make a connect hang")
}

func (bh *blackhole) listen() error {
	if err := unix.Bind(bh.fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Listen(bh.fd, 0); err != nil {
		return err
	}
	sa, err := unix.Getsockname(bh.fd)
	if err != nil {
		return err
	}
	sa4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return errors.New("transporttest: listener has no IPv4 address")
	}
	bh.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(sa4.Port))
	return nil
}

// Close closes the listener and the connections that filled its queue.
func (bh *blackhole) Close() {
	for _, c := range bh.fillers {
		c.Close()
	}
	unix.Close(bh.fd)
}
