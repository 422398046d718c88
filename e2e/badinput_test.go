package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
)

// fieldsOf lists the "field" of each error in a problem.
func fieldsOf(r response) map[string]string {
	out := map[string]string{}
	errs, _ := r.Body["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		out[m["field"].(string)] = m["rule"].(string)
	}
	return out
}

func submitLaptop(t *testing.T, e *env, who string) string {
	t.Helper()
	r := e.call("POST", "/v1/requests", who, map[string]any{"service": "laptop", "form": laptopForm})
	if r.Status != http.StatusCreated {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	return r.Body["id"].(string)
}

// historyLength counts a request workflow's history events once the workflow is at rest: no
// workflow task and no activity pending (a submit answers before, say, the approvers'
// notification has gone out).
func historyLength(t *testing.T, e *env, id string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.RequestWorkflowID(id), "")
		if err != nil {
			t.Fatal(err)
		}
		if d.GetPendingWorkflowTask() == nil && len(d.GetPendingActivities()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come to rest", id)
		}
	}
	h, err := historyOf(context.Background(), e.tc, workflows.RequestWorkflowID(id), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(h.GetEvents())
}

func TestBadInput(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)

			t.Run("unknown service is 404", func(t *testing.T) {
				r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "teleporter", "form": map[string]any{}})
				if r.Status != http.StatusNotFound || r.Body["type"] != "urn:esm:problem:not-found" {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
			})
			t.Run("missing and wrong fields are 422 naming each", func(t *testing.T) {
				r := e.call("POST", "/v1/requests", "alice", map[string]any{
					"service": "laptop", "priority": "urgent", "quantity": 0,
					"form": map[string]any{"model": "abacus", "reason": "short", "colour": "red"},
				})
				if r.Status != http.StatusUnprocessableEntity {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				want := map[string]string{"/priority": "enum", "/quantity": "minimum", "/form/model": "enum",
					"/form/reason": "minLength", "/form/colour": "additionalProperties"}
				got := fieldsOf(r)
				for f, rule := range want {
					if got[f] != rule {
						t.Errorf("field %s: rule %q, want %q (all: %v)", f, got[f], rule, got)
					}
				}
				r = e.call("POST", "/v1/requests", "alice", map[string]any{"form": map[string]any{}})
				if r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/service"] != "required" {
					t.Errorf("no service: %d %s", r.Status, r.Raw)
				}
				r = e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop", "form": map[string]any{}})
				if got := fieldsOf(r); got["/form/model"] != "required" || got["/form/reason"] != "required" {
					t.Errorf("empty form: %s", r.Raw)
				}
				r = e.call("POST", "/v1/requests", "alice", map[string]any{"service": 7})
				if r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/service"] != "type" {
					t.Errorf("wrong type: %d %s", r.Status, r.Raw)
				}
				r = e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop", "sevrice": "x"})
				if r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/sevrice"] != "unknown" {
					t.Errorf("unknown field: %d %s", r.Status, r.Raw)
				}
				if r = e.call("POST", "/v1/requests", "alice", `{"service": "laptop",`); r.Status != http.StatusBadRequest {
					t.Errorf("malformed JSON: %d %s", r.Status, r.Raw)
				}
			})
			t.Run("no or bad token is 401", func(t *testing.T) {
				expired, _ := api.IssueToken(secret, "alice", time.Now().Add(-48*time.Hour), time.Hour)
				forged, _ := api.IssueToken([]byte("another-secret-of-16-bytes"), "alice", time.Now(), time.Hour)
				nobody, _ := api.IssueToken(secret, "nobody", time.Now(), time.Hour)
				for name, auth := range map[string]string{
					"none": "", "garbage": "Bearer abc.def.ghi", "expired": "Bearer " + expired,
					"forged": "Bearer " + forged, "unknown person": "Bearer " + nobody, "basic": "Basic YWxpY2U6eA==",
				} {
					var hdr []string
					if auth != "" {
						hdr = []string{"Authorization", auth}
					}
					if r := e.call("GET", "/v1/requests", "", nil, hdr...); r.Status != http.StatusUnauthorized {
						t.Errorf("%s: %d %s", name, r.Status, r.Raw)
					}
				}
			})
			t.Run("a decision by a non-approver is 403 and leaves no trace", func(t *testing.T) {
				id := submitLaptop(t, e, "alice")
				before := historyLength(t, e, id)
				// Alice can see her request but may not approve it; Dave is not involved at all.
				r := e.call("POST", "/v1/requests/"+id+"/decision", "alice", map[string]any{"decision": "approve"})
				if r.Status != http.StatusForbidden {
					t.Fatalf("requester approving: %d %s", r.Status, r.Raw)
				}
				if r = e.call("POST", "/v1/requests/"+id+"/decision", "dave", map[string]any{"decision": "approve"}); r.Status != http.StatusNotFound {
					t.Fatalf("stranger approving: %d %s", r.Status, r.Raw)
				}
				if after := historyLength(t, e, id); after != before {
					t.Errorf("history grew from %d to %d events after refused decisions", before, after)
				}
				if r = e.call("GET", "/v1/requests/"+id, "erin", nil); r.Status != http.StatusNotFound {
					t.Errorf("a colleague reading alice's request: %d", r.Status)
				}
				// Rejection needs a reason.
				if r = e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "reject"}); r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/comment"] != "required" {
					t.Errorf("reject without reason: %d %s", r.Status, r.Raw)
				}
				if r = e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "maybe"}); r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/decision"] != "enum" {
					t.Errorf("bad decision: %d %s", r.Status, r.Raw)
				}
				// Before approval the fulfillers do not even see the request (the workflow test
				// covers the validator's refusal of a task that is not open).
				if r = e.call("POST", "/v1/tasks/"+id+".prepare/complete", "dave", map[string]any{}); r.Status != http.StatusNotFound {
					t.Errorf("completing a task before it opens: %d %s", r.Status, r.Raw)
				}
			})
			t.Run("a second decision on a decided step is 409", func(t *testing.T) {
				id := submitLaptop(t, e, "erin")
				if r := e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "reject", "comment": "not this quarter"}); r.Status != http.StatusOK || r.Body["status"] != "rejected" {
					t.Fatalf("reject: %d %s", r.Status, r.Raw)
				}
				r := e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve"})
				if r.Status != http.StatusConflict {
					t.Fatalf("second decision: %d %s", r.Status, r.Raw)
				}
				r = e.call("GET", "/v1/requests/"+id, "erin", nil)
				if r.Body["status"] != "rejected" || !strings.Contains(r.Body["reason"].(string), "not this quarter") {
					t.Errorf("rejected request: %s", r.Raw)
				}
			})
			t.Run("a task outside the caller's groups is 403", func(t *testing.T) {
				id := submitLaptop(t, e, "alice")
				e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve"})
				// Bob can see the request (he approved it) but is not in it-service-desk.
				if r := e.call("POST", "/v1/tasks/"+id+".prepare/complete", "bob", map[string]any{}); r.Status != http.StatusForbidden {
					t.Errorf("complete by bob: %d %s", r.Status, r.Raw)
				}
				if r := e.call("POST", "/v1/tasks/"+id+".nosuch/complete", "dave", map[string]any{}); r.Status != http.StatusNotFound {
					t.Errorf("no such task: %d %s", r.Status, r.Raw)
				}
				if r := e.call("POST", "/v1/tasks/"+id+".prepare/claim", "dave", nil); r.Status != http.StatusOK {
					t.Fatalf("claim: %d %s", r.Status, r.Raw)
				}
				if r := e.call("POST", "/v1/tasks/"+id+".prepare/complete", "frank", map[string]any{}); r.Status != http.StatusConflict {
					t.Errorf("complete a task claimed by someone else: %d %s", r.Status, r.Raw)
				}
			})
			t.Run("non-JSON bodies are refused", func(t *testing.T) {
				r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop"}, "Content-Type", "text/plain")
				if r.Status != http.StatusUnsupportedMediaType {
					t.Errorf("%d %s", r.Status, r.Raw)
				}
			})
		})
	}
}

// TestIdempotentSubmit: the same Idempotency-Key yields one request, however often and however
// concurrently it is sent; the repeats name it; another body under the key is refused.
func TestIdempotentSubmit(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			body := map[string]any{"service": "laptop", "form": laptopForm}
			first := e.call("POST", "/v1/requests", "alice", body, "Idempotency-Key", "laptop-2026")
			if first.Status != http.StatusCreated {
				t.Fatalf("first: %d %s", first.Status, first.Raw)
			}
			id := first.Body["id"]
			second := e.call("POST", "/v1/requests", "alice", body, "Idempotency-Key", "laptop-2026")
			if second.Status != http.StatusOK || second.Body["id"] != id || second.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("second: %d %s", second.Status, second.Raw)
			}

			var wg sync.WaitGroup
			ids := make([]any, 6)
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.call("POST", "/v1/requests", "erin", body, "Idempotency-Key", "same-key")
					if r.Status != http.StatusCreated && r.Status != http.StatusOK {
						t.Errorf("concurrent submit: %d %s", r.Status, r.Raw)
					}
					ids[i] = r.Body["id"]
				}()
			}
			wg.Wait()
			for _, got := range ids {
				if got != ids[0] {
					t.Fatalf("concurrent submissions made different requests: %v", ids)
				}
			}
			if r := e.call("GET", "/v1/requests", "erin", nil); len(r.Body["items"].([]any)) != 1 {
				t.Errorf("erin has %d requests, want 1: %s", len(r.Body["items"].([]any)), r.Raw)
			}

			other := map[string]any{"service": "laptop", "form": map[string]any{"model": "performance-16", "reason": "rendering video all day"}}
			r := e.call("POST", "/v1/requests", "alice", other, "Idempotency-Key", "laptop-2026")
			if r.Status != http.StatusUnprocessableEntity || r.Body["request"] != id || r.Body["type"] != "urn:esm:problem:idempotency-key-reused" {
				t.Errorf("reused key with another body: %d %s", r.Status, r.Raw)
			}
			// The key is per person: Erin's "laptop-2026" is her own.
			if r := e.call("POST", "/v1/requests", "erin", body, "Idempotency-Key", "laptop-2026"); r.Status != http.StatusCreated || r.Body["id"] == id {
				t.Errorf("another person's key: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// TestRestart: a request submitted before API and worker stop can be approved and completed by
// a new API and worker on the same database.
func TestRestart(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			url, ns := storetest.URL(t, dialect), freshNamespace(t)
			e := startEnv(t, ns, url, true)
			id := submitLaptop(t, e, "alice")
			e.stop()

			e = startEnv(t, ns, url, false)
			if r := e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
				t.Fatalf("approve after restart: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/tasks/"+id+".prepare/complete", "dave", map[string]any{}); r.Status != http.StatusOK || r.Body["status"] != "resolved" {
				t.Fatalf("complete after restart: %d %s", r.Status, r.Raw)
			}
		})
	}
}
