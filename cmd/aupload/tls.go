package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aupguard/aupguard/internal/fakeupstream"
)

// The idle-stream test can also reach the fake upstream over TLS, where the
// gateway's transport speaks HTTP/2 as it does to OpenRouter: many streams
// then share a few upstream connections, so a gateway holds one socket per
// stream instead of two and 10,000 streams fit in the open-files limit.

// selfSigned makes a certificate for 127.0.0.1 that is its own CA, and
// writes it (PEM) to caFile for the gateway to trust (SSL_CERT_FILE).
func selfSigned(caFile string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "aupload fake upstream"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// startUpstreamTLS serves the fake OpenRouter over TLS (HTTP/2 and
// HTTP/1.1) on a loopback port; the CA to trust is written into dir.
func startUpstreamTLS(dir string) (*httpServer, error) {
	cert, err := selfSigned(filepath.Join(dir, tlsCAFile))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           fakeupstream.Handler(fakeupstream.Options{NoRecord: true, APIKey: upstreamKey}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		// OpenRouter's limit is not known; 1000 streams per connection keeps
		// the connection count (and so the sockets) small.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000},
	}
	go srv.ServeTLS(ln, "", "")
	return &httpServer{srv: srv, ln: ln, scheme: "https"}, nil
}

// tlsCAFile is the CA's file name in the TLS upstream's directory.
const tlsCAFile = "upstream-ca.pem"
