// Package tlsreload serves a certificate and key read from PEM files and
// read again on demand (SIGHUP), so a renewed certificate is used by new
// connections without a restart. A renewal that cannot be read keeps the
// certificate in use.
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// Cert is a certificate reloadable from its files; safe for concurrent use.
type Cert struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads the pair; an error names the file and what is wrong.
func Load(certFile, keyFile string) (*Cert, error) {
	c := &Cert{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error the certificate in use stays.
func (c *Cert) Reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %s / %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil && len(pair.Certificate) > 0 {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("tls: %s: %w", c.certFile, err)
		}
	}
	c.cur.Store(&pair)
	return nil
}

// NotAfter is when the certificate in use expires.
func (c *Cert) NotAfter() time.Time {
	if p := c.cur.Load(); p != nil && p.Leaf != nil {
		return p.Leaf.NotAfter
	}
	return time.Time{}
}

// GetCertificate is tls.Config.GetCertificate.
func (c *Cert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// Config is a server TLS config serving c: TLS 1.2 or later, HTTP/1.1
// (aupguard's streams are SSE over HTTP/1.1).
func (c *Cert) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate, NextProtos: []string{"http/1.1"}}
}
