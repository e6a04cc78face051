package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFetchWithEachWayOfChoosing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hi")
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "transportkit.json")
	if err := os.WriteFile(cfg, []byte(`{"backend": "stdnet"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"flag", "", []string{"-backend", "stdnet", "-n", "3"}, "backend stdnet (named explicitly)"},
		{"env", "stdnet", []string{"-n", "3"}, "backend stdnet (env TRANSPORTKIT_BACKEND)"},
		{"config file", "", []string{"-config", cfg, "-n", "3"}, "backend stdnet (config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TRANSPORTKIT_BACKEND", tt.env)
			var out, errOut bytes.Buffer
			if err := run(context.Background(), append(tt.args, srv.URL), &out, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			got := out.String()
			if !strings.Contains(got, tt.want) || strings.Count(got, "HTTP/1.1 200 OK 2 bytes") != 3 || !strings.Contains(got, "dials 1\n") {
				t.Errorf("output:\n%s", got)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), nil, &out, &errOut); err == nil {
		t.Error("no URL accepted")
	}
	if err := run(context.Background(), []string{"-backend", "no-such", "http://127.0.0.1:1/"}, &out, &errOut); err == nil {
		t.Error("unknown backend accepted")
	}
	if err := run(context.Background(), []string{"-backend", "stdnet", "http://127.0.0.1:1/"}, &out, &errOut); err == nil {
		t.Error("refused connection reported no error")
	}
}

func TestTLSWithCACert(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret")
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-backend", "stdnet", "-cacert", ca, "-v", srv.URL}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "200 OK 6 bytes\nsecret\n") {
		t.Errorf("output:\n%s", out.String())
	}
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("no certificate here"), 0o644)
	for _, f := range []string{empty, filepath.Join(dir, "missing.pem")} {
		if err := run(context.Background(), []string{"-backend", "stdnet", "-cacert", f, srv.URL}, &out, &errOut); err == nil {
			t.Errorf("-cacert %s accepted", f)
		}
	}
	// Without the CA the certificate is not trusted.
	if err := run(context.Background(), []string{"-backend", "stdnet", srv.URL}, &out, &errOut); err == nil {
		t.Error("untrusted certificate accepted")
	}
}

func TestBadFlagAndURL(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-no-such-flag"}, &out, &errOut); err == nil {
		t.Error("unknown flag accepted")
	}
	if err := run(context.Background(), []string{"-backend", "stdnet", "http://bad host/"}, &out, &errOut); err == nil {
		t.Error("bad URL accepted")
	}
}
