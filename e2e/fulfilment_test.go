package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/store/storetest"
)

// waitFor polls the request until cond holds.
func waitFor(t *testing.T, e *env, id, who string, cond func(r response) bool) response {
	t.Helper()
	return poll(t, e, "/v1/requests/"+id, who, 30*time.Second, cond)
}

// poll GETs path as who until cond holds, failing the test after timeout.
func poll(t *testing.T, e *env, path, who string, timeout time.Duration, cond func(r response) bool) response {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := e.call("GET", path, who, nil)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never got there: %s", path, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func taskStates(r response) map[string]string {
	out := map[string]string{}
	for _, t := range r.Body["tasks"].([]any) {
		m := t.(map[string]any)
		out[m["id"].(string)] = m["state"].(string)
	}
	return out
}

// TestOnboarding runs the example onboarding plan end to end, and cancels a second one halfway:
// exactly the automated tasks that had completed are compensated, each once, newest first.
func TestOnboarding(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			submit := func() string {
				r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "onboarding", "form": onboardingForm})
				if r.Status != http.StatusCreated {
					t.Fatalf("submit: %d %s", r.Status, r.Raw)
				}
				id := r.Body["id"].(string)
				if r := e.call("POST", "/v1/requests/"+id+"/decision", "helen", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
					t.Fatalf("approve: %d %s", r.Status, r.Raw)
				}
				return id
			}

			id := submit()
			r := waitFor(t, e, id, "alice", func(r response) bool {
				st := taskStates(r)
				return st["accounts"] == "done" && st["laptop"] == "open" && st["desk"] == "open"
			})
			if st := taskStates(r); st["welcome"] != "waiting" || st["hr-record"] != "done" {
				t.Fatalf("after the HR record: %v", st)
			}
			// The laptop's outputs are checked against its schema.
			if r := e.call("POST", "/v1/tasks/"+id+".laptop/complete", "dave", map[string]any{"outputs": map[string]any{"asset_tag": "laptop 1"}}); r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/outputs/asset_tag"] != "pattern" {
				t.Errorf("bad outputs: %d %s", r.Status, r.Raw)
			}
			e.call("POST", "/v1/tasks/"+id+".laptop/complete", "dave", map[string]any{"outputs": map[string]any{"asset_tag": "LT-0042"}})
			e.call("POST", "/v1/tasks/"+id+".desk/complete", "walt", map[string]any{})
			if r := e.call("POST", "/v1/tasks/"+id+".welcome/complete", "helen", map[string]any{}); r.Body["status"] != "resolved" {
				t.Fatalf("welcome: %d %s", r.Status, r.Raw)
			}
			final := e.call("GET", "/v1/requests/"+id, "alice", nil)
			for _, task := range final.Body["tasks"].([]any) {
				m := task.(map[string]any)
				if m["id"] == "accounts" && m["outputs"].(map[string]any)["id"] == nil {
					t.Errorf("the automation's answer is not the task's outputs: %v", m)
				}
			}

			// A second onboarding, cancelled while the laptop and the desk are still open.
			id2 := submit()
			waitFor(t, e, id2, "alice", func(r response) bool { return taskStates(r)["accounts"] == "done" })
			before := e.hooks.Stats()
			r = e.call("POST", "/v1/requests/"+id2+"/cancel", "alice", map[string]any{"reason": "the joiner declined"})
			if r.Status != http.StatusOK || r.Body["status"] != "cancelled" {
				t.Fatalf("cancel: %d %s", r.Status, r.Raw)
			}
			after := e.hooks.Stats()
			if len(after.Undone)-len(before.Undone) != 2 {
				t.Fatalf("undone: %v (before %v)", after.Undone, before.Undone)
			}
			for res, n := range after.Undone {
				if n != 1 {
					t.Errorf("%s undone %d times", res, n)
				}
			}
			st := e.call("GET", "/v1/requests/"+id2, "alice", nil)
			var order []string
			for _, ev := range st.Body["timeline"].([]any) {
				if m := ev.(map[string]any); m["type"] == "task.compensated" {
					order = append(order, m["detail"].(string))
				}
			}
			if strings.Join(order, ",") != "Create the accounts,Create the HR record" {
				t.Errorf("compensated %v", order)
			}
			if ts := taskStates(st); ts["laptop"] != "cancelled" || ts["welcome"] != "cancelled" {
				t.Errorf("tasks after the cancel: %v", ts)
			}
		})
	}
}
