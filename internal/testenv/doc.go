// Package testenv is the test support shared by every package of the
// module and by the bench module: the real peers a test starts (nginx,
// nghttpd, tinyproxy, microsocks, danted), certificates, free loopback
// ports, waiting for a condition, loopback servers (Serve, StartTLSRelay)
// and connected pairs (TCPPair, TLSServerPair, DialTLSPair).
//
// Every launcher (StartNginx, StartNghttpd, StartTinyproxy,
// StartMicrosocks, StartDanted) picks free loopback ports, writes its
// configuration from a template (testdata/*.conf.tmpl, embedded) into
// t.TempDir(), starts the program in the foreground in its own process
// group, waits until every port accepts, and stops and reaps the process
// in t.Cleanup. A program that is not installed skips the test with the
// reason, except in CI (CI=true), where it fails it: CI must run every
// suite.
//
//	n := testenv.StartNginx(t, testenv.NginxOptions{TLS: true, HTTP2: true, Gzip: true})
//	tr := &http.Transport{TLSClientConfig: n.Certs.ClientConfig()}
//	resp, err := (&http.Client{Transport: tr}).Get(n.TLSURL("/hello"))
//
// LaunchNginx is StartNginx for programs that are not tests (the bench
// module): it returns an error instead of failing a test, and its Stop,
// which the caller must call, also removes its folder.
//
// Certificates come from a test CA made in memory (NewCerts, or
// SharedCerts for one per test binary); the leaf is valid for 127.0.0.1,
// ::1 and localhost; the CA issues more (IssueServer, IssueClient).
// WritePEM and WriteKeyPair write them for external servers.
//
// The package imports only the standard library, so any package of the
// module can use it from its tests, in-package tests included.
package testenv
