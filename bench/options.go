package main

import (
	"syscall"

	"github.com/transportkit/transportkit/transport"
)

// benchOptions are the Options every contender is opened with. SO_LINGER
// 0 makes Close reset the connection instead of leaving it in TIME_WAIT,
// so that runs that open tens of thousands of connections do not run out
// of loopback ports; it is the same for every contender.
func benchOptions() transport.Options {
	return transport.Options{Control: lingerZero}
}

func lingerZero(network, address string, c syscall.RawConn) error {
	if network == "unix" {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	})
	if err != nil {
		return err
	}
	return serr
}
