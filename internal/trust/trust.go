// Package trust builds the certificate pools the clients (gows admin, gows chat) use to
// verify a node's TLS certificate.
package trust

import (
	"crypto/x509"
	"fmt"
	"os"
)

// Roots returns the system's root certificates and those in the PEM file, so that a
// client trusts a private CA, or a node's self-signed certificate, besides the usual ones.
// It fails when the file cannot be read or holds no PEM certificate.
func Roots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil { // no system pool (or none readable): the file's certificates alone
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", file)
	}
	return roots, nil
}
