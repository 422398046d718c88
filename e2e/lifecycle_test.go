package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
)

// laptopDefinition returns the example laptop definition, to edit.
func laptopDefinition(t *testing.T) catalog.Definition {
	t.Helper()
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range b.Services {
		if d.Key == "laptop" {
			return d
		}
	}
	t.Fatal("no laptop")
	return catalog.Definition{}
}

func stage(t *testing.T, e *env, key string) map[string]any {
	t.Helper()
	r := e.call("GET", "/v1/catalog/services/"+key+"/lifecycle", "oscar", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("lifecycle of %s: %d %s", key, r.Status, r.Raw)
	}
	return r.Body
}

// TestPublishNewVersion: version 2 of the laptop is drafted, reviewed by the department head and
// published while a request of version 1 is open; the open request finishes under version 1, a
// new one uses version 2.
func TestPublishNewVersion(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			old := submitLaptop(t, e, "alice")

			d := laptopDefinition(t)
			d.Name = "Laptop (2027 range)"
			d.Cost.UnitPrice = 99900
			// The owner (Ivan, also IT's head) is not the only one who may edit: IT staff may.
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "alice", d); r.Status != http.StatusForbidden {
				t.Fatalf("alice drafting IT's service: %d %s", r.Status, r.Raw)
			}
			r := e.call("PUT", "/v1/catalog/services/laptop/draft", "dave", d)
			if r.Status != http.StatusOK || r.Body["draft_version"] != 2.0 || r.Body["live_version"] != 1.0 {
				t.Fatalf("draft: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "publish"}); r.Status != http.StatusConflict {
				t.Fatalf("publishing an unreviewed draft: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "dave", map[string]any{"action": "submit"}); r.Status != http.StatusForbidden {
				t.Fatalf("a non-owner submitting: %d %s", r.Status, r.Raw)
			}
			for _, step := range []struct{ who, action string }{{"ivan", "submit"}, {"ivan", "approve"}, {"ivan", "publish"}} {
				if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", step.who, map[string]any{"action": step.action, "comment": "ok"}); r.Status != http.StatusOK {
					t.Fatalf("%s: %d %s", step.action, r.Status, r.Raw)
				}
			}
			if st := stage(t, e, "laptop"); st["live_version"] != 2.0 || st["stage"] != "published" {
				t.Fatalf("after publishing: %v", st)
			}
			r = e.call("POST", "/v1/requests", "erin", map[string]any{"service": "laptop", "form": laptopForm})
			if r.Status != http.StatusCreated || r.Body["version"] != 2.0 || r.Body["quote"].(map[string]any)["unit_price"] != 999.0 {
				t.Fatalf("a new request: %d %s", r.Status, r.Raw)
			}
			e.call("POST", "/v1/requests/"+old+"/decision", "bob", map[string]any{"decision": "approve"})
			e.call("POST", "/v1/tasks/"+old+".prepare/complete", "dave", map[string]any{})
			st := e.call("GET", "/v1/requests/"+old, "alice", nil)
			if st.Body["status"] != "resolved" || st.Body["service"].(map[string]any)["version"] != 1.0 || st.Body["quote"].(map[string]any)["unit_price"] != 1200.0 {
				t.Errorf("the old request: %s", st.Raw)
			}
		})
	}
}

// TestRetireDrain: retiring refuses new requests at once (410, naming the successor) and
// completes only after the last request in flight ends.
func TestRetireDrain(t *testing.T) {
	e := newEnv(t, "sqlite")
	first := submitLaptop(t, e, "alice")
	second := submitLaptop(t, e, "erin")
	if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "dave", map[string]any{"action": "retire"}); r.Status != http.StatusForbidden {
		t.Fatalf("staff retiring: %d %s", r.Status, r.Raw)
	}
	r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "retire", "successor": "software-licence"})
	if r.Status != http.StatusOK || r.Body["stage"] != "retiring" || len(r.Body["in_flight"].([]any)) != 2 {
		t.Fatalf("retire: %d %s", r.Status, r.Raw)
	}
	r = e.call("POST", "/v1/requests", "ethan", map[string]any{"service": "laptop", "form": laptopForm})
	if r.Status != http.StatusGone || r.Body["successor"] != "software-licence" {
		t.Fatalf("a new request while retiring: %d %s", r.Status, r.Raw)
	}
	if list := keys(items(e.call("GET", "/v1/catalog/services", "ethan", nil))); list["laptop"] != nil {
		t.Error("a retiring service is still in the catalog")
	}
	// The requests in flight go on; the service retires after the last.
	e.call("POST", "/v1/requests/"+first+"/decision", "bob", map[string]any{"decision": "reject", "comment": "retired"})
	time.Sleep(300 * time.Millisecond)
	if st := stage(t, e, "laptop"); st["stage"] != "retiring" {
		t.Fatalf("retired with a request in flight: %v", st)
	}
	e.call("POST", "/v1/requests/"+second+"/decision", "bob", map[string]any{"decision": "approve"})
	e.call("POST", "/v1/tasks/"+second+".prepare/complete", "dave", map[string]any{})
	poll(t, e, "/v1/catalog/services/laptop/lifecycle", "oscar", 10*time.Second, func(r response) bool {
		return r.Status == http.StatusOK && r.Body["stage"] == "retired"
	})
}
