package h1

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/protocols/internal/prototest"
)

func TestCompression(t *testing.T) {
	h := prototest.NewGzipHandler(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range prototest.CompressionCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			c, log := newDialer(t).conn(t, addr, Options{DisableCompression: tc.DisableCompression})
			req := newReq(t, tc.Method, addr, nil)
			before := tc.Request(req)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			tc.CheckResponse(t, h, req, before, resp)
			if d := log.get(); len(d) != 1 || !d[0] {
				t.Errorf("OnDone %v, want [true]: the connection is reusable", d)
			}
		})
	}
}

func TestCompressionCorruptBody(t *testing.T) {
	cases := append(prototest.CorruptCases(t), prototest.CorruptCase{Name: "empty chunked", Want: nil})
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			head := "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + strconv.Itoa(len(tc.Body)) + "\r\n\r\n"
			if tc.Body == nil {
				head = "HTTP/1.1 200 OK\r\nContent-Encoding: GZIP\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
			}
			srv := newRawServer(t, respondEach(head+string(tc.Body)))
			c, _ := newDialer(t).conn(t, srv.Addr(), Options{})
			resp, err := c.RoundTrip(newReq(t, "GET", srv.Addr(), nil))
			if err != nil {
				t.Fatal(err)
			}
			prototest.CheckCorrupt(t, resp, tc.Want)
		})
	}
}
