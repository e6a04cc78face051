package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var flagNginx = flag.String("nginx", "", "W3, W4: nginx binary (default: nginx on PATH, then /usr/sbin/nginx)")

// nginxProc is an nginx started by a workload: one worker, its own
// configuration and logs in a temporary folder, in the foreground
// (daemon off), in its own process group. The same server serves every
// contender of a run.
type nginxProc struct {
	// HTTP and HTTPS are the loopback addresses it listens on.
	HTTP, HTTPS string

	dir    string
	cmd    *exec.Cmd
	exited chan error
}

// nginxConf is the server's configuration: one worker allowed up to
// 16,384 connections (the client's 10,000 idle ones and a few more), idle
// connections kept for 10 minutes and for a practically unlimited number
// of requests, no access log, a 5-byte body at / and the connection
// counters at /nginx_status.
const nginxConf = `
worker_processes 1;
worker_rlimit_nofile 20000;
error_log %[1]s/error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    default_type text/plain;
    keepalive_timeout 600s;
    keepalive_requests 1000000000;
    server {
        listen %[2]s backlog=4096;
        listen %[3]s ssl backlog=4096;
        ssl_certificate %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;
        ssl_protocols TLSv1.3;
        location / { return 200 "hello"; }
        location = /nginx_status { stub_status; }
    }
}
`

// nginxBinary finds nginx.
func nginxBinary() (string, error) {
	if *flagNginx != "" {
		return *flagNginx, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("nginx not found (apt-get install -y nginx, or -nginx PATH)")
}

// startNginx starts nginx and waits until it accepts on both ports.
func startNginx() (*nginxProc, error) {
	n, ports, err := launchNginx("bench-nginx-", 2, func(dir string, p []string) string {
		return fmt.Sprintf(nginxConf, dir, p[0], p[1])
	})
	if err != nil {
		return nil, err
	}
	n.HTTP, n.HTTPS = ports[0], ports[1]
	return n, nil
}

// launchNginx makes a folder (named after prefix) with a certificate,
// takes nports free loopback addresses, writes the configuration conf
// returns for them, starts nginx in its own process group and waits until
// it accepts on every one of them.
func launchNginx(prefix string, nports int, conf func(dir string, ports []string) string) (*nginxProc, []string, error) {
	bin, err := nginxBinary()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, nil, err
	}
	n := &nginxProc{dir: dir}
	ok := false
	defer func() {
		if !ok {
			n.Stop()
		}
	}()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, nil, err
	}
	if err := writeCertPEM(dir); err != nil {
		return nil, nil, err
	}
	ports, err := freeLoopbackAddrs(nports)
	if err != nil {
		return nil, nil, err
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf(dir, ports)), 0o644); err != nil {
		return nil, nil, err
	}
	n.cmd = exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath, "-g", "daemon off;")
	n.cmd.Stdout = os.Stderr
	n.cmd.Stderr = os.Stderr
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start nginx: %w", err)
	}
	n.exited = make(chan error, 1)
	go func() { n.exited <- n.cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, addr := range ports {
		for {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-n.exited:
				n.exited <- err
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				return nil, nil, fmt.Errorf("nginx exited: %v\n%s", err, log)
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("nginx did not listen on %s: %w", addr, err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	ok = true
	return n, ports, nil
}

// Stop ends nginx (fast shutdown, SIGTERM; its process group is killed
// if it is still there after 10 s) and removes its folder.
func (n *nginxProc) Stop() {
	if n.cmd != nil && n.cmd.Process != nil && n.exited != nil {
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-n.exited
		}
	}
	if n.dir != "" {
		os.RemoveAll(n.dir)
	}
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

// writeCertPEM writes a fresh self-signed certificate (127.0.0.1,
// localhost) and its key as cert.pem and key.pem into dir.
func writeCertPEM(dir string) error {
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	key, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: key})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
}

// freeLoopbackAddrs returns n 127.0.0.1 addresses whose ports were free a
// moment ago.
func freeLoopbackAddrs(n int) ([]string, error) {
	var addrs []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// CPUTime returns the user plus system CPU time used so far by nginx's
// processes (its process group: the master and the worker), from
// /proc, in clock ticks of 10 ms.
func (n *nginxProc) CPUTime() time.Duration {
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	pgid := n.cmd.Process.Pid
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
