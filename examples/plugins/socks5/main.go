// Command socks5 sends an HTTP/1.0 GET through the socks5 plugin backend
// and prints the response's status line and how the stream's bytes
// travelled (the plugin hands its sockets to the host: "handoff").
//
// The plugin binary is found by the registry in TRANSPORTKIT_PLUGIN_PATH;
// see README.md for the commands.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the program with its arguments and output; it returns the exit
// code: 2 for bad arguments, 1 if the request failed.
func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	proxy := flags.String("proxy", "127.0.0.1:1080", "the SOCKS5 proxy's host:port")
	target := flags.String("target", "", "the host:port to send GET / to")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // -h, as flag.ExitOnError does
		}
		return 2
	}
	if *target == "" {
		flags.Usage()
		return 2
	}
	defer plugins.Cleanup()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, path, err := get(ctx, *proxy, *target)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s (data path: %s)\n", status, path)
	return 0
}

// get opens plugin:socks5 for proxy, sends GET / to target through it and
// returns the response's status line and the stream's data path.
func get(ctx context.Context, proxy, target string) (status, path string, err error) {
	cfg, err := json.Marshal(map[string]string{"proxy": proxy})
	if err != nil {
		return "", "", err
	}
	b, err := registry.Open("plugin:socks5", transport.Options{Config: cfg})
	if err != nil {
		return "", "", err
	}
	defer b.Close()
	s, err := b.Dial(ctx, "tcp", target)
	if err != nil {
		return "", "", err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return "", "", err
	}
	if _, err := fmt.Fprintf(s, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host); err != nil {
		return "", "", err
	}
	line, err := bufio.NewReader(s).ReadString('\n')
	if err != nil {
		return "", "", err
	}
	v, _ := s.Info(plugins.InfoDataPath)
	path, _ = v.(string)
	return strings.TrimSpace(line), path, nil
}
