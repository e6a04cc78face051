package reliability

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// lookPath finds a program in PATH or in the sbin directories, where
// Debian puts nginx.
func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/bin"} {
		if _, serr := os.Stat(dir + "/" + name); serr == nil {
			return dir + "/" + name, nil
		}
	}
	return "", err
}

// freePorts returns n loopback addresses whose ports were free a moment
// ago.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// startProc starts a server program and stops it (SIGINT, then SIGKILL
// after 10 s) when t ends; it waits until every address in addrs accepts
// connections, and fails t if the program exits first or takes longer
// than 10 s. Its stderr goes to ours unless quiet.
func startProc(t testing.TB, quiet bool, addrs []string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if !quiet {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, addr := range addrs {
		for {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("%s exited: %v", bin, err)
			case <-ctx.Done():
				t.Fatalf("%s did not listen on %s: %v", bin, addr, err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// startSocks starts microsocks, a SOCKS5 proxy, on a loopback port and
// returns its address, or "" and why when it is not installed. Its log
// (a line per connection) is dropped.
func startSocks(t testing.TB) (addr, skip string) {
	t.Helper()
	bin, err := lookPath("microsocks")
	if err != nil {
		return "", "microsocks not installed: " + err.Error()
	}
	addr = freePorts(t, 1)[0]
	_, port, _ := net.SplitHostPort(addr)
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	startProc(t, true, []string{addr}, bin, "-i", "127.0.0.1", "-p", port)
	return addr, ""
}
