package transport

import (
	"context"
	"encoding/json"
	"net"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultKeepAlive is the TCP keep-alive period used when
// Options.KeepAlive is zero.
const DefaultKeepAlive = 15 * time.Second

// Options configure a Backend when it is opened. The zero value is ready to
// use: TCP_NODELAY on, keep-alive probes every DefaultKeepAlive, no connect
// timeout beyond the context, the default resolver, no logging.
type Options struct {
	// ConnectTimeout bounds each Dial, name resolution included, on top of
	// the context's own deadline. If zero, only the context bounds a Dial.
	ConnectTimeout time.Duration

	// LocalAddr is the local address to bind before connecting: a
	// *net.TCPAddr for TCP networks, a *net.UnixAddr for "unix". If nil, the
	// system picks one.
	LocalAddr net.Addr

	// DisableNoDelay turns Nagle's algorithm back on. If false (the
	// default), TCP_NODELAY is set on every TCP stream.
	DisableNoDelay bool

	// KeepAlive is the TCP keep-alive period. If zero, DefaultKeepAlive is
	// used; if negative, keep-alive probes are off.
	KeepAlive time.Duration

	// Control, if not nil, is called with each socket after it is created
	// and before it connects, like net.Dialer.Control: the place to set
	// socket options. An error from it fails the Dial and closes the socket.
	Control func(network, address string, c syscall.RawConn) error

	// Resolver looks up host names. If nil, net.DefaultResolver is used.
	Resolver *net.Resolver

	// Logger receives the backend's logs. If nil, nothing is logged.
	Logger hclog.Logger

	// Config holds backend-specific settings as a JSON object, taken from
	// the config file's section for the backend. A backend rejects fields
	// it does not know. If empty, the backend's defaults apply.
	Config json.RawMessage
}

// NoDelay reports whether TCP_NODELAY is to be set.
func (o *Options) NoDelay() bool { return !o.DisableNoDelay }

// KeepAlivePeriod returns the keep-alive period to use, or a negative
// duration when keep-alive is off.
func (o *Options) KeepAlivePeriod() time.Duration {
	if o.KeepAlive == 0 {
		return DefaultKeepAlive
	}
	return o.KeepAlive
}

// Log returns the logger to use, never nil.
func (o *Options) Log() hclog.Logger {
	if o.Logger == nil {
		return hclog.NewNullLogger()
	}
	return o.Logger
}

// LookupResolver returns the resolver to use, never nil.
func (o *Options) LookupResolver() *net.Resolver {
	if o.Resolver == nil {
		return net.DefaultResolver
	}
	return o.Resolver
}

// ConnectContext derives the context a Dial runs under: ctx bounded by
// ConnectTimeout when it is set. The caller must call the returned cancel.
func (o *Options) ConnectContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.ConnectTimeout > 0 {
		return context.WithTimeout(ctx, o.ConnectTimeout)
	}
	return context.WithCancel(ctx)
}
