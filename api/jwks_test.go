package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
	"github.com/golang-jwt/jwt/v5"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestJWKS: RS256 and ES256 tokens of an identity provider are accepted by key id; a token whose
// algorithm does not fit its key, an unknown key, a wrong issuer or audience, and development
// HS256 tokens (no secret configured) are refused.
func TestJWKS(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	doc := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "r1", "use": "sig", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecKey.X.FillBytes(make([]byte, 32))), "y": b64(ecKey.Y.FillBytes(make([]byte, 32)))},
	}}
	path := filepath.Join(t.TempDir(), "jwks.json")
	raw, _ := json.Marshal(doc)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	jwks, err := LoadJWKS(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s := storetest.Open(t, "sqlite")
	b, _ := catalog.Load("../examples")
	if _, err := s.ApplyBundle(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Store: s, JWKS: jwks, Issuer: "https://idp.test", Audience: "esm-api",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()

	claims := func(iss, aud string) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Issuer: iss, Subject: "alice", Audience: jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	}
	sign := func(m jwt.SigningMethod, kid string, key any, c jwt.RegisteredClaims) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := claims("https://idp.test", "esm-api")
	hs, _ := IssueToken([]byte("a-development-secret-0000"), "alice", time.Now(), time.Hour)
	hsOther := func(iss, aud string) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(iss, aud)).SignedString([]byte("a-development-secret-0000"))
		return s
	}
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"RS256", sign(jwt.SigningMethodRS256, "r1", rsaKey, good), http.StatusOK},
		{"ES256", sign(jwt.SigningMethodES256, "e1", ecKey, good), http.StatusOK},
		{"RS256 naming the EC key", sign(jwt.SigningMethodRS256, "e1", rsaKey, good), http.StatusUnauthorized},
		{"unknown key", sign(jwt.SigningMethodRS256, "r9", rsaKey, good), http.StatusUnauthorized},
		{"wrong issuer", sign(jwt.SigningMethodRS256, "r1", rsaKey, claims("https://evil.test", "esm-api")), http.StatusUnauthorized},
		{"wrong audience", sign(jwt.SigningMethodRS256, "r1", rsaKey, claims("https://idp.test", "other")), http.StatusUnauthorized},
		{"HS256 without a secret", hs, http.StatusUnauthorized},
	}
	// Both: the identity provider's tokens with its issuer and audience, and ESM's own HS256
	// tokens (esm token: iss and aud esm) beside them, as the topology's APIs take both; an HS256
	// token does not pass for the provider's, nor with another issuer or audience.
	both := httptest.NewServer(New(Config{Store: s, JWKS: jwks, JWTSecret: []byte("a-development-secret-0000"),
		Issuer: "https://idp.test", Audience: "esm-api", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer both.Close()
	cases = append(cases, []struct {
		name  string
		token string
		want  int
	}{
		{"both: RS256", sign(jwt.SigningMethodRS256, "r1", rsaKey, good), http.StatusOK},
		{"both: HS256 of esm token", hs, http.StatusOK},
		{"both: HS256 with the provider's issuer", hsOther("https://idp.test", "esm-api"), http.StatusUnauthorized},
		{"both: HS256 with another audience", hsOther(TokenIssuer, "esm-api"), http.StatusUnauthorized},
		{"both: RS256 with ESM's issuer", sign(jwt.SigningMethodRS256, "r1", rsaKey, claims(TokenIssuer, TokenAudience)), http.StatusUnauthorized},
	}...)
	for _, tc := range cases {
		base := srv.URL
		if strings.HasPrefix(tc.name, "both: ") {
			base = both.URL
		}
		req, _ := http.NewRequest("GET", base+"/v1/requests", nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}
