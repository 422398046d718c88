package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWKS holds the public keys of an identity provider, by key id, read from a file or a URL (and
// refreshed from the URL every RefreshEvery, and when a token names an unknown key).
type JWKS struct {
	source       string
	RefreshEvery time.Duration
	mu           sync.Mutex
	keys         map[string]any
	fetched      time.Time
	client       *http.Client
}

// LoadJWKS reads a JWKS document from a file path or an http(s) URL.
func LoadJWKS(ctx context.Context, source string) (*JWKS, error) {
	j := &JWKS{source: source, RefreshEvery: 10 * time.Minute, client: &http.Client{Timeout: 10 * time.Second}}
	if err := j.refresh(ctx); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *JWKS) refresh(ctx context.Context) error {
	var data []byte
	var err error
	if strings.HasPrefix(j.source, "http://") || strings.HasPrefix(j.source, "https://") {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, j.source, nil)
		if rerr != nil {
			return rerr
		}
		resp, rerr := j.client.Do(req)
		if rerr != nil {
			return fmt.Errorf("fetch JWKS: %w", rerr)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("fetch JWKS: %s answered %d", j.source, resp.StatusCode)
		}
		data, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	} else {
		data, err = os.ReadFile(j.source)
	}
	if err != nil {
		return fmt.Errorf("read JWKS: %w", err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.keys, j.fetched = keys, time.Now()
	j.mu.Unlock()
	return nil
}

// key returns the public key for a kid, refreshing once when it is unknown or the set is old.
func (j *JWKS) key(kid string) (any, error) {
	j.mu.Lock()
	k, ok := j.keys[kid]
	stale := time.Since(j.fetched) > j.RefreshEvery
	j.mu.Unlock()
	if ok && !stale {
		return k, nil
	}
	if err := j.refresh(context.Background()); err != nil && !ok {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("no key %q in the JWKS", kid)
}

func parseJWKS(data []byte) (map[string]any, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	b64 := base64.RawURLEncoding.DecodeString
	keys := map[string]any{}
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err1 := b64(k.N)
			e, err2 := b64(k.E)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("JWKS key %s: %w", k.Kid, err)
			}
			keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			if k.Crv != "P-256" {
				return nil, fmt.Errorf("JWKS key %s: curve %s (ES256 takes P-256)", k.Kid, k.Crv)
			}
			x, err1 := b64(k.X)
			y, err2 := b64(k.Y)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("JWKS key %s: %w", k.Kid, err)
			}
			keys[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS has no RSA or P-256 signing key")
	}
	return keys, nil
}

// keyFor picks the verification key by the token's algorithm: HS256 with the shared secret
// (development), RS256 and ES256 with the identity provider's keys. A token may never choose
// a family of algorithm its key was not meant for.
func (s *Server) keyFor(t *jwt.Token) (any, error) {
	switch t.Method.Alg() {
	case jwt.SigningMethodHS256.Alg():
		if len(s.secret) == 0 {
			return nil, errors.New("HS256 tokens are not accepted here")
		}
		return s.secret, nil
	case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
		if s.jwks == nil {
			return nil, fmt.Errorf("%s tokens need a JWKS (ESM_JWKS)", t.Method.Alg())
		}
		kid, _ := t.Header["kid"].(string)
		k, err := s.jwks.key(kid)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case *rsa.PublicKey:
			if t.Method.Alg() != jwt.SigningMethodRS256.Alg() {
				return nil, errors.New("an RSA key verifies RS256 only")
			}
		case *ecdsa.PublicKey:
			if t.Method.Alg() != jwt.SigningMethodES256.Alg() {
				return nil, errors.New("an EC key verifies ES256 only")
			}
		}
		return k, nil
	}
	return nil, fmt.Errorf("algorithm %s is not accepted", t.Method.Alg())
}
