// Package registry turns a backend name or a configuration into an open
// transport.Backend.
//
// Backends make themselves known by calling [Register] from an init
// function, as database/sql drivers do; a program imports the backends it
// wants (package backends/all imports every in-tree one). Plugin backends
// are found at run time by a [Discoverer] that the plugins package
// registers.
//
// # Selection
//
// [Open] opens a backend by name. [Select] makes the configured choice,
// strongest first:
//
//  1. a name given in code or on the command line (Selection.Name);
//  2. the TRANSPORTKIT_BACKEND environment variable;
//  3. the "backend" key of the config file (Selection.ConfigPath, or the
//     TRANSPORTKIT_CONFIG environment variable);
//  4. the platform's [DefaultChain]: "stdnet" then "epoll" on Linux (epoll
//     is reached only by a program that links it without stdnet),
//     "stdnet" elsewhere. The mock backend is never chosen by default.
//
// A backend named by any of the first three is opened or fails, with the
// reason; it never falls back to another. Only the default chain falls
// back, and only past a backend that is not compiled in or that reports
// itself unavailable with an error matching transport.ErrUnavailable. A
// real failure (bad options, say) stops the chain. The choice and its
// reason are logged at Debug level and returned as a [Choice].
//
// # Config file
//
// The config file is JSON, decoded strictly by [LoadConfig]: an unknown key
// or a value of the wrong form is a [*ConfigError] naming the file and the
// field. See [Config] for the format.
//
// # Errors
//
// An unknown name is an [*UnknownBackendError] (errors.Is matches
// [ErrUnknownBackend]) listing the known names. An unavailable backend is a
// *transport.OpError with Op "open" whose cause matches
// transport.ErrUnavailable. A default chain with nothing available matches
// [ErrNoBackend].
package registry
