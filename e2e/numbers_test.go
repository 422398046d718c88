package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
)

// legacyServices are definitions stored before issue 15's rules (as an older `esm catalog
// apply` let through): a priced field without bounds, a priority offered without a target, and
// an automated call that renders form numbers. The API must hold without the apply-time rules.
func legacyServices(callURL string) *catalog.Bundle {
	sla := catalog.SLAPolicy{Targets: map[string]catalog.SLATarget{
		"normal": {Response: catalog.Duration(8 * time.Hour), Resolution: catalog.Duration(40 * time.Hour)}}}
	hours := catalog.Definition{
		Key: "test-hours", Name: "Consulting hours", Department: "test-ops", Owner: "oscar",
		Cost: catalog.Cost{Currency: "EUR", Parts: []catalog.PricePart{{Name: "Hours", PerField: "hours", Amount: 12000}}},
		Request: catalog.RequestSpec{Priorities: []string{"critical"}, Form: map[string]any{"type": "object", "required": []any{"hours"},
			"properties": map[string]any{"hours": map[string]any{"type": "number"}}}},
		Approval:   catalog.ApprovalPolicy{AutoApprove: "quote.total < 100", Steps: []catalog.ApprovalStep{{Name: "manager", Mode: catalog.ModeAny, Approvers: catalog.Approvers{Manager: true}}}},
		Fulfilment: catalog.Fulfilment{Tasks: []catalog.TaskSpec{{ID: "do", Name: "Do it", Group: "it-service-desk", Kind: catalog.TaskManual}}},
		SLA:        sla,
	}
	budget := catalog.Definition{
		Key: "test-budget", Name: "Budget line", Department: "test-ops", Owner: "oscar",
		Request: catalog.RequestSpec{Form: map[string]any{"type": "object", "required": []any{"amount"},
			"properties": map[string]any{"amount": map[string]any{"type": "number", "minimum": 0, "maximum": 1e9}}}},
		Fulfilment: catalog.Fulfilment{Tasks: []catalog.TaskSpec{{ID: "book", Name: "Book it", Group: "it-service-desk", Kind: catalog.TaskAutomated,
			OnFailure: catalog.OnFailureFail,
			HTTP: &catalog.HTTPCall{Method: "POST", URL: callURL + "/budget/{{form.amount}}?q={{quantity}}",
				Headers: map[string]string{"X-Amount": "{{form.amount}}"},
				Body:    map[string]any{"text": "{{form.amount}} EUR", "amount": "{{form.amount}}"}}}}},
	}
	return &catalog.Bundle{Services: []catalog.Definition{hours, budget}}
}

// TestNumbersPrioritiesAndClocks (issue 15 §1 priority, §2 numbers, §4 numbers rendered, SLA
// report, quote, over HTTP on both databases).
func TestNumbersPrioritiesAndClocks(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			var mu sync.Mutex
			var calls []*http.Request
			var bodies []string
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b := make([]byte, 4096)
				n, _ := r.Body.Read(b)
				mu.Lock()
				calls, bodies = append(calls, r), append(bodies, string(b[:n]))
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"ok": true}`))
			}))
			defer hook.Close()
			e := newEnv(t, dialect)
			if _, err := e.store.ApplyBundle(context.Background(), legacyServices(hook.URL), time.Now()); err != nil {
				t.Fatal(err)
			}

			// §2: a priced field below zero, or beyond any amount, is a 422 naming the field:
			// never a negative total that auto-approves, never a 500.
			for _, hours := range []any{-1000, 1e300} {
				r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-hours", "form": map[string]any{"hours": hours}})
				if r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/form/hours"] == "" {
					t.Errorf("hours %v: %d %s; want 422 naming /form/hours", hours, r.Status, r.Raw)
				}
				q := e.call("POST", "/v1/catalog/services/test-hours/quote", "alice", map[string]any{"form": map[string]any{"hours": hours}})
				if q.Status != http.StatusUnprocessableEntity || fieldsOf(q)["/form/hours"] == "" {
					t.Errorf("quote of hours %v: %d %s; want 422 naming /form/hours", hours, q.Status, q.Raw)
				}
			}

			// §1: a requester chooses only among what the service offers; laptop offers nothing
			// but its default.
			r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop", "form": laptopForm, "priority": "critical"})
			if r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/priority"] != "enum" {
				t.Errorf("laptop at priority critical: %d %s; want 422 naming /priority", r.Status, r.Raw)
			}
			// A priority offered without a target (a definition stored before the rule) still
			// runs the clocks the service promises: the default priority's.
			r = e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-hours", "form": map[string]any{"hours": 2}, "priority": "critical"})
			if r.Status != http.StatusCreated {
				t.Fatalf("test-hours at priority critical: %d %s", r.Status, r.Raw)
			}
			st := e.call("GET", "/v1/requests/"+r.Body["id"].(string), "alice", nil)
			if clocks, _ := st.Body["sla"].([]any); len(clocks) != 2 || st.Body["priority"] != "critical" {
				t.Errorf("a critical request of test-hours: %s; want its two clocks", st.Raw)
			}

			// §4: a quote needs only the fields that price the request.
			q := e.call("POST", "/v1/catalog/services/laptop/quote", "alice", map[string]any{"form": map[string]any{"model": "performance-16"}})
			if q.Status != http.StatusOK || q.Body["quote"].(map[string]any)["total"] != 2000.0 {
				t.Errorf("a laptop quote without reason: %d %s; want 200, 2000.00", q.Status, q.Raw)
			}
			q = e.call("POST", "/v1/catalog/services/laptop/quote", "alice", map[string]any{"form": map[string]any{"model": "gold-17"}})
			if q.Status != http.StatusUnprocessableEntity || fieldsOf(q)["/form/model"] != "enum" {
				t.Errorf("a quote of a model that does not exist: %d %s; want 422 naming /form/model", q.Status, q.Raw)
			}

			// §4: numbers rendered into calls read as people and URLs expect.
			r = e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-budget", "form": map[string]any{"amount": 1500000}})
			if r.Status != http.StatusCreated {
				t.Fatalf("test-budget: %d %s", r.Status, r.Raw)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				n := len(calls)
				mu.Unlock()
				if n > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			mu.Lock()
			if len(calls) == 0 {
				t.Errorf("the budget call was not made")
			} else if c := calls[0]; c.URL.Path != "/budget/1500000" || c.Header.Get("X-Amount") != "1500000" ||
				bodies[0] != `{"amount":1500000,"text":"1500000 EUR"}` {
				t.Errorf("the budget call: %s %s X-Amount %q body %s", c.URL.Path, c.URL.RawQuery, c.Header.Get("X-Amount"), bodies[0])
			}
			mu.Unlock()

			// §4: the SLA report counts requests whose clocks ran, each once, by the verdict of
			// the resolution clock: a rejected laptop has none (it was "met"); one withdrawn while
			// waiting on the requester has none either (it was left out); a resolved one met.
			rejected := submitLaptop(t, e, "alice")
			if d := e.call("POST", "/v1/requests/"+rejected+"/decision", "bob", map[string]any{"decision": "reject", "comment": "not this year"}); d.Status != http.StatusOK {
				t.Fatalf("reject: %d %s", d.Status, d.Raw)
			}
			paused := submitLaptop(t, e, "alice")
			if d := e.call("POST", "/v1/requests/"+paused+"/decision", "bob", map[string]any{"decision": "request_info", "comment": "which keyboard?"}); d.Status != http.StatusOK {
				t.Fatalf("request_info: %d %s", d.Status, d.Raw)
			}
			// §4: the question was the first reply: the response clock stopped, met.
			pst := e.call("GET", "/v1/requests/"+paused, "alice", nil)
			if c := pst.Body["sla"].([]any)[0].(map[string]any); c["name"] != "response" || c["met"] != true || c["stopped_at"] == nil {
				t.Errorf("the response clock after an approver's question: %v", c)
			}
			if d := e.call("POST", "/v1/requests/"+paused+"/cancel", "alice", map[string]any{"reason": "never mind"}); d.Status != http.StatusOK {
				t.Fatalf("cancel: %d %s", d.Status, d.Raw)
			}
			resolved := submitLaptop(t, e, "alice")
			if d := e.call("POST", "/v1/requests/"+resolved+"/decision", "bob", map[string]any{"decision": "approve"}); d.Status != http.StatusOK {
				t.Fatalf("approve: %d %s", d.Status, d.Raw)
			}
			if d := e.call("POST", "/v1/tasks/"+resolved+".prepare/complete", "dave", map[string]any{"outputs": map[string]any{"asset_tag": "LT-9"}}); d.Status != http.StatusOK {
				t.Fatalf("complete: %d %s", d.Status, d.Raw)
			}
			rep := e.call("GET", "/v1/reports/sla", "oscar", nil)
			found := false
			for _, it := range items(rep) {
				if it["service"] != "laptop" {
					continue
				}
				found = true
				if it["closed"] != 3.0 || it["met"] != 1.0 || it["breached"] != 0.0 || it["excluded"] != 2.0 || it["attainment_percent"] != 100.0 {
					t.Errorf("laptop attainment: %v; want 3 closed: 1 met, 2 excluded, 100%%", it)
				}
			}
			if !found {
				t.Errorf("the report lacks laptop: %s", rep.Raw)
			}
		})
	}
}
