package transport_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/transport"
)

func TestOptionsDefaults(t *testing.T) {
	var o transport.Options
	if !o.NoDelay() {
		t.Error("zero Options: NoDelay() is false")
	}
	if got := o.KeepAlivePeriod(); got != transport.DefaultKeepAlive {
		t.Errorf("zero Options: KeepAlivePeriod() = %v, want %v", got, transport.DefaultKeepAlive)
	}
	if o.Log() == nil {
		t.Error("zero Options: Log() is nil")
	}
	if o.LookupResolver() != net.DefaultResolver {
		t.Error("zero Options: LookupResolver() is not net.DefaultResolver")
	}
}

func TestOptionsSet(t *testing.T) {
	logger := hclog.NewNullLogger()
	resolver := &net.Resolver{PreferGo: true}
	o := transport.Options{DisableNoDelay: true, KeepAlive: 7 * time.Second, Logger: logger, Resolver: resolver}
	if o.NoDelay() {
		t.Error("DisableNoDelay: NoDelay() is true")
	}
	if got := o.KeepAlivePeriod(); got != 7*time.Second {
		t.Errorf("KeepAlivePeriod() = %v, want 7s", got)
	}
	if o.Log() != logger || o.LookupResolver() != resolver {
		t.Error("Log or LookupResolver did not return the configured value")
	}
	o.KeepAlive = -1
	if got := o.KeepAlivePeriod(); got >= 0 {
		t.Errorf("negative KeepAlive: KeepAlivePeriod() = %v, want negative (off)", got)
	}
}

func TestConnectContext(t *testing.T) {
	var o transport.Options
	ctx, cancel := o.ConnectContext(context.Background())
	if _, ok := ctx.Deadline(); ok {
		t.Error("no ConnectTimeout: the context has a deadline")
	}
	cancel()
	if ctx.Err() == nil {
		t.Error("cancel did not cancel the context")
	}

	o.ConnectTimeout = time.Hour
	before := time.Now()
	ctx, cancel = o.ConnectContext(context.Background())
	defer cancel()
	d, ok := ctx.Deadline()
	if !ok || d.Before(before.Add(time.Hour)) {
		t.Errorf("ConnectTimeout 1h: deadline %v, %v; want about an hour from now", d, ok)
	}

	// A nearer parent deadline wins.
	parent, pcancel := context.WithTimeout(context.Background(), time.Minute)
	defer pcancel()
	ctx, cancel = o.ConnectContext(parent)
	defer cancel()
	pd, _ := parent.Deadline()
	if d, _ := ctx.Deadline(); !d.Equal(pd) {
		t.Errorf("deadline %v, want the parent's %v", d, pd)
	}
}
