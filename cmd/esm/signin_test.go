package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPortalSignInConfig: each wrong or missing variable of the portal's OIDC sign-in stops
// esm api with an error naming it; none set, no sign-in (and no error).
func TestPortalSignInConfig(t *testing.T) {
	good := map[string]string{
		"ESM_OIDC_ISSUER": "https://id.example.com", "ESM_OIDC_CLIENT_ID": "esm-portal",
		"ESM_PORTAL_URL": "https://esm.example.com", "ESM_SESSION_SECRET": strings.Repeat("s", 32),
	}
	with := func(change map[string]string) func(string) string {
		env := map[string]string{}
		for k, v := range good {
			env[k] = v
		}
		for k, v := range change {
			env[k] = v
		}
		return func(k string) string { return env[k] }
	}
	cfg, secret, err := portalOIDCConfig(with(nil))
	if err != nil || cfg.Issuer != "https://id.example.com" || cfg.ClientID != "esm-portal" || cfg.PortalURL != "https://esm.example.com" || len(secret) != 32 {
		t.Fatalf("good: %+v %v", cfg, err)
	}
	if cfg, _, err := portalOIDCConfig(func(string) string { return "" }); cfg != nil || err != nil {
		t.Fatalf("nothing set: %+v %v", cfg, err)
	}
	cfg, _, err = portalOIDCConfig(with(map[string]string{"ESM_OIDC_ISSUER": "", "ESM_JWT_ISSUER": "https://idp.example.org/realms/acme"}))
	if err != nil || cfg.Issuer != "https://idp.example.org/realms/acme" {
		t.Fatalf("the API's issuer as default: %+v %v", cfg, err)
	}
	if cfg, _, err = portalOIDCConfig(with(map[string]string{"ESM_PORTAL_URL": "http://localhost:8080/"})); err != nil || cfg.PortalURL != "http://localhost:8080" {
		t.Fatalf("http on localhost: %+v %v", cfg, err)
	}
	for name, tc := range map[string]struct {
		change map[string]string
		want   string
	}{
		"no issuer, the API's is no URL": {map[string]string{"ESM_OIDC_ISSUER": "", "ESM_JWT_ISSUER": "esm"}, "ESM_OIDC_ISSUER"},
		"issuer not a URL":               {map[string]string{"ESM_OIDC_ISSUER": "id.example.com"}, "ESM_OIDC_ISSUER"},
		"no client id":                   {map[string]string{"ESM_OIDC_CLIENT_ID": ""}, "ESM_OIDC_CLIENT_ID"},
		"no portal URL":                  {map[string]string{"ESM_PORTAL_URL": ""}, "ESM_PORTAL_URL"},
		"portal URL over http":           {map[string]string{"ESM_PORTAL_URL": "http://esm.example.com"}, "ESM_PORTAL_URL"},
		"portal URL with a path":         {map[string]string{"ESM_PORTAL_URL": "https://esm.example.com/portal"}, "ESM_PORTAL_URL"},
		"no session secret":              {map[string]string{"ESM_SESSION_SECRET": ""}, "ESM_SESSION_SECRET"},
		"short session secret":           {map[string]string{"ESM_SESSION_SECRET": strings.Repeat("s", 31)}, "ESM_SESSION_SECRET"},
	} {
		if _, _, err := portalOIDCConfig(with(tc.change)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}

	// A provider that does not answer discovery: named too.
	idp := httptest.NewServer(http.NotFoundHandler())
	defer idp.Close()
	if _, _, err := portalSignIn(context.Background(), with(map[string]string{"ESM_OIDC_ISSUER": idp.URL})); err == nil || !strings.Contains(err.Error(), "ESM_OIDC_ISSUER") {
		t.Fatalf("discovery failed: %v", err)
	}

	// esm api stops at start, before the database.
	t.Setenv("ESM_JWT_SECRET", "a test secret of 32 bytes or so!")
	t.Setenv("ESM_PAYLOAD_KEYS", DevPayloadKey)
	t.Setenv("ESM_OIDC_CLIENT_ID", "esm-portal")
	t.Setenv("ESM_OIDC_ISSUER", "https://id.example.com")
	t.Setenv("ESM_PORTAL_URL", "")
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
	if err := run(context.Background(), []string{"api"}, io.Discard); err == nil || !strings.Contains(err.Error(), "ESM_PORTAL_URL") {
		t.Fatalf("esm api: %v", err)
	}
}
