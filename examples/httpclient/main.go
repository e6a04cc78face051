// Command httpclient fetches URLs with a net/http.Client whose transport
// is transportkit's: connections are dialed through the backend chosen by
// flag, environment or config file, and pooled.
//
// Usage:
//
//	httpclient [-backend NAME] [-config FILE] [-n COUNT] [-timeout D] [-v] URL...
//
// The backend is, strongest first: -backend, TRANSPORTKIT_BACKEND, the
// "backend" of the config file (-config or TRANSPORTKIT_CONFIG), and the
// default chain (stdnet; on Linux epoll when stdnet is not linked).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	_ "github.com/transportkit/transportkit/backends/all"
	"github.com/transportkit/transportkit/protocols"
	"github.com/transportkit/transportkit/registry"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "httpclient:", err)
		os.Exit(1)
	}
}

// run parses args, fetches each URL count times and prints one line per
// response, then the pool's dial count.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("httpclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backend := fs.String("backend", "", "backend name (overrides TRANSPORTKIT_BACKEND and the config file)")
	config := fs.String("config", "", "config file (default: TRANSPORTKIT_CONFIG)")
	count := fs.Int("n", 1, "times to fetch each URL")
	timeout := fs.Duration("timeout", 30*time.Second, "limit for each request")
	cafile := fs.String("cacert", "", "PEM file of extra trusted CA certificates")
	verbose := fs.Bool("v", false, "print bodies and log the backend choice")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no URL given")
	}
	level := hclog.Warn
	if *verbose {
		level = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "httpclient", Level: level, Output: stderr})

	b, choice, err := registry.Select(registry.Selection{Name: *backend, ConfigPath: *config, Logger: logger})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(stdout, "backend %s (%s)\n", choice.Name, choice.Reason)

	tr := &protocols.Transport{Backend: b, Logger: logger}
	if *cafile != "" {
		pem, err := os.ReadFile(*cafile)
		if err != nil {
			return err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", *cafile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: *timeout}

	for _, url := range fs.Args() {
		for i := 0; i < *count; i++ {
			if err := fetch(ctx, client, url, stdout, *verbose); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stdout, "dials %d\n", tr.Stats().Dials)
	return nil
}

func fetch(ctx context.Context, client *http.Client, url string, stdout io.Writer, verbose bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: reading body: %w", url, err)
	}
	fmt.Fprintf(stdout, "%s %s %s %d bytes\n", url, resp.Proto, resp.Status, len(body))
	if verbose {
		stdout.Write(body)
		fmt.Fprintln(stdout)
	}
	return nil
}
