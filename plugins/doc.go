// Package plugins runs transportkit backends out of process: a third
// party ships a backend as a binary, without forking transportkit, and the
// registry finds it, checks it and runs it with
// github.com/hashicorp/go-plugin.
//
// # Writing a plugin
//
// Most plugins reach their peers through something (a relay, a proxy, a
// tunnel) and are a dial function: ServeDialer is then the whole of main.
//
//	func main() { plugins.ServeDialer("relay", open) }
//
//	// config is the backend's section of the host's config file.
//	type config struct{ Relay string }
//
//	func open(cfg config, direct plugins.DialFunc) (plugins.DialFunc, error) {
//		return func(ctx context.Context, network, address string) (net.Conn, error) {
//			c, err := direct(ctx, "tcp", cfg.Relay)
//			if err == nil {
//				err = askRelay(c, address) // the relay's own handshake
//			}
//			return c, err
//		}, nil
//	}
//
// Build it as transportkit-backend-relay. open gets the backend's config
// section decoded strictly into its config type (registry.DecodeConfig: unknown
// keys are errors that name the dotted key) and direct, which connects
// with the host's options. The SDK (DialerBackend) makes the rest of a
// transport.Backend: it checks networks and addresses, bounds each Dial by
// its context and Options.ConnectTimeout and closes what direct opened when
// the context ends, wraps errors as *transport.OpError values that still
// match what the dial function's matched (map a refusal to
// syscall.ECONNREFUSED, as a direct connect would), reports the connect
// to the caller's httptrace.ClientTrace, and makes each connection a
// transport.Stream (NewStream) whose remote address is the one asked
// for. A connection that is a kernel socket carrying the stream's bytes
// as they are (the socket to a proxy, once the proxy has connected) is
// handed to the host; any other (*tls.Conn, a tunnel's own type) takes
// the byte path. examples/plugins/socks5 is a complete SOCKS5 plugin on
// the SDK (docs/ARCHITECTURE.md, "Plugin SDK: measurements", has its
// size); "transportctl plugin new NAME" writes a plugin module
// on this SDK, with its tests, ready to build.
//
// A backend that needs more (its own TLS, say, as examples/plugins/tlskeys
// does) is an ordinary transport.Backend served by Serve:
//
//	func main() {
//		err := plugins.Serve(plugins.ServeConfig{
//			Name: "mine",
//			Open: func(opts transport.Options) (transport.Backend, error) { ... },
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//	}
//
// ServeConfig.Open may still use the SDK's parts: OpenDialer builds an
// Open from a dial function, DialerBackend and Direct a backend, and
// NewStream makes a Stream of any net.Conn (in any program, not only in
// plugins).
//
// Package pluginstest has the test helpers: TestBackend serves a
// ServeConfig in the test process (with ServeInProcess: the same protocol
// and stream paths as a plugin process, without building it), TestBuild
// builds the binary and OpenBinary launches it, so a plugin runs
// transport/transporttest's suites both ways. They are kept out of this
// package so that hosts do not link package testing through it.
//
// # How streams travel
//
// Each stream the plugin's backend dials reaches the host one of two
// ways, chosen per stream, and Info(InfoDataPath) tells which:
//
//   - Handoff: a kernel socket carrying the stream's bytes as they are
//     (its Info answers transport.InfoFD, and not InfoTLS) crosses to the
//     host and runs on the host's own backend: it costs nothing per byte
//     and keeps working if the plugin dies. A host out of file descriptors
//     cannot receive one, and the Dial fails at once with a *HandoffError
//     (matching ErrHandoffLost and syscall.EMFILE).
//   - Byte path: any other stream (TLS done in the plugin, tunnels,
//     user-space stacks) is relayed between plugin and host over a unix
//     connection of its own, with half-close, Close and deadlines kept.
//     When a direction ends, the caller gets io.EOF, the plugin's stream's
//     error as a *RemoteError that matches what it matched
//     (syscall.ECONNRESET, a timeout, ...), or, when the plugin died, an
//     *ExitError matching transport.ErrBackendExited.
//
// docs/design/plugins.md has the design of both paths and of the
// protocol between host and plugin.
//
// # The host side
//
// The package registers a discoverer with package registry: binaries named
// transportkit-backend-NAME in the directories of TRANSPORTKIT_PLUGIN_PATH
// and of the config file's plugins.dirs appear as backends "plugin:NAME"
// of kind registry.KindPlugin, with their path, version (from the
// binary's Go build information) and checksum status in Details
// (registry.List shows them). Plugin.Check, Open and Verify do the same
// things directly for one binary.
//
// A plugin is launched on the first Dial of its Backend, never at
// discovery, and only if it passes the trust rules below; go-plugin then
// runs it with gRPC only, versioned protocol negotiation
// (ProtocolVersion), automatic mutual TLS on its control connection and
// an explicit start timeout (ErrStartTimeout). Launch (or
// Backend.Launch) starts it earlier and says how long that took, so that
// a tool timing its first Dial (transportctl probe) reports the connect
// apart from the launch. The plugin logs at the host's level, and its
// logs and stderr reach the Backend's logger under the backend's name
// (plugin:NAME); go-plugin's own messages, on both sides, are logged at
// Trace, its own warnings and errors (a plugin that did not exit
// gracefully, a process that exited, a broken stdout) at Debug: what they
// are about is the error of the call that failed. The end of the plugin's stderr (a panic, say) also goes into the
// *ExitError of a plugin that died.
//
// A Dial reports its connect to the httptrace.ClientTrace of its context
// (ConnectStart, ConnectDone) for the network and address asked for, and
// a handshake done in the plugin (TLSHandshakeStart, TLSHandshakeDone)
// once the plugin answers; the host's own socket and calls to the plugin
// run under a context without the caller's values, so they are never
// reported as the caller's connects.
//
// # Trust
//
// A plugin runs as the user who runs the host, so the host runs only a
// binary that nobody else could have put there or changed, in the spirit
// of OpenSSH's StrictModes. The rules, checked by Plugin.Check, by every
// launch and by Verify, and shown as "refused" with the reason in
// listings (transportctl list):
//
//   - The path is absolute. Directories from the config file's
//     plugins.dirs are resolved against the file's directory; a relative
//     directory in TRANSPORTKIT_PLUGIN_PATH is refused (ErrRelativePath):
//     it would depend on the working directory of whoever runs the host,
//     and a bare name would be looked up in $PATH. Verify takes a
//     relative path from the working directory, as any file named on a
//     command line.
//   - The path is followed from the root one entry at a time, symbolic
//     links included, and every entry on the way (each directory, each
//     link, the binary) must be owned by root or by the user running the
//     host, and no directory may be writable by group or others, unless it
//     is sticky (as /tmp): others then cannot replace the entry below it,
//     which must pass in turn. The directory that holds the binary may
//     not be writable by group or others even when sticky, since anyone
//     could add binaries there. A failure is a *PermissionError (matching
//     ErrInsecureBinary) that names the entry, its mode and owner, and the
//     chmod or chown that fixes it.
//   - A symbolic link that leads out of the plugin directory (as package
//     managers install them) is followed and the rules apply at the
//     binary's real location, the directories on the way there and the
//     links themselves included: the property that matters, that nobody
//     else can change what runs, holds exactly when they pass, so such a
//     link is neither trusted blindly nor refused. Listings show the real
//     location as "real_path", and Description.RealPath has it.
//   - The binary is a regular file, owned by root or the host's user, that
//     group and others cannot write, and has the SHA-256 the config pins
//     for it, if any (*ChecksumError, matching ErrChecksumMismatch).
//
// The file that was checked is the file that runs: a launch opens the
// binary once (at its real path, without following links), checks and
// hashes what it opened, and executes that open file through
// /proc/self/fd, never a path looked up again; swapping the binary after
// the check changes nothing. (go-plugin's SecureConfig is not used: it
// hashes the path separately from the exec.) Once the process runs, the
// kernel lets nobody write to the file; the launch then hashes it again
// when a checksum is pinned, or compares its size and modification time
// otherwise, and a binary written to in place during the launch is ended
// and refused (ErrBinaryChanged).
//
// Plugins are managed: each runs in a process group of its own, which the
// host kills as soon as the plugin exits, so nothing it started outlives
// it. Closing the Backend ends it (Cleanup ends every one): the plugin is
// asked to shut down and killed if it has not exited within a few
// seconds, and a launch in progress is aborted, so Close never hangs on a
// stopped or unresponsive plugin. A plugin whose host died ends itself
// and its children. The Dial after a plugin died launches it again, after
// a backoff that grows while it keeps dying.
//
// The host side needs Linux (process groups, waitid, SCM_RIGHTS);
// elsewhere plugins are listed as unavailable, with the reason.
package plugins
