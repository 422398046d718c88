package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/esmhq/esm/store/storetest"
)

// TestLifecycleVisibilityAPI: the API's lifecycle calls keep desk's rule (docs/ACCESS.md): a
// service never published is not found for anyone but its insiders (its name is not in the
// answer, whatever the call and whatever the body), and a published service's lifecycle is
// refused to people outside it. On each database.
func TestLifecycleVisibilityAPI(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			d := laptopDefinition(t)
			d.Key, d.Name = "secret-laptop", "Secret laptop"
			if r := e.call("POST", "/v1/catalog/services", "dave", d); r.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.Status, r.Raw)
			}
			for _, c := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/v1/catalog/services/secret-laptop/lifecycle", nil},
				{"POST", "/v1/catalog/services/secret-laptop/lifecycle", map[string]any{"action": "submit"}},
				{"POST", "/v1/catalog/services/secret-laptop/lifecycle", map[string]any{"action": 7}},
				{"PUT", "/v1/catalog/services/secret-laptop/draft", d},
			} {
				r := e.call(c.method, c.path, "alice", c.body)
				if r.Status != http.StatusNotFound || strings.Contains(string(r.Raw), "Secret laptop") {
					t.Fatalf("alice: %s %s: %d %s", c.method, c.path, r.Status, r.Raw)
				}
			}
			if r := e.call("GET", "/v1/catalog/services/secret-laptop/lifecycle", "dave", nil); r.Status != http.StatusOK {
				t.Fatalf("dave, of IT: %d %s", r.Status, r.Raw)
			}
			if r := e.call("GET", "/v1/catalog/services/laptop/lifecycle", "alice", nil); r.Status != http.StatusForbidden {
				t.Fatalf("alice, the published laptop's lifecycle: %d %s", r.Status, r.Raw)
			}
		})
	}
}
