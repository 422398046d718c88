package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
)

func items(r response) []map[string]any {
	var out []map[string]any
	for _, it := range r.Body["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

func keys(list []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, it := range list {
		out[it["key"].(string)] = it
	}
	return out
}

// TestCatalogAPI: every part of every example service is visible; eligibility hides services;
// internal processes show only to the owning department, the owner and operators.
func TestCatalogAPI(t *testing.T) {
	e := newEnv(t, "sqlite")
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range b.Services {
		r := e.call("GET", "/v1/catalog/services/"+d.Key, "oscar", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", d.Key, r.Status, r.Raw)
		}
		for _, part := range []string{"name", "department", "summary", "description", "limits", "cost", "request", "help", "internal"} {
			if v, ok := r.Body[part]; !ok || v == "" {
				t.Errorf("%s: %s is missing", d.Key, part)
			}
		}
		if form := r.Body["request"].(map[string]any)["form"]; form == nil {
			t.Errorf("%s: no form", d.Key)
		}
		if help := r.Body["help"].(map[string]any); help["group"] == nil || help["channels"] == nil || help["hours"] == nil {
			t.Errorf("%s: help is incomplete: %v", d.Key, help)
		}
		if cost := r.Body["cost"].(map[string]any); cost["recurrence"] == nil {
			t.Errorf("%s: cost is incomplete: %v", d.Key, cost)
		}
		internal := r.Body["internal"].(map[string]any)
		if internal["fulfilment"] == nil || internal["approval"] == nil || internal["sla"] == nil {
			t.Errorf("%s: internal processes incomplete: %v", d.Key, internal)
		}
		if d.Eligibility != nil && r.Body["eligibility"] != d.Eligibility.Message {
			t.Errorf("%s: eligibility %v", d.Key, r.Body["eligibility"])
		}
	}

	// Alice (Engineering) sees no internals of an IT service; Dave (IT) does.
	if r := e.call("GET", "/v1/catalog/services/laptop", "alice", nil); r.Body["internal"] != nil {
		t.Errorf("alice sees internal processes: %s", r.Raw)
	}
	if r := e.call("GET", "/v1/catalog/services/laptop", "dave", nil); r.Body["internal"] == nil {
		t.Errorf("IT staff do not see the internal processes of an IT service")
	}
	if r := e.call("GET", "/v1/catalog/services/teleporter", "alice", nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown service: %d", r.Status)
	}

	// The list hides what the caller may not request, unless include=ineligible says why.
	dave := keys(items(e.call("GET", "/v1/catalog/services", "dave", nil)))
	if _, ok := dave["test-limited"]; ok {
		t.Error("dave sees a service only Engineering may request")
	}
	all := keys(items(e.call("GET", "/v1/catalog/services?include=ineligible", "dave", nil)))
	if s := all["test-limited"]; s == nil || s["eligible"] != false || !strings.Contains(s["ineligible_reason"].(string), "Only Engineering") {
		t.Errorf("include=ineligible: %v", s)
	}
	if len(all) < len(b.Services) {
		t.Errorf("include=ineligible lists %d services, the catalog has %d", len(all), len(b.Services))
	}
	it := items(e.call("GET", "/v1/catalog/services?department=it", "oscar", nil))
	for _, s := range it {
		if s["department"] != "it" {
			t.Errorf("department filter let %v through", s["key"])
		}
	}
	if len(it) < 3 {
		t.Errorf("IT has %d services", len(it))
	}
	if found := keys(items(e.call("GET", "/v1/catalog/services?q=laptop", "alice", nil))); found["laptop"] == nil || len(found) > 3 {
		t.Errorf("q=laptop found %v", found)
	}
	if r := e.call("GET", "/v1/catalog/services?include=everything", "alice", nil); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("bad include: %d", r.Status)
	}
}

// TestSubmissionRules: eligibility is 403 with the definition's message; quantity beyond the
// limit is 422; max_open, per_period and windows are 409 naming the limit and when it resets.
func TestSubmissionRules(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			r := e.call("POST", "/v1/requests", "dave", map[string]any{"service": "test-limited", "form": map[string]any{}})
			if r.Status != http.StatusForbidden || r.Body["detail"] != "Only Engineering may request the limited test service." {
				t.Fatalf("ineligible: %d %s", r.Status, r.Raw)
			}
			r = e.call("POST", "/v1/requests", "erin", map[string]any{"service": "test-limited", "form": map[string]any{}, "quantity": 4})
			if r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/quantity"] != "maximum" {
				t.Fatalf("quantity: %d %s", r.Status, r.Raw)
			}

			// The quote and the submission agree: (10 + 5.50) x 2.
			q := e.call("POST", "/v1/catalog/services/test-limited/quote", "erin", map[string]any{"form": map[string]any{"tier": "gold"}, "quantity": 2})
			if q.Status != http.StatusOK || q.Body["quote"].(map[string]any)["total"] != 31.0 {
				t.Fatalf("quote: %d %s", q.Status, q.Raw)
			}
			if q := e.call("POST", "/v1/catalog/services/test-limited/quote", "erin", map[string]any{"form": map[string]any{"tier": "platinum"}}); q.Status != http.StatusUnprocessableEntity || fieldsOf(q)["/form/tier"] != "enum" {
				t.Errorf("bad quote form: %d %s", q.Status, q.Raw)
			}
			first := e.call("POST", "/v1/requests", "erin", map[string]any{"service": "test-limited", "form": map[string]any{"tier": "gold"}, "quantity": 2})
			if first.Status != http.StatusCreated || first.Body["quote"].(map[string]any)["total"] != 31.0 {
				t.Fatalf("first: %d %s", first.Status, first.Raw)
			}
			id1 := first.Body["id"].(string)
			if st := e.call("GET", "/v1/requests/"+id1, "erin", nil); st.Body["quote"].(map[string]any)["cost_centre"] != "engineering" {
				t.Errorf("the request does not carry its quote: %s", st.Raw)
			}

			r = e.call("POST", "/v1/requests", "erin", map[string]any{"service": "test-limited", "form": map[string]any{}})
			if r.Status != http.StatusConflict || r.Body["limit"] != "max_open" || fmt.Sprint(r.Body["open_requests"]) != fmt.Sprint([]any{id1}) {
				t.Fatalf("max_open: %d %s", r.Status, r.Raw)
			}
			if r = e.call("POST", "/v1/tasks/"+id1+".do/complete", "dave", map[string]any{}); r.Body["status"] != "resolved" {
				t.Fatalf("complete: %d %s", r.Status, r.Raw)
			}
			second := e.call("POST", "/v1/requests", "erin", map[string]any{"service": "test-limited", "form": map[string]any{}})
			if second.Status != http.StatusCreated {
				t.Fatalf("second after the first closed: %d %s", second.Status, second.Raw)
			}
			e.call("POST", "/v1/tasks/"+second.Body["id"].(string)+".do/complete", "dave", map[string]any{})

			r = e.call("POST", "/v1/requests", "erin", map[string]any{"service": "test-limited", "form": map[string]any{}})
			if r.Status != http.StatusConflict || r.Body["limit"] != "per_period" {
				t.Fatalf("per_period: %d %s", r.Status, r.Raw)
			}
			resets, err := time.Parse(time.RFC3339, r.Body["resets_at"].(string))
			if err != nil || resets.Before(time.Now().Add(29*24*time.Hour)) || resets.After(time.Now().Add(30*24*time.Hour)) {
				t.Errorf("per_period resets at %v (%v)", r.Body["resets_at"], err)
			}

			r = e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-window-future", "form": map[string]any{}})
			if r.Status != http.StatusConflict || r.Body["limit"] != "windows" || r.Body["resets_at"] != "2099-01-01T00:00:00Z" {
				t.Errorf("future window: %d %s", r.Status, r.Raw)
			}
			r = e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-window-past", "form": map[string]any{}})
			if r.Status != http.StatusConflict || r.Body["limit"] != "windows" || r.Body["resets_at"] != nil {
				t.Errorf("past window: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// TestVersionPinning: a request in flight keeps the version and form it was submitted under
// when the service changes; new requests get the new version.
func TestVersionPinning(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			old := submitLaptop(t, e, "alice")

			// A new version of the laptop service: a new required field, a new name.
			b, err := catalog.Load("../examples")
			if err != nil {
				t.Fatal(err)
			}
			for i := range b.Services {
				if b.Services[i].Key == "laptop" {
					d := &b.Services[i]
					d.Name = "Laptop (2027 range)"
					props := d.Request.Form["properties"].(map[string]any)
					props["cost_code"] = map[string]any{"type": "string", "pattern": "^CC-[0-9]{4}$"}
					d.Request.Form["required"] = append(d.Request.Form["required"].([]any), "cost_code")
				}
			}
			rep, err := e.store.ApplyBundle(context.Background(), b, time.Now())
			if err != nil || fmt.Sprint(rep.Versions) != "[laptop@2]" {
				t.Fatalf("apply: %v %v", rep, err)
			}

			r := e.call("POST", "/v1/requests", "erin", map[string]any{"service": "laptop", "form": laptopForm})
			if r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/form/cost_code"] != "required" {
				t.Fatalf("the new version's form is not enforced: %d %s", r.Status, r.Raw)
			}
			form := map[string]any{"cost_code": "CC-1234"}
			for k, v := range laptopForm {
				form[k] = v
			}
			r = e.call("POST", "/v1/requests", "erin", map[string]any{"service": "laptop", "form": form})
			if r.Status != http.StatusCreated || r.Body["version"] != 2.0 {
				t.Fatalf("new request: %d %s", r.Status, r.Raw)
			}

			st := e.call("GET", "/v1/requests/"+old, "alice", nil)
			svc := st.Body["service"].(map[string]any)
			if svc["version"] != 1.0 || svc["name"] != "Laptop" || st.Body["form"].(map[string]any)["cost_code"] != nil {
				t.Errorf("the open request changed: %s", st.Raw)
			}
			e.call("POST", "/v1/requests/"+old+"/decision", "bob", map[string]any{"decision": "approve"})
			if r := e.call("POST", "/v1/tasks/"+old+".prepare/complete", "dave", map[string]any{}); r.Body["status"] != "resolved" {
				t.Errorf("the old version's request did not finish: %s", r.Raw)
			}
			if st := e.call("GET", "/v1/requests/"+old, "alice", nil); st.Body["service"].(map[string]any)["version"] != 1.0 {
				t.Errorf("closed request version: %s", st.Raw)
			}
		})
	}
}
