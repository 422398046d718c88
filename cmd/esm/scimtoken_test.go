package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSCIMTokenLength: ESM_SCIM_TOKEN shorter than 32 bytes stops esm api at start (before the
// database and Temporal) with an error naming it; 32 bytes are enough, and none is no SCIM.
func TestSCIMTokenLength(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "ESM_SCIM_TOKEN" {
				return v
			}
			return ""
		}
	}
	if tok, err := scimToken(env("")); tok != "" || err != nil {
		t.Errorf("unset: %q %v", tok, err)
	}
	if tok, err := scimToken(env(strings.Repeat("t", 32))); len(tok) != 32 || err != nil {
		t.Errorf("32 bytes: %q %v", tok, err)
	}
	for _, v := range []string{"t", "scim-secret", strings.Repeat("t", 31)} {
		if _, err := scimToken(env(v)); err == nil || !strings.Contains(err.Error(), "ESM_SCIM_TOKEN") || !strings.Contains(err.Error(), "32") {
			t.Errorf("%d bytes: %v, want an error naming ESM_SCIM_TOKEN and 32 bytes", len(v), err)
		}
	}

	// esm api stops at start: the database named here answers nothing.
	t.Setenv("ESM_JWT_SECRET", "a test secret of 32 bytes or so!")
	t.Setenv("ESM_PAYLOAD_KEYS", DevPayloadKey)
	for _, k := range []string{"ESM_OIDC_ISSUER", "ESM_OIDC_CLIENT_ID", "ESM_OIDC_CLIENT_SECRET"} {
		t.Setenv(k, "")
	}
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
	t.Setenv("ESM_SCIM_TOKEN", "scim-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := run(ctx, []string{"api"}, io.Discard); err == nil || !strings.Contains(err.Error(), "ESM_SCIM_TOKEN") {
		t.Fatalf("esm api with an 11-byte ESM_SCIM_TOKEN: %v", err)
	}
}
