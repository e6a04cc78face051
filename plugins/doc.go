// Package plugins runs transportkit backends out of process: a third
// party ships a backend as a binary, without forking transportkit, and the
// registry finds it, checks it and runs it with
// github.com/hashicorp/go-plugin.
//
// # Writing a plugin
//
// A plugin author writes an ordinary transport.Backend and a main that
// calls Serve:
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
// and builds it as transportkit-backend-mine. TestBackend serves the same
// ServeConfig in the test process through go-plugin's gRPC test
// connection, so the transporttest suites run against the plugin without
// building it; Build and TestBuild build the binary for tests that run it
// for real. examples/plugins holds two complete plugins.
//
// # How streams travel
//
// Each stream the plugin's backend dials reaches the host one of two
// ways, chosen per stream:
//
//   - Handoff: a stream whose Info answers transport.InfoFD (and not
//     InfoTLS) is a kernel socket carrying its bytes as they are. Its
//     descriptor crosses to the host with SCM_RIGHTS over a unix socket
//     pair set up at launch, and the host runs it on its default
//     in-process backend (the first of registry.DefaultChain that is
//     linked in and adopts sockets, epoll on Linux; else a net.Conn-based
//     stream of this package). Such a stream costs nothing per byte and
//     keeps working if the plugin dies. A host out of file descriptors
//     cannot receive one: the kernel drops it, and the Dial fails at once
//     with a *HandoffError (matching ErrHandoffLost and syscall.EMFILE).
//   - Byte path: any other stream (TLS done in the plugin, tunnels,
//     user-space stacks) gets one raw unix connection between plugin and
//     host, over which bytes flow as they are; the plugin copies between
//     it and its stream. The plugin's go-plugin broker sets up the
//     listener (GRPCBroker.Accept), the host connects once per stream and
//     proves it is the host with a per-stream token. Half-close crosses
//     (CloseWrite on either side becomes CloseWrite on the other), so does
//     Close (the plugin's stream is closed once what the host wrote has
//     reached it), deadlines are kept by the host, and when a direction
//     ends the host asks the plugin once how (a gRPC call): the caller gets
//     io.EOF, the plugin's stream's error as a *RemoteError that matches
//     what it matched (syscall.ECONNRESET, a timeout, ...), or, when the
//     plugin died, an *ExitError matching transport.ErrBackendExited.
//
// Info(InfoDataPath) tells which way a stream took.
//
// # The host side
//
// The package registers a discoverer with package registry: binaries named
// transportkit-backend-NAME in the directories of TRANSPORTKIT_PLUGIN_PATH
// and of the config file's plugins.dirs appear as backends "plugin:NAME"
// of kind registry.KindPlugin, with their path, version (from the
// binary's Go build information) and checksum status in Details. Discover,
// Plugin.Check, Open and Verify do the same things directly.
//
// A plugin is launched on the first Dial of its Backend, never at
// discovery, and only if it passes the trust rules below; go-plugin then
// runs it with gRPC only, versioned protocol negotiation
// (ProtocolVersion), automatic mutual TLS on its control connection and
// an explicit start timeout (ErrStartTimeout). The plugin's logs and
// stderr are forwarded to the Backend's logger under the binary's name;
// the end of its stderr (a panic, say) also goes into the *ExitError of a
// plugin that died.
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
// # The protocol
//
// Host and plugin speak a small gRPC service declared by hand (there is
// no generated code): see wire.go. Its messages are JSON, carried by a
// gRPC codec registered under the content-subtype "transportkit-json";
// go-plugin's own services on the same connection keep protobuf. There
// are a few calls per stream (Dial, and Status and Release at its end),
// never one per chunk of data.
//
// The host side needs Linux (process groups, waitid, SCM_RIGHTS);
// elsewhere plugins are listed as unavailable, with the reason.
package plugins
