package parity

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/transportkit/transportkit/protocols"
)

// The fields and methods of protocols.Transport that a net/http user
// expects and that the suite needs, set here and only here. Each feature
// has one function, which sets the field of the same name and type as
// http.Transport's:
//
//	Proxy               func(*http.Request) (*url.URL, error)   setProxy
//	ProxyConnectHeader  http.Header                             setProxyConnectHeader
//	DisableCompression  bool                                    setDisableCompression
//	MaxIdleConns        int                                     setMaxIdleConns
//	Clone()             *Transport                              cloneTransport
//
// They set the field by name through package reflect, so that the suite
// compiles against a Transport that does not have it yet: a run that
// needs a missing field or method is skipped with the reason (the only
// skips of the suite besides unreachable servers, and all made by
// setField and cloneTransport). Once a field exists, it is set like any
// other and the run takes part; a field of another type fails the run.

// setProxy sets Transport.Proxy.
func setProxy(t *testing.T, tr *protocols.Transport, f func(*http.Request) (*url.URL, error)) {
	setField(t, tr, "Proxy", f)
}

// setProxyConnectHeader sets Transport.ProxyConnectHeader.
func setProxyConnectHeader(t *testing.T, tr *protocols.Transport, h http.Header) {
	setField(t, tr, "ProxyConnectHeader", h)
}

// setDisableCompression sets Transport.DisableCompression.
func setDisableCompression(t *testing.T, tr *protocols.Transport, on bool) {
	setField(t, tr, "DisableCompression", on)
}

// setMaxIdleConns sets Transport.MaxIdleConns.
func setMaxIdleConns(t *testing.T, tr *protocols.Transport, n int) {
	setField(t, tr, "MaxIdleConns", n)
}

// cloneTransport returns tr.Clone().
func cloneTransport(t *testing.T, tr *protocols.Transport) *protocols.Transport {
	m := reflect.ValueOf(tr).MethodByName("Clone")
	if !m.IsValid() {
		t.Skip("missing API: protocols.Transport has no Clone method yet")
	}
	out := m.Call(nil)
	c, ok := out[0].Interface().(*protocols.Transport)
	if len(out) != 1 || !ok {
		t.Fatalf("protocols.Transport.Clone is %s, want func() *Transport", m.Type())
	}
	return c
}

// setField sets tr's exported field name to value, skipping the run when
// the field does not exist.
func setField(t *testing.T, tr *protocols.Transport, name string, value any) {
	t.Helper()
	f := reflect.ValueOf(tr).Elem().FieldByName(name)
	if !f.IsValid() || !f.CanSet() {
		t.Skipf("missing API: protocols.Transport has no %s field yet", name)
	}
	v := reflect.ValueOf(value)
	if !v.Type().AssignableTo(f.Type()) {
		t.Fatalf("protocols.Transport.%s is %s; the suite sets a %s, as http.Transport has", name, f.Type(), v.Type())
	}
	f.Set(v)
}
