package reliability

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/plugins/pluginstest"
)

// The test binary doubles as the server that runs out of descriptors: a
// copy started with envFDServer set to a directory holding cert.pem and
// key.pem runs runFDServer instead of the tests.
const envFDServer = "TRANSPORTKIT_RELIABILITY_FDSERVER"

// The plugin binaries, built once per test binary by the first test that
// needs them, into a directory TestMain removes.
var (
	pluginDir    string
	buildOnce    sync.Once
	socks5Plugin string // examples/plugins/socks5: sockets handed to the host
	bytesPlugin  string // testdata/bytesplugin: bytes through the plugin
	buildErr     error
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envFDServer); dir != "" {
		os.Exit(runFDServer(dir))
	}
	os.Exit(pluginstest.Main(m, func(_ context.Context, dir string) error {
		pluginDir = dir
		return nil
	}))
}

// buildPlugins builds the two plugins of the matrix into dir, side by
// side.
func buildPlugins(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var socksErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		socks5Plugin, socksErr = pluginstest.Build(ctx, "../../examples/plugins/socks5/transportkit-backend-socks5", "socks5", dir)
	}()
	var err error
	bytesPlugin, err = pluginstest.Build(ctx, "./testdata/bytesplugin", "relbytes", dir)
	<-done
	return errors.Join(socksErr, err)
}

// needPlugins builds the plugins on first use, and fails t when they did
// not build.
func needPlugins(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() { buildErr = buildPlugins(pluginDir) })
	if buildErr != nil {
		t.Fatalf("building the test plugins: %v", buildErr)
	}
}

// runFDServer is a net/http server (HTTP/1.1 in clear text on one port;
// TLS with h2 and http/1.1 by ALPN on another) with no descriptor left to
// accept a connection: it prints its two addresses and "ready" once every
// descriptor its limit allows is taken, then serves until stdin closes.
func runFDServer(dir string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "fd server:", err)
		return 1
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return fail(err)
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	secure, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ErrorLog:  log.New(io.Discard, "", 0), // it logs every failed accept
	}
	if err := exhaustFDs(); err != nil {
		return fail(err)
	}
	fmt.Printf("%s\n%s\nready\n", plain.Addr(), secure.Addr())
	go srv.Serve(plain)
	go srv.ServeTLS(secure, "", "")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// exhaustFDs lowers the soft RLIMIT_NOFILE to just above the highest
// open descriptor and takes every free one below it, so that the next
// accept fails with EMFILE.
func exhaustFDs() error {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	highest := 0
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, fd)
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = uint64(highest + 1)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	for range highest + 1 {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EMFILE) {
			return nil
		}
		if err != nil {
			return err
		}
		_ = fd // held until the process exits
	}
	return errors.New("descriptors still free after filling the table")
}

// fdServer is the address pair of a running runFDServer child.
type fdServer struct {
	plain, secure string
}

// startFDServer starts a child process running runFDServer and stops it
// when t ends.
func startFDServer(t testing.TB, p *pki) fdServer {
	t.Helper()
	dir := t.TempDir()
	if _, err := p.WritePEMFiles(dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envFDServer+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the server exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines, err := readAddrs(bufio.NewReader(stdout), 3)
	if err != nil || lines[2] != "ready" {
		t.Fatalf("fd server did not start: %v %q", err, lines)
	}
	return fdServer{plain: lines[0], secure: lines[1]}
}
