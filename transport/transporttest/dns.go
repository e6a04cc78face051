package transporttest

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer answers DNS queries in process, over net.Pipe connections
// handed to a net.Resolver's Dial, so a Resolver check touches no network.
// Every A query is answered with ip; other types get an empty answer.
type dnsServer struct {
	ip      [4]byte
	queries *atomic.Int32
	wg      sync.WaitGroup
}

func newDNSServer(ip net.IP, queries *atomic.Int32) *dnsServer {
	s := &dnsServer{queries: queries}
	copy(s.ip[:], ip.To4())
	return s
}

// resolver returns a pure Go resolver whose every connection is served
// by s.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			s.wg.Go(func() { s.serve(server) })
			return client, nil
		},
	}
}

// wait waits for every connection to be closed by the resolver.
func (s *dnsServer) wait() { s.wg.Wait() }

// serve answers length-prefixed queries on c (DNS over a stream, which
// the resolver uses for a net.Conn that is not a PacketConn) until the
// resolver closes it.
func (s *dnsServer) serve(c net.Conn) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp, err := s.answer(q)
		if err != nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// answer builds the response to one query.
func (s *dnsServer) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	s.queries.Add(1)
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: h.ID, Response: true, Authoritative: true, RecursionAvailable: true,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if q.Type == dnsmessage.TypeA {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60}
		if err := b.AResource(rh, dnsmessage.AResource{A: s.ip}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
