package main

import (
	"reflect"
	"testing"
)

// TestIDPClientsPortals: -portal takes several base URLs, comma-separated (the topology's API
// replicas), each one redirect URI of the one portal client; a base ending in /portal is the
// same base.
func TestIDPClientsPortals(t *testing.T) {
	cs, err := idpClients("", "temporal-ui", "", "http://127.0.0.1:1, https://127.0.0.1:2/portal/", "esm-portal", "s")
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
