package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"os"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// chooseBackends returns the backends a command runs, in order, each
// with the true reason it was chosen (logged at debug level):
//
//   - the names of --backend, a comma-separated list;
//   - else the one name of TRANSPORTKIT_BACKEND;
//   - else the config file's "backend";
//   - else every backend listed (plugins included), those that cannot run
//     here marked as skipped with the reason.
//
// A name the registry does not know is an *registry.UnknownBackendError
// (a usage error, exit 2), reported before anything runs.
func (a *app) chooseBackends() ([]pick, error) {
	infos, derr := registry.List(a.cfg)
	if derr != nil {
		a.log.Warn("plugin discovery", "error", derr)
	}
	known := make([]string, len(infos))
	for i, in := range infos {
		known[i] = in.Name
	}

	var names []string
	var reason string
	switch env := os.Getenv(registry.EnvBackend); {
	case a.backend != "":
		for n := range strings.SplitSeq(a.backend, ",") {
			if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("--backend %q: want one or more backend names, such as epoll,stdnet", a.backend)
		}
		reason = "--backend flag"
	case env != "":
		names, reason = []string{env}, "env "+registry.EnvBackend
	case a.cfg != nil && a.cfg.Backend != "":
		names, reason = []string{a.cfg.Backend}, configReason
	default:
		picks := make([]pick, 0, len(infos))
		for _, in := range infos {
			p := a.pickFor(in, "every backend (none chosen)")
			if !in.Available {
				p.skip = "unavailable: " + in.Reason
			}
			picks = append(picks, p)
		}
		return picks, nil
	}

	picks := make([]pick, 0, len(names))
	for _, n := range names {
		i := slices.IndexFunc(infos, func(in registry.Info) bool { return in.Name == n })
		if i < 0 {
			err := error(&registry.UnknownBackendError{Name: n, Known: known})
			switch {
			case reason == configReason:
				err = &registry.ConfigError{Path: a.cfg.Path, Field: "backend", Err: err}
			case reason != "--backend flag":
				err = fmt.Errorf("%s: %w", reason, err)
			}
			return nil, err
		}
		// A chosen backend runs even when listed unavailable: opening it
		// says why it cannot, as a failure.
		picks = append(picks, a.pickFor(infos[i], reason))
	}
	return picks, nil
}

// configReason is the reason given for a backend the config file names.
const configReason = "config file"

// pickFor returns the pick for in, opened with the config file's settings
// and logged with reason.
func (a *app) pickFor(in registry.Info, reason string) pick {
	return pick{info: in, open: func() (transport.Backend, error) {
		b, _, err := registry.Select(registry.Selection{Name: in.Name, Reason: reason, Config: a.cfg, Logger: a.log})
		if err != nil {
			return nil, &failure{err}
		}
		return b, nil
	}}
}

// openTarget returns what probe and bench run against: the URL in args,
// or the embedded loopback server (started here, stopped by stop), with
// the CA certificates to trust (--cacert's, the embedded server's, or nil
// for the system's). It warns on stderr when --insecure is set.
func (a *app) openTarget(args []string, proto, cacert string, insecure bool) (tg target, roots *x509.CertPool, stop func(), err error) {
	stop = func() {}
	if roots, err = loadCACert(cacert); err != nil {
		return tg, nil, stop, err
	}
	if len(args) == 1 {
		if tg.url, err = parseTarget(args[0], proto); err != nil {
			return tg, nil, stop, err
		}
	} else {
		srv, err := startEmbeddedServer(a.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}), proto == "h2c")
		if err != nil {
			return tg, nil, stop, &failure{err}
		}
		stop = func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Close(sctx); err != nil {
				a.log.Warn("embedded server shutdown", "error", err)
			}
		}
		tg.url, tg.server, roots = srv.URL, srv, srv.Roots
	}
	if insecure {
		fmt.Fprintln(a.stderr, "transportctl: warning: --insecure: the server's certificate is not verified")
	}
	return tg, roots, stop, nil
}
