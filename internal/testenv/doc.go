// Package testenv is the test support shared by every package of the
// module and by the bench module: the real peers a test starts (nginx,
// tinyproxy, microsocks), certificates, free loopback ports, waiting for a
// condition, and connected stream pairs.
//
// Every launcher (StartNginx, StartTinyproxy, StartMicrosocks) picks free
// loopback ports, writes its configuration from a template
// (testdata/*.tmpl, embedded) into t.TempDir(), starts the program in the
// foreground in its own process group, waits until every port accepts,
// and stops and reaps the process in t.Cleanup. A program that is not
// installed skips the test with the reason, except in CI (CI=true), where
// it fails it: CI must run every suite.
//
//	n := testenv.StartNginx(t, testenv.NginxOptions{TLS: true, HTTP2: true, Gzip: true})
//	tr := &http.Transport{TLSClientConfig: n.Certs.ClientConfig()}
//	resp, err := (&http.Client{Transport: tr}).Get(n.TLSURL("/hello"))
//
// Certificates come from a test CA made in memory (NewCerts, or
// SharedCerts for one per test binary); the leaf is valid for 127.0.0.1,
// ::1 and localhost. WritePEM writes them for external servers.
//
// The package imports only the standard library, so any package of the
// module can use it from its tests, in-package tests included.
package testenv
