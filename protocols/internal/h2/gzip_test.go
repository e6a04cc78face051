package h2

import (
	"net/http"
	"testing"

	"github.com/transportkit/transportkit/protocols/internal/prototest"
)

func TestCompression(t *testing.T) {
	h := prototest.NewGzipHandler(t)
	for _, tc := range prototest.CompressionCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			c := mockH2C(t, h, 0, Options{DisableCompression: tc.DisableCompression})
			req, _ := http.NewRequestWithContext(testContext(t), tc.Method, "http://h2c.test/", nil)
			before := tc.Request(req)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			tc.CheckResponse(t, h, req, before, resp)
			if st := c.State(); st.Active != 0 {
				t.Errorf("%d requests still active after the body was closed", st.Active)
			}
		})
	}
}

func TestCompressionCorruptBody(t *testing.T) {
	cases := append(prototest.CorruptCases(t), prototest.CorruptCase{Name: "empty", Body: []byte{}, Want: nil})
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			c := mockH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush() // a body follows, even when empty
				w.Write(tc.Body)
			}), 0, Options{})
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://h2c.test/", nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			prototest.CheckCorrupt(t, resp, tc.Want)
		})
	}
}
