package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
)

var flagNginx = flag.String("nginx", "", "W3, W4: nginx binary (default: nginx on PATH, then /usr/sbin/nginx)")

// nginxProc is an nginx started by a workload with testenv.LaunchNginx:
// one worker, its own configuration and logs in a temporary folder, in
// the foreground, in its own process group. The same server serves every
// contender of a run.
type nginxProc struct {
	*testenv.Nginx
	// HTTP and HTTPS are the loopback addresses it listens on.
	HTTP, HTTPS string
}

// benchNginx returns the options every workload's nginx starts from: up
// to 4,096 connections (and 20,000 open files), listen queues of 4,096,
// TLS 1.3 only, idle connections kept for 10 minutes and for a
// practically unlimited number of requests, no access log, a 5-byte body
// at / and the connection counters at /nginx_status.
func benchNginx() testenv.NginxOptions {
	return testenv.NginxOptions{
		Binary:            *flagNginx,
		WorkerConnections: 4096,
		RlimitNofile:      20000,
		Backlog:           4096,
		SSLProtocols:      "TLSv1.3",
		KeepaliveTimeout:  10 * time.Minute,
		KeepaliveRequests: 1_000_000_000,
		Locations: []string{
			`location / { default_type text/plain; return 200 "hello"; }`,
			`location = /nginx_status { stub_status; }`,
		},
	}
}

// startNginx starts nginx for W3 and W4: HTTP/1.1 in clear text and over
// TLS, with 16,384 connections allowed (the client's 10,000 idle ones and
// a few more).
func startNginx() (*nginxProc, error) {
	opts := benchNginx()
	opts.TLS = true
	opts.WorkerConnections = 16384
	return launchNginx(opts)
}

// launchNginx starts nginx with opts and waits until it accepts on every
// port.
func launchNginx(opts testenv.NginxOptions) (*nginxProc, error) {
	n, err := testenv.LaunchNginx(opts)
	if errors.Is(err, testenv.ErrNotInstalled) {
		return nil, fmt.Errorf("%w (apt-get install -y nginx, or -nginx PATH)", err)
	}
	if err != nil {
		return nil, err
	}
	return &nginxProc{Nginx: n, HTTP: n.Addr, HTTPS: n.TLSAddr}, nil
}

// Active returns nginx's count of open client connections (stub_status
// "Active connections", which counts the status request's own).
func (n *nginxProc) Active() (int, error) {
	c, err := net.DialTimeout("tcp", n.HTTP, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /nginx_status HTTP/1.0\r\nHost: bench\r\n\r\n"); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Active connections:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("nginx status: no Active connections line")
}

// WaitActive waits until nginx has at most max open connections (the
// status request's own included), for up to timeout.
func (n *nginxProc) WaitActive(max int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		a, err := n.Active()
		if err == nil && a <= max {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("nginx status: %w", err)
			}
			return fmt.Errorf("nginx still has %d connections open after %v (want <= %d)", a, timeout, max)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CPUTime returns the user plus system CPU time used so far by nginx's
// processes (its process group: the master and the worker), from
// /proc, in clock ticks of 10 ms.
func (n *nginxProc) CPUTime() time.Duration {
	pgid := n.Pid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses:
		// state ppid pgrp session tty tpgid flags minflt cminflt majflt
		// cmajflt utime stime ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		if pg, _ := strconv.Atoi(f[2]); pg != pgid {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
