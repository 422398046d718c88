package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
)

// TestIdempotencyKeyPriority: a submission without a priority (the service's default) and one
// naming a priority are two bodies. Under a laptop whose default priority is high (normal
// offered too), Alice's submission without a priority makes a high request; the same
// Idempotency-Key with priority "normal" is refused (422 idempotency-key-reused), not answered
// with the high request as if it were the same submission.
func TestIdempotencyKeyPriority(t *testing.T) {
	e := newEnv(t, "sqlite")
	b, err := catalog.Load(catalogPaths...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.Services {
		if b.Services[i].Key == "laptop" {
			b.Services[i].Request.Priority = "high"
			b.Services[i].Request.Priorities = []string{"normal"}
		}
	}
	if _, err := e.store.ApplyBundle(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	first := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop", "form": laptopForm}, "Idempotency-Key", "k-prio")
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	id := first.Body["id"].(string)
	if st := e.call("GET", "/v1/requests/"+id, "alice", nil); st.Body["priority"] != "high" {
		t.Fatalf("the first request's priority: %v", st.Body["priority"])
	}
	again := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop", "form": laptopForm, "priority": "normal"}, "Idempotency-Key", "k-prio")
	if again.Status != http.StatusUnprocessableEntity {
		t.Errorf("the same key with priority normal (the request is high): %d %s", again.Status, again.Raw)
	}
}

// TestWorkerDown: with the worker down (a crash or a deploy), a decision, a draft save and a
// submission, each with an Idempotency-Key, are sent by a client that waits 20 s. Each answers
// 503 with Retry-After within the API's workflow wait (so that clients and load balancers
// retry), and once the worker is back a retry with the same key answers the one outcome:
// nothing lost, nothing doubled.
func TestWorkerDown(t *testing.T) {
	e := newEnv(t, "sqlite")
	id := submitLaptop(t, e, "alice")
	e.worker.Stop()
	client := &http.Client{Timeout: 20 * time.Second}
	d := laptopDefinition(t)
	d.Name = "Laptop (while the worker is down)"
	db, _ := json.Marshal(d)
	calls := []struct{ name, method, path, who, key, body string }{
		{"decision", "POST", "/v1/requests/" + id + "/decision", "bob", "wd-decide", `{"decision":"approve"}`},
		{"draft", "PUT", "/v1/catalog/services/laptop/draft", "dave", "wd-draft", string(db)},
		{"submit", "POST", "/v1/requests", "erin", "wd-submit", `{"service":"laptop","form":{"model":"standard-14","reason":"my old laptop's battery is dead"}}`},
	}
	send := func(method, path, who, key, body string) (int, string, string, error) {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.token(who))
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b), nil
	}
	for _, c := range calls {
		start := time.Now()
		status, ra, body, err := send(c.method, c.path, c.who, c.key, c.body)
		switch {
		case err != nil:
			t.Errorf("%s with the worker down: no answer after %s (%v); want 503 with Retry-After", c.name, time.Since(start).Round(time.Second), err)
		case status != http.StatusServiceUnavailable || ra == "":
			t.Errorf("%s with the worker down: %d Retry-After %q after %s: %s", c.name, status, ra, time.Since(start).Round(time.Second), body)
		}
	}
	e.restartWorker()
	for _, c := range calls {
		deadline := time.Now().Add(60 * time.Second)
		for {
			status, _, body, err := send(c.method, c.path, c.who, c.key, c.body)
			if err == nil && status < 300 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s retried with its key after the worker is back: %d %v %s", c.name, status, err, body)
				break
			}
			time.Sleep(time.Second)
		}
	}
	st := e.call("GET", "/v1/requests/"+id, "alice", nil)
	decided := 0
	for _, a := range st.Body["approvals"].([]any)[0].(map[string]any)["approvers"].([]any) {
		if a.(map[string]any)["decision"] != nil {
			decided++
		}
	}
	if decided != 1 || st.Body["status"] != "in_fulfilment" {
		t.Errorf("after the retry: %d decisions, status %v", decided, st.Body["status"])
	}
	if v := draftVersion(t, e, "laptop"); v != 2 {
		t.Errorf("draft version %d after one save and its retry, want 2", v)
	}
	r := e.call("GET", "/v1/requests", "erin", nil)
	if n := len(r.Body["items"].([]any)); n != 1 {
		t.Errorf("erin has %d requests after one submission and its retry, want 1", n)
	}
}
