package stdnet_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
)

func ExampleNew() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello"))
			c.Close()
		}
	}()

	b, err := stdnet.Open(transport.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	s, err := b.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, 5)
	n, _ := s.Read(buf)
	backend, _ := s.Info(transport.InfoBackend)
	fmt.Printf("%s from %s\n", buf[:n], backend)
	// Output: hello from stdnet
}

func ExampleBackend_Dial_unsupported() {
	b, err := stdnet.Open(transport.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	_, err = b.Dial(context.Background(), "udp", "127.0.0.1:53")
	fmt.Println(err)
	// Output: stdnet: dial udp 127.0.0.1:53: network "udp": transport: unsupported
}
