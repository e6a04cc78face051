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
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func main() {
	proxy := flag.String("proxy", "127.0.0.1:1080", "the SOCKS5 proxy's host:port")
	target := flag.String("target", "", "the host:port to send GET / to")
	flag.Parse()
	if *target == "" {
		flag.Usage()
		os.Exit(2)
	}
	defer plugins.Cleanup()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, path, err := get(ctx, *proxy, *target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s (data path: %s)\n", status, path)
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
