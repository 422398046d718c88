package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// TestRateLimit: past its burst a principal gets 429 with Retry-After; another principal is
// not affected.
func TestRateLimit(t *testing.T) {
	s := storetest.Open(t, "sqlite")
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	secret := []byte("rate-limit-test-secret-000")
	srv := httptest.NewServer(New(Config{Store: s, JWTSecret: secret, RatePerSecond: 0.5, Burst: 3,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	get := func(who string) *http.Response {
		tok, _ := IssueToken(secret, who, time.Now(), time.Hour)
		req, _ := http.NewRequest("GET", srv.URL+"/v1/catalog/services", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 3; i++ {
		if r := get("alice"); r.StatusCode != http.StatusOK {
			t.Fatalf("call %d: %d", i, r.StatusCode)
		}
	}
	r := get("alice")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := get("erin"); r.StatusCode != http.StatusOK {
		t.Errorf("another principal: %d", r.StatusCode)
	}
}

// idemServer is a Server on a fresh store of the dialect with the example catalog, and a token
// maker.
func idemServer(t *testing.T, s *store.Store) (*Server, func(who string) string) {
	t.Helper()
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	secret := []byte("idempotency-test-secret-00")
	srv := New(Config{Store: s, JWTSecret: secret, RatePerSecond: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return srv, func(who string) string {
		tok, _ := IssueToken(secret, who, time.Now(), time.Hour)
		return tok
	}
}

func post(t *testing.T, url, tok, key, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestIdempotencyPanicReleases: a handler that panics answers 500 and releases its claim on the
// Idempotency-Key, so the retry runs (it was 409 "still in progress" for good).
func TestIdempotencyPanicReleases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv, token := idemServer(t, s)
		calls := 0
		r := gin.New()
		r.Use(gin.CustomRecovery(srv.recovered))
		r.POST("/v1/flaky", srv.authenticate, srv.idempotent, func(c *gin.Context) {
			calls++
			if calls == 1 {
				panic("the first call breaks")
			}
			c.JSON(http.StatusOK, gin.H{"call": calls})
		})
		hs := httptest.NewServer(r)
		defer hs.Close()
		tok := token("alice")
		if resp, body := post(t, hs.URL+"/v1/flaky", tok, "k-panic", `{}`); resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("the panicking call: %d %s", resp.StatusCode, body)
		}
		resp, body := post(t, hs.URL+"/v1/flaky", tok, "k-panic", `{}`)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"call":2`) {
			t.Fatalf("the retry: %d %s", resp.StatusCode, body)
		}
		resp, body = post(t, hs.URL+"/v1/flaky", tok, "k-panic", `{}`)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Idempotent-Replayed") != "true" || !strings.Contains(body, `"call":2`) {
			t.Fatalf("the repeat: %d %q %s", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), body)
		}
	})
}

// TestIdempotencyStaleClaimTakenOver: the holder of a claim vanished (a crash or a deploy
// between claim and answer); once the claim's lease has run out, a retry with the same body
// runs and gets its answer instead of 409 for ever.
func TestIdempotencyStaleClaimTakenOver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv, token := idemServer(t, s)
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		body := `{"delegate":"bob","ends_at":"` + time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339) + `"}`
		sum := sha256.Sum256([]byte(body))
		// The vanished holder claimed the key an hour ago.
		if _, ok, err := s.BeginCall(context.Background(), "alice", "POST /v1/delegations", "k-crash", hex.EncodeToString(sum[:]),
			time.Now().Add(-time.Hour), 2*time.Minute); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		resp, out := post(t, hs.URL+"/v1/delegations", token("alice"), "k-crash", body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("the retry after the lease: %d %s", resp.StatusCode, out)
		}
		// A claim still within its lease answers 409, with Retry-After.
		if _, ok, err := s.BeginCall(context.Background(), "alice", "POST /v1/delegations", "k-live", hex.EncodeToString(sum[:]),
			time.Now(), 2*time.Minute); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		resp, out = post(t, hs.URL+"/v1/delegations", token("alice"), "k-live", body)
		if resp.StatusCode != http.StatusConflict || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("a live claim: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), out)
		}
	})
}

// TestOpenAPIUnavailable: every call that loads its caller from the database (every operation
// that takes a token) documents the 503 with Retry-After that a dependency that is down gives.
func TestOpenAPIUnavailable(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			r := op.Responses.Value("503")
			if r == nil || r.Ref != "#/components/responses/Unavailable" {
				t.Errorf("%s %s: no 503 Unavailable response", method, path)
			}
		}
	}
	if h := doc.Components.Responses["Unavailable"].Value.Headers["Retry-After"]; h == nil {
		t.Error("the Unavailable response has no Retry-After header")
	}
}

// TestTemporalUnavailable: while Temporal does not answer (nothing listens at its address), a
// call that needs it answers 503 urn:esm:problem:unavailable with Retry-After, not 500, and
// /readyz says 503.
func TestTemporalUnavailable(t *testing.T) {
	s := storetest.Open(t, "sqlite")
	srv, token := idemServer(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tc, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	srv.temporal = tc
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	for _, path := range []string{"/v1/catalog/services/laptop/lifecycle", "/readyz"} {
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token("ivan"))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(string(body), "urn:esm:problem:unavailable") {
			t.Errorf("GET %s while Temporal is down: %d, Retry-After %q: %s", path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
}
