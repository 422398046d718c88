package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
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
