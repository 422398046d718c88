package main

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestIDPClientsPortals: -portal takes several base URLs, comma-separated (the topology's API
// replicas), each one redirect URI of the one portal client; a base ending in /portal is the
// same base.
func TestIDPClientsPortals(t *testing.T) {
	cs, err := idpClients("", "temporal-ui", "", "http://127.0.0.1:1, https://127.0.0.1:2/portal/", "esm-portal", "a-portal-secret-16")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://127.0.0.1:1/portal/auth/callback", "https://127.0.0.1:2/portal/auth/callback"}
	if len(cs) != 1 || cs[0].ID != "esm-portal" || !reflect.DeepEqual(cs[0].RedirectURIs, want) {
		t.Errorf("clients %+v, want one esm-portal with %v", cs, want)
	}
	if _, err := idpClients("", "", "", "http://127.0.0.1:1", "esm-portal", ""); err == nil {
		t.Error("a portal client without its secret")
	}
}

// TestIDPClientSecretLength: esm idp refuses a client secret shorter than 16 bytes, for the
// Temporal UI's client and the portal's, with an error naming the flag and the variable, before
// it listens or opens the database; 16 bytes are enough.
func TestIDPClientSecretLength(t *testing.T) {
	short, enough := strings.Repeat("s", 15), strings.Repeat("s", 16)
	// Were a short secret taken, esm idp would serve until the context ends, on this database.
	t.Setenv("DATABASE_URL", t.TempDir()+"/idp.db")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"short UI secret":     {[]string{"-ui", "http://127.0.0.1:8233", "-ui-client-secret", short}, "ESM_IDP_UI_CLIENT_SECRET"},
		"short portal secret": {[]string{"-portal", "http://127.0.0.1:8080", "-portal-client-secret", short}, "ESM_OIDC_CLIENT_SECRET"},
	} {
		err := run(ctx, append([]string{"idp", "-addr", "127.0.0.1:0"}, tc.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "16 bytes") {
			t.Errorf("%s: %v, want an error naming %s and 16 bytes", name, err, tc.want)
		}
	}
	if _, err := idpClients("http://127.0.0.1:8233", "temporal-ui", enough, "http://127.0.0.1:8080", "esm-portal", enough); err != nil {
		t.Errorf("16-byte secrets: %v", err)
	}
}
