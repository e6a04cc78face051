package plugins

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"

	"github.com/transportkit/transportkit/transport"
)

var (
	// ErrChecksumMismatch is matched by the error of a plugin whose binary
	// does not have the SHA-256 the config pins: the plugin is not
	// started. The error is a *ChecksumError.
	ErrChecksumMismatch = errors.New("plugins: checksum mismatch")

	// ErrInsecureBinary is matched by the error of a plugin that someone
	// other than root and the user running the host could replace: the
	// binary, or a directory or symbolic link on the way to it, is
	// writable by group or others or owned by another user (see the
	// package doc, "Trust"). Whoever can replace it could run code as the
	// host, so it is not started. The error is a *PermissionError.
	ErrInsecureBinary = errors.New("plugins: plugin binary could be replaced by another user")

	// ErrRelativePath is matched by the error of a plugin whose path is
	// relative, such as one found through a relative directory in
	// TRANSPORTKIT_PLUGIN_PATH: it would name another file in every
	// working directory, and executing it by a bare name would search
	// $PATH. It is not started.
	ErrRelativePath = errors.New("plugins: relative plugin path")

	// ErrBinaryChanged is matched by the error of a launch during which
	// the plugin binary was modified in place, between the check of its
	// contents and the start of the process: the process is ended.
	ErrBinaryChanged = errors.New("plugins: plugin binary changed during launch")

	// ErrHandoffLost is matched by the error of a Dial whose socket the
	// plugin handed off but whose descriptor never reached the host: the
	// kernel dropped it and flagged the message truncated (MSG_CTRUNC),
	// most often because the host is out of file descriptors (the error
	// then also matches syscall.EMFILE or syscall.ENFILE). The
	// connection is lost; the Dial fails at once. The error is a
	// *HandoffError.
	ErrHandoffLost = errors.New("plugins: handed-off socket lost")

	// ErrStartTimeout is matched by the error of a plugin that did not
	// complete go-plugin's handshake within its start timeout.
	ErrStartTimeout = errors.New("plugins: plugin did not start in time")

	// ErrNotPlugin is matched by the error of a launch, or a Verify, of
	// a file that is not a transportkit plugin at all: not a regular
	// file, a file the system cannot execute (no execute permission, not
	// a program), or a program that does not carry the plugin handshake
	// of this package (it was not built on plugins.Serve) and ended or
	// timed out without answering it, such as /bin/true. A plugin
	// binary that fails before its handshake (a crash at start) is not
	// such an error: its error is an *ExitError or matches
	// ErrStartTimeout. The error is a *NotPluginError.
	ErrNotPlugin = errors.New("plugins: not a transportkit plugin")
)

// OpenError reports that a plugin refused to open its backend with the
// options it was given (its Open returned an error): most often its
// section of the config file, Options.Config, is wrong (an unknown key, a
// missing or malformed value). The plugin process is ended.
type OpenError struct {
	// Plugin is the backend's name ("plugin:socks5").
	Plugin string
	// Err is the plugin's error, a *RemoteError whose message is the
	// plugin's (for a config decoded with DecodeConfig, the field and
	// what is wrong with it).
	Err error
}

func (e *OpenError) Error() string {
	return "plugins: " + e.Plugin + " refused its options and config: " + e.Err.Error()
}

// Unwrap returns Err.
func (e *OpenError) Unwrap() error { return e.Err }

// NotPluginError reports that the file at Path is not a transportkit
// plugin, and why. It matches ErrNotPlugin, and through Err what the
// launch saw (an *ExitError, ErrStartTimeout, syscall.ENOEXEC, ...).
type NotPluginError struct {
	// Path is the plugin path as given.
	Path string
	// Reason says what was found instead of a plugin.
	Reason string
	// Err is the launch's own error; nil when the file was refused
	// before a launch.
	Err error
}

func (e *NotPluginError) Error() string {
	return "plugins: " + e.Path + " is not a transportkit plugin: " + e.Reason
}

// Is reports whether target is ErrNotPlugin.
func (e *NotPluginError) Is(target error) bool { return target == ErrNotPlugin }

// Unwrap returns Err.
func (e *NotPluginError) Unwrap() error { return e.Err }

// ChecksumError reports a plugin binary whose SHA-256 is not the pinned
// one. It matches ErrChecksumMismatch.
type ChecksumError struct {
	// Path is the binary.
	Path string
	// Want is the pinned hex SHA-256, Got the binary's.
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugins: %s: checksum mismatch: the config pins sha256 %s but the binary has %s; refusing to start it", e.Path, e.Want, e.Got)
}

// Is reports whether target is ErrChecksumMismatch.
func (e *ChecksumError) Is(target error) bool { return target == ErrChecksumMismatch }

// PermissionError reports a plugin that the trust rules refuse (see the
// package doc): the binary, or a directory or symbolic link on the way to
// it, that someone other than root and the user running the host could
// change. It matches ErrInsecureBinary.
type PermissionError struct {
	// Path is what the rules refuse: the binary itself, or a directory or
	// symbolic link on the way to it (at its real location, symbolic
	// links resolved).
	Path string
	// Plugin is the plugin binary's path as given; it equals Path when
	// the binary itself is refused.
	Plugin string
	// Mode is Path's type and permission bits (sticky included).
	Mode fs.FileMode
	// UID is Path's owner.
	UID int
	// Holder reports that Path is the directory holding the binary,
	// which must not be writable by group or others even when sticky.
	Holder bool
}

func (e *PermissionError) Error() string {
	plugin := e.Plugin
	if plugin == "" {
		plugin = e.Path
	}
	what := "the binary"
	switch {
	case e.Mode&fs.ModeSymlink != 0:
		what = "the symbolic link " + e.Path
	case e.Mode.IsDir():
		what = "the directory " + e.Path
	case e.Path != plugin:
		what = "the binary's real location " + e.Path
	}
	if !trustedOwner(e.UID) {
		return fmt.Sprintf("plugins: %s: %s is owned by uid %d, neither root nor the user running the host (uid %d), who could replace the plugin; refusing to start it (chown root %s)",
			plugin, what, e.UID, os.Geteuid(), e.Path)
	}
	if e.Mode.IsDir() {
		why := "lets group or others replace the plugin"
		if e.Holder && e.Mode&fs.ModeSticky != 0 {
			why = "lets group or others add binaries beside the plugin (sticky or not, it may not be writable by them as the binary's own directory)"
		}
		return fmt.Sprintf("plugins: %s: %s has mode %v, which %s; refusing to start it (chmod go-w %s)", plugin, what, e.Mode, why, e.Path)
	}
	return fmt.Sprintf("plugins: %s: mode %v lets group or others write %s; refusing to start it (chmod go-w %s)", plugin, e.Mode, what, e.Path)
}

// Is reports whether target is ErrInsecureBinary.
func (e *PermissionError) Is(target error) bool { return target == ErrInsecureBinary }

// HandoffError reports a handed-off socket whose descriptor the host did
// not receive. It matches ErrHandoffLost, and Err.
type HandoffError struct {
	// Err is why, when the host could tell: syscall.EMFILE or
	// syscall.ENFILE. Nil otherwise (a plugin that sent more descriptors
	// than the protocol allows, say).
	Err error
}

func (e *HandoffError) Error() string {
	s := "plugins: the plugin handed off the socket, but its descriptor did not reach the host (message truncated, MSG_CTRUNC)"
	if e.Err != nil {
		s += ": " + e.Err.Error() + "; the host is out of file descriptors (raise its limit, ulimit -n, or hold fewer connections)"
	}
	return s
}

// Is reports whether target is ErrHandoffLost.
func (e *HandoffError) Is(target error) bool { return target == ErrHandoffLost }

// Unwrap returns Err.
func (e *HandoffError) Unwrap() error { return e.Err }

// ExitError reports that a plugin process exited, or that the host lost
// its control connection to it (and then ended it). It matches
// transport.ErrBackendExited.
type ExitError struct {
	// Plugin is the backend's name ("plugin:socks5").
	Plugin string
	// Status is how the process ended ("exit status 2", "signal:
	// killed"), or why it was ended; empty if not known yet.
	Status string
	// Output is the end of what the process wrote to its stderr, such as
	// a panic and its stack; empty if it wrote nothing.
	Output string
}

func (e *ExitError) Error() string {
	s := "plugins: " + e.Plugin + ": plugin process exited"
	if e.Status != "" {
		s += " (" + e.Status + ")"
	}
	if e.Output != "" {
		s += "; its last output:\n" + e.Output
	}
	return s
}

// Is reports whether target is transport.ErrBackendExited.
func (e *ExitError) Is(target error) bool { return target == transport.ErrBackendExited }

// RemoteError is an error that happened inside the plugin process,
// carried to the host. Error returns the plugin's message; errors.Is
// matches what the plugin's error matched among the errors the protocol
// knows: syscall.Errno values (such as syscall.ECONNREFUSED),
// transport.ErrTimeout (and so os.ErrDeadlineExceeded),
// context.Canceled, transport.ErrUnsupported, net.ErrClosed,
// transport.ErrUnavailable and io.EOF; errors.As finds a tls.AlertError.
type RemoteError struct {
	// Message is the plugin's error text.
	Message string
	causes  []error
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the known errors the plugin's error matched.
func (e *RemoteError) Unwrap() []error { return e.causes }

// Timeout reports whether the plugin's error was a timeout.
func (e *RemoteError) Timeout() bool { return errors.Is(e, transport.ErrTimeout) }

// wireError is an error in transit: its text and what it matched.
type wireError struct {
	Message string   `json:"message"`
	Kinds   []string `json:"kinds,omitempty"`
	Errno   int      `json:"errno,omitempty"`
	Alert   int      `json:"tls_alert,omitempty"`
}

// errorKinds are the sentinels an error can match across the protocol.
var errorKinds = []struct {
	name string
	err  error
}{
	{"timeout", transport.ErrTimeout},
	{"canceled", context.Canceled},
	{"unsupported", transport.ErrUnsupported},
	{"closed", net.ErrClosed},
	{"unavailable", transport.ErrUnavailable},
	{"exited", transport.ErrBackendExited},
	{"eof", io.EOF},
	{"unexpected_eof", io.ErrUnexpectedEOF},
}

// encodeError puts err in transit. A *transport.OpError is unwrapped
// first: the host builds its own around the cause.
func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	var oe *transport.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	w := &wireError{Message: err.Error()}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			w.Kinds = append(w.Kinds, k.name)
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, transport.ErrTimeout) {
		w.Kinds = append(w.Kinds, "timeout")
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		w.Errno = int(errno)
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		w.Alert = int(alert) + 1 // 0 means none
	}
	return w
}

// decode rebuilds the error as a *RemoteError; nil stays nil.
func (w *wireError) decode() error {
	if w == nil {
		return nil
	}
	e := &RemoteError{Message: w.Message}
	for _, name := range w.Kinds {
		for _, k := range errorKinds {
			if k.name == name {
				e.causes = append(e.causes, k.err)
			}
		}
	}
	if w.Errno != 0 {
		e.causes = append(e.causes, syscall.Errno(w.Errno))
	}
	if w.Alert > 0 {
		e.causes = append(e.causes, tls.AlertError(w.Alert-1))
	}
	return e
}

// isTimeout reports whether err is a timeout, by either convention.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
