package reliability

import (
	"crypto/tls"
	"sync"

	"github.com/transportkit/transportkit/internal/testenv"
)

// pki is the tests' certificate authority with its server certificate
// (testenv.Certs: 127.0.0.1, ::1, localhost) and a second server
// certificate it signed, wrongHost, for wrong.example only.
type pki struct {
	*testenv.Certs
	wrongHost tls.Certificate
}

var testPKI = sync.OnceValues(func() (*pki, error) {
	c, err := testenv.NewCerts()
	if err != nil {
		return nil, err
	}
	wrong, err := c.IssueServer("wrong.example")
	return &pki{Certs: c, wrongHost: wrong}, err
})
