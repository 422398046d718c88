package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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

// send makes a call with an Idempotency-Key as alice's client would.
func send(t *testing.T, method, url, tok, key, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
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

// TestIdempotencyFinalAnswers (issue 20, the fault test): an answer that depends on state that
// may catch up (404: the delegation does not exist yet) is not kept for its key, so the retry
// with the same key after the state changed gets the fresh answer; a 201 and a 422 (the use
// case's decision on the body) are replayed.
func TestIdempotencyFinalAnswers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv, token := idemServer(t, s)
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		tok := token("alice")
		ends := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
		// The id the next delegation gets.
		resp, out := send(t, "POST", hs.URL+"/v1/delegations", tok, "k-first", `{"delegate":"bob","ends_at":"`+ends+`"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("first delegation: %d %s", resp.StatusCode, out)
		}
		var n int
		if _, err := fmt.Sscanf(resp.Header.Get("Location"), "/v1/delegations/%d", &n); err != nil {
			t.Fatalf("Location %q: %v", resp.Header.Get("Location"), err)
		}
		next := fmt.Sprint(hs.URL, "/v1/delegations/", n+1)

		// 404: nothing to end yet.
		if resp, out := send(t, "DELETE", next, tok, "k-404", ``); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("ending a delegation that does not exist yet: %d %s", resp.StatusCode, out)
		}
		// 201, and its repeat replayed.
		body := `{"delegate":"carol","ends_at":"` + ends + `"}`
		resp, created := send(t, "POST", hs.URL+"/v1/delegations", tok, "k-201", body)
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != fmt.Sprintf("/v1/delegations/%d", n+1) {
			t.Fatalf("second delegation: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), created)
		}
		resp, again := send(t, "POST", hs.URL+"/v1/delegations", tok, "k-201", body)
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("Idempotent-Replayed") != "true" || again != created {
			t.Fatalf("the 201's repeat: %d %q %s, want the first answer %s", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), again, created)
		}
		// The state changed: the retry of the 404 with its key runs and ends the delegation;
		// its own repeat is then replayed.
		resp, out = send(t, "DELETE", next, tok, "k-404", ``)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("the 404's retry after the state changed: %d %q %s, want a fresh 204", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), out)
		}
		if resp, out := send(t, "DELETE", next, tok, "k-404", ``); resp.StatusCode != http.StatusNoContent || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("the 204's repeat: %d %q %s", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), out)
		}
		// 422, and its repeat replayed.
		bad := `{"delegate":"bob","ends_at":"2001-01-01T00:00:00Z"}`
		resp, first := send(t, "POST", hs.URL+"/v1/delegations", tok, "k-422", bad)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("a delegation that ended in 2001: %d %s", resp.StatusCode, first)
		}
		resp, again = send(t, "POST", hs.URL+"/v1/delegations", tok, "k-422", bad)
		if resp.StatusCode != http.StatusUnprocessableEntity || resp.Header.Get("Idempotent-Replayed") != "true" || again != first {
			t.Fatalf("the 422's repeat: %d %q %s", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), again)
		}
	})
}

// TestFinalAnswer: the rule of which answers a key keeps, status by status.
func TestFinalAnswer(t *testing.T) {
	busy := http.Header{"Retry-After": {"1"}}
	for _, c := range []struct {
		status int
		h      http.Header
		final  bool
	}{
		{200, nil, true}, {201, nil, true}, {204, nil, true},
		{400, nil, true}, {410, nil, true}, {413, nil, true}, {422, nil, true}, {409, nil, true},
		{409, busy, false}, {401, nil, false}, {403, nil, false}, {404, nil, false}, {408, nil, false},
		{415, nil, false}, {429, busy, false}, {500, nil, false}, {503, busy, false}, {302, nil, false},
	} {
		if got := finalAnswer(c.status, c.h); got != c.final {
			t.Errorf("finalAnswer(%d, %v) = %v, want %v", c.status, c.h, got, c.final)
		}
	}
}

// failReleases makes the database refuse to delete an idempotency claim (as when it went away
// during the call), or lets it again (on=false).
func failReleases(t *testing.T, s *store.Store, on bool) {
	t.Helper()
	var stmts []string
	switch {
	case s.Dialect() == "sqlite" && on:
		stmts = []string{`CREATE TRIGGER fail_release BEFORE DELETE ON idempotent_calls BEGIN SELECT RAISE(ABORT, 'the database went away'); END`}
	case s.Dialect() == "sqlite":
		stmts = []string{`DROP TRIGGER fail_release`}
	case on:
		stmts = []string{`CREATE FUNCTION fail_release() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'the database went away' USING ERRCODE = '08006'; END $$`,
			`CREATE TRIGGER fail_release BEFORE DELETE ON idempotent_calls FOR EACH ROW EXECUTE FUNCTION fail_release()`}
	default:
		stmts = []string{`DROP TRIGGER fail_release ON idempotent_calls`}
	}
	for _, q := range stmts {
		if _, err := s.DB.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestIdempotencyReleaseRetried (issue 20, the fault test): a call in flight when the database
// goes away answers 503 and cannot release its key; once the database is back, the guard's
// background release does, and a retry with the key runs within seconds, not 409 "still in
// progress" for the rest of the two-minute lease.
func TestIdempotencyReleaseRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv, token := idemServer(t, s)
		calls := 0
		r := gin.New()
		r.POST("/v1/flaky", srv.authenticate, srv.idempotent, func(c *gin.Context) {
			calls++
			if calls == 1 {
				failReleases(t, s, true) // the database goes away during the first call
				writeUnavailable(c, "the database is not answering; try again shortly")
				return
			}
			c.JSON(http.StatusOK, gin.H{"call": calls})
		})
		hs := httptest.NewServer(r)
		defer hs.Close()
		tok := token("alice")
		if resp, body := post(t, hs.URL+"/v1/flaky", tok, "k-gone", `{}`); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("the call during the outage: %d %s", resp.StatusCode, body)
		}
		// Still down: the key is held.
		if resp, body := post(t, hs.URL+"/v1/flaky", tok, "k-gone", `{}`); resp.StatusCode != http.StatusConflict || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("a retry while the release fails: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		failReleases(t, s, false) // the database is back
		back := time.Now()
		for {
			resp, body := post(t, hs.URL+"/v1/flaky", tok, "k-gone", `{}`)
			if resp.StatusCode == http.StatusOK && strings.Contains(body, `"call":2`) {
				t.Logf("the retry ran %v after the database came back", time.Since(back).Round(time.Millisecond))
				break
			}
			if resp.StatusCode != http.StatusConflict || time.Since(back) > 10*time.Second {
				t.Fatalf("a retry %v after the database came back (the lease is %v): %d %s", time.Since(back), srv.lease, resp.StatusCode, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
