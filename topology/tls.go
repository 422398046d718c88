package topology

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLS is the topology's own certificate authority and the server certificate it signed for
// 127.0.0.1 and localhost, as PEM files: esm-api-https serves Cert and Key; a client trusts CA
// (the runner's health check, a test's HTTP client) or, a browser, is told to trust it.
type TLS struct {
	CA   string // the CA's certificate
	Cert string // the server's certificate (leaf)
	Key  string // the server's private key (EC P-256)
}

// tlsValidity is how long a certificate ensureTLS makes is valid; one with less than a day left
// is made again.
const tlsValidity = 90 * 24 * time.Hour

// ensureTLS keeps dir/ca.crt, dir/server.crt and dir/server.key, made the first time (and again
// when they are unreadable or about to expire): a self-signed ECDSA P-256 CA and a leaf for
// 127.0.0.1, ::1 and localhost signed by it. The CA's key is not kept: nothing else is signed.
func ensureTLS(dir string) (TLS, error) {
	f := TLS{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key")}
	if leafValid(f) {
		// A key found readable by others (an older run, a copy) is made private.
		if err := os.Chmod(f.Key, 0o600); err != nil {
			return TLS{}, fmt.Errorf("topology: %s: %w", f.Key, err)
		}
		return f, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return TLS{}, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TLS{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "ESM topology CA (development)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(tlsValidity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return TLS{}, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TLS{}, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(tlsValidity),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return TLS{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return TLS{}, err
	}
	for _, w := range []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{{f.CA, "CERTIFICATE", caDER, 0o644}, {f.Key, "EC PRIVATE KEY", keyDER, 0o600}, {f.Cert, "CERTIFICATE", leafDER, 0o644}} {
		if err := writeFileMode(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), w.mode); err != nil {
			return TLS{}, fmt.Errorf("topology: write %s: %w", w.path, err)
		}
	}
	return f, nil
}

// writeFileMode writes data to path with exactly mode, whatever was there: through a temporary
// file (0600 from its creation) renamed over path. os.WriteFile's mode applies only to a file
// it creates, so a key rewritten over a 0644 file stayed readable by everyone.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is there
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// leafValid: the key pair loads, and the leaf verifies against the CA for 127.0.0.1 for at
// least another day.
func leafValid(f TLS) bool {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return false
	}
	pool, err := CertPool(f.CA)
	if err != nil {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1", CurrentTime: time.Now().Add(24 * time.Hour)})
	return err == nil
}

// CertPool reads a PEM CA file into a pool, for a client of esm-api-https.
func CertPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("topology: no certificate in " + caFile)
	}
	return pool, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}
