package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
)

// serverAddrs is what a server process prints on its first line.
type serverAddrs struct {
	TCP string `json:"tcp"`
	TLS string `json:"tls"`
}

// serve runs a server in this process until its standard input closes
// (the parent exited or stopped it). It is the plain standard library, so
// it is the same for every contender.
func serve(kind string) error {
	if kind != "echo" {
		return fmt.Errorf("unknown server %q", kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	certs, err := testenv.NewCerts()
	if err != nil {
		return err
	}
	tln, err := tls.Listen("tcp", "127.0.0.1:0", certs.ServerConfig("h2", "http/1.1"))
	if err != nil {
		return err
	}
	go acceptEcho(ln)
	go acceptEcho(tln)
	b, _ := json.Marshal(serverAddrs{TCP: ln.Addr().String(), TLS: tln.Addr().String()})
	fmt.Println(string(b))
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
	return nil
}

func acceptEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like
			continue
		}
		go func() {
			defer c.Close()
			if tc, ok := c.(*tls.Conn); ok {
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					return
				}
				tc.SetDeadline(time.Time{})
			}
			// A plain read/write copy: io.Copy would splice through a pipe
			// that each connection holds while it waits, two more fds per
			// connection, which 10,000 connections cannot afford.
			io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 16<<10))
		}()
	}
}

// serverProc is a server running in a child process.
type serverProc struct {
	Addrs serverAddrs
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

var flagServerTCP = flag.String("server-tcp", "", "use this running echo server (TCP address) instead of starting one; for profiling the client alone")
var flagServerTLS = flag.String("server-tls", "", "with -server-tcp: the running echo server's TLS address")

// startServer re-executes this binary with -serve kind and reads the
// addresses it listens on.
func startServer(kind string) (*serverProc, error) {
	if *flagServerTCP != "" {
		return &serverProc{Addrs: serverAddrs{TCP: *flagServerTCP, TLS: *flagServerTLS}}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return spawnServer(exec.Command(exe, "-serve", kind), "server", func(line []byte, p *serverProc) error {
		return json.Unmarshal(line, &p.Addrs)
	})
}

// spawnServer starts cmd, a server in a child process that prints one
// line saying where it listens and runs until its standard input closes,
// and hands that line to parse. name is the server's name in errors.
func spawnServer(cmd *exec.Cmd, name string, parse func(line []byte, p *serverProc) error) (*serverProc, error) {
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{cmd: cmd, stdin: stdin}
	line := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			line <- fmt.Errorf("%s printed nothing: %v", name, sc.Err())
			return
		}
		line <- parse(sc.Bytes(), p)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-line:
	case <-time.After(10 * time.Second):
		err = fmt.Errorf("%s did not start in 10s", name)
	}
	if err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// CPUTime returns the user plus system CPU time the server process has
// used so far (from /proc, in ticks of 10 ms), or -1 when it is not known
// (a server started apart with -server-tcp).
func (p *serverProc) CPUTime() time.Duration {
	if p.cmd == nil || p.cmd.Process == nil {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// After the command name in parentheses: state ppid pgrp session tty
	// tpgid flags minflt cminflt majflt cmajflt utime stime.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// Stop ends the server process.
func (p *serverProc) Stop() {
	if p.cmd == nil {
		return
	}
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}
