package protocols

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/protocols/internal/h2"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// oneAddrBackend dials every address at addr: many origins, one server.
type oneAddrBackend struct {
	transport.Backend
	addr string
}

func (b oneAddrBackend) Dial(ctx context.Context, network, _ string) (transport.Stream, error) {
	return b.Backend.Dial(ctx, network, b.addr)
}

// heapLive returns the bytes of live heap objects after collecting
// twice: what is still referenced, not the spans they sit in (HeapInuse
// also counts the free space of partly used spans, which moves by a
// megabyte with the allocation pattern, under -race more).
func heapLive() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// preGrowGoroutines runs n goroutines at once and waits until they end,
// so that the runtime's store of goroutine descriptors holds n.
func preGrowGoroutines(n int) {
	var started, done sync.WaitGroup
	release := make(chan struct{})
	for range n {
		started.Add(1)
		done.Go(func() {
			started.Done()
			<-release
		})
	}
	started.Wait()
	close(release)
	done.Wait()
}

// TestTransportManyOrigins contacts 10,000 distinct origins (host names
// dialed at one loopback server) and shows that once their connections
// idled out, the transport keeps nothing for them: no pool, no
// goroutine, and the heap back near where it started.
func TestTransportManyOrigins(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	}))
	defer srv.Close()
	b := realBackends()[0].open(t)
	defer b.Close()
	tr := &Transport{Backend: oneAddrBackend{b, serverAddr(srv)}, IdleConnTimeout: 100 * time.Millisecond, Proxy: NoProxy}
	defer tr.Close()

	// Warm up (one origin) so that one-time allocations are in the
	// baseline.
	getBody(t, tr, "http://warm.test/")
	testenv.Eventually(t, 10*time.Second, func() bool { return poolCount(tr) == 0 })
	const origins, workers = 10000, 8
	// The test server runs a goroutine per connection, up to one per
	// origin at once, and the runtime keeps the descriptor of every
	// goroutine that ever ran for reuse, a few hundred bytes each, never
	// freed. That is the server's cost, in this process only because the
	// server is: run as many goroutines once before the baseline so that
	// their descriptors are in it.
	preGrowGoroutines(origins + 2*workers)
	baseHeap, baseG := heapLive(), runtime.NumGoroutine()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < origins; i += workers {
				host := fmt.Sprintf("o%d.test", i)
				req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != host {
					errs <- fmt.Errorf("%s: got %q, %v", host, body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if d := tr.Stats().Dials; d < origins+1 {
		t.Fatalf("%d dials, want one per origin at least (%d)", d, origins+1)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return poolCount(tr) == 0 && tr.Stats().Open == 0 })
	testenv.Eventually(t, 10*time.Second, func() bool { return runtime.NumGoroutine() <= baseG+2 })
	heap := heapLive()
	const bound = 1 << 20 // a hostPool alone is ~400 bytes: 4 MB for 10,000
	t.Logf("live heap: %d KiB before, %d KiB after %d origins", baseHeap>>10, heap>>10, origins)
	if heap > baseHeap+bound {
		t.Fatalf("live heap grew by %d KiB over %d origins, want under %d KiB", (heap-baseHeap)>>10, origins, bound>>10)
	}
}

// TestTransportMaxIdleConns: over the limit, the connection idle the
// longest, whatever its origin, is closed; the others are reused.
func TestTransportMaxIdleConns(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.MaxIdleConns = 2
	tr.Proxy = NoProxy
	for _, h := range []string{"a.test:80", "b.test:80", "c.test:80"} {
		b.Handle(h, mock.HandlerPeer(helloHandler(), mock.HTTP1))
	}
	for _, h := range []string{"a", "b", "a", "c"} {
		getBody(t, tr, "http://"+h+".test/")
	}
	// a was used after b: b is the oldest idle one when c goes idle.
	if s := tr.Stats(); s.Idle != 2 || s.Open != 2 || s.Dials != 3 {
		t.Fatalf("stats %+v, want 2 idle and open of 3 dialed", s)
	}
	conns := b.Conns()
	select {
	case <-conns[1].Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the oldest idle connection (b) was not closed")
	}
	for _, c := range []*mock.Conn{conns[0], conns[2]} {
		select {
		case <-c.Done():
			t.Fatalf("connection to %s closed", c.Address())
		default:
		}
	}
	getBody(t, tr, "http://a.test/")
	getBody(t, tr, "http://c.test/")
	if d := tr.Stats().Dials; d != 3 {
		t.Fatalf("%d dials after reusing a and c, want 3", d)
	}
	getBody(t, tr, "http://b.test/")
	if s := tr.Stats(); s.Dials != 4 || s.Idle != 2 {
		t.Fatalf("stats %+v after b again, want 4 dials and 2 idle", s)
	}
}

// TestTransportPoolRemovedOnClose: a pool whose connections were closed
// (not idled) goes too, with IdleConnTimeout negative as well, and a
// request after gets a new pool.
func TestTransportPoolRemovedOnClose(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.DisableKeepAlives = true
	tr.Proxy = NoProxy
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	getBody(t, tr, "http://a.test/")
	if n := poolCount(tr); n != 1 {
		t.Fatalf("%d pools, want 1", n)
	}
	tr.sweep() // the janitor's run
	if n := poolCount(tr); n != 0 {
		t.Fatalf("%d pools after the janitor, want 0", n)
	}
	getBody(t, tr, "http://a.test/")
	if n := poolCount(tr); n != 1 {
		t.Fatalf("%d pools, want 1", n)
	}
}

// TestTransportClone: every exported field is copied, the pointers and
// slices that net/http's Clone copies are not shared, and no state is.
func TestTransportClone(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	tr.Proxy = NoProxy
	getBody(t, tr, "http://a.test/")
	// Set every exported field to something other than its zero value.
	v := reflect.ValueOf(tr).Elem()
	set := map[string]any{
		"Selection":              registry.Selection{Name: "mock"},
		"ProxyConnectHeader":     http.Header{"X-A": {"1"}},
		"GetProxyConnectHeader":  func(context.Context, *url.URL, string) (http.Header, error) { return nil, nil },
		"OnProxyConnectResponse": func(context.Context, *url.URL, *http.Request, *http.Response) error { return nil },
		"TLSClientConfig":        &tls.Config{ServerName: "x"},
		"NextProtos":             []string{ProtoHTTP11},
		"HTTP2":                  h2.Options{MaxHeaderListSize: 7},
		"Logger":                 hclog.NewNullLogger(),
		"UserAgent":              "ua",
	}
	for i := range v.NumField() {
		f, ft := v.Field(i), v.Type().Field(i)
		if !ft.IsExported() || !f.IsZero() {
			continue
		}
		if x, ok := set[ft.Name]; ok {
			f.Set(reflect.ValueOf(x))
			continue
		}
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.String:
			f.SetString(ft.Name)
		default:
			t.Fatalf("field %s (%s): the test does not know how to set it", ft.Name, ft.Type)
		}
	}
	c := tr.Clone()
	cv := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		ft := v.Type().Field(i)
		if !ft.IsExported() {
			continue
		}
		a, b := v.Field(i), cv.Field(i)
		if a.Kind() == reflect.Func {
			if a.Pointer() != b.Pointer() {
				t.Errorf("Clone: %s differs", ft.Name)
			}
			continue
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			t.Errorf("Clone: %s = %v, want %v", ft.Name, b.Interface(), a.Interface())
		}
	}
	if c.TLSClientConfig == tr.TLSClientConfig || &c.NextProtos[0] == &tr.NextProtos[0] {
		t.Error("Clone shares TLSClientConfig or NextProtos")
	}
	c.ProxyConnectHeader.Set("X-A", "2")
	if tr.ProxyConnectHeader.Get("X-A") != "1" {
		t.Error("Clone shares ProxyConnectHeader")
	}
	if poolCount(c) != 0 || c.Stats().Dials != 0 {
		t.Errorf("the clone has state: %d pools, %+v", poolCount(c), c.Stats())
	}
	c.Close()
}

// TestTransportPoolRemovedUnderCaller: when the janitor takes a pool off
// the map between a caller's lookup and its get, the caller looks again
// and the request goes on, reported once to GetConn.
func TestTransportPoolRemovedUnderCaller(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.Proxy = NoProxy
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	gets := 0
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GetConn: func(string) {
		gets++
		tr.sweep() // the fresh pool is empty: it goes
	}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://a.test/", nil)
	resp, body, err := do(t, tr, req)
	if err != nil || resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("got %v %q %v", resp, body, err)
	}
	if gets != 1 || poolCount(tr) != 1 {
		t.Fatalf("%d GetConn, %d pools; want 1 and 1", gets, poolCount(tr))
	}
}
