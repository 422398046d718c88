package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
)

// TestTasksInsideTheRequest is issue 16's fulfilment on a real server: a request of revision 4
// makes its calls inside its own workflow (no child workflow); a requester who withdraws while
// the automated call is in flight gets nothing half done (the call finishes, then is undone, each
// once at the receiver); an undo that fails for good is a task in the group's queue, and the
// request ends when it is done.
func TestTasksInsideTheRequest(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			// The automation endpoint, slow to create (the receiver records every key) and
			// refusing to delete under /locked.
			started := make(chan string, 8)
			slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/slow/"):
					started <- r.Header.Get("Idempotency-Key")
					time.Sleep(3 * time.Second)
					r.URL.Path = strings.Replace(r.URL.Path, "/slow/", "/", 1)
				case r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/locked/"):
					http.Error(w, `{"error":"the account is locked"}`, http.StatusConflict)
					return
				}
				e.hooks.ServeHTTP(w, r)
			}))
			t.Cleanup(slow.Close)
			applyServices(t, e, fmt.Sprintf(`
services:
  - key: test-account
    name: Account
    department: test-ops
    owner: oscar
    request: {form: {type: object}}
    approval: {auto_approve: "true"}
    fulfilment:
      tasks:
        - {id: account, name: Create the account, group: it-service-desk, kind: automated,
           http: {method: POST, url: "%[1]s/hooks/accounts"}}
  - key: test-slow-account
    name: Slow account
    department: test-ops
    owner: oscar
    request: {form: {type: object}}
    approval: {auto_approve: "true"}
    fulfilment:
      tasks:
        - {id: account, name: Create the account, group: it-service-desk, kind: automated,
           http: {method: POST, url: "%[1]s/hooks/slow/accounts"},
           compensate: {method: DELETE, url: "%[1]s/hooks/accounts/{{tasks.account.outputs.id}}"}}
        - {id: check, name: Check the account, group: it-service-desk, needs: [account]}
  - key: test-locked-account
    name: Locked account
    department: test-ops
    owner: oscar
    request: {form: {type: object}}
    approval: {auto_approve: "true"}
    fulfilment:
      tasks:
        - {id: account, name: Create the account, group: it-service-desk, kind: automated,
           http: {method: POST, url: "%[1]s/hooks/accounts"},
           compensate: {method: DELETE, url: "%[1]s/hooks/locked/{{tasks.account.outputs.id}}"}}
        - {id: check, name: Check the account, group: it-service-desk, needs: [account]}
`, slow.URL))
			submit := func(service string) string {
				r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": service, "form": map[string]any{}})
				if r.Status != http.StatusCreated {
					t.Fatalf("submit %s: %d %s", service, r.Status, r.Raw)
				}
				return r.Body["id"].(string)
			}

			// A standard request (auto-approved, one automated task): no child workflow, and
			// its history's events counted.
			std := submit("test-account")
			waitFor(t, e, std, "alice", func(r response) bool { return r.Body["status"] == "resolved" })
			events, children := e.history(t, std)
			t.Logf("a standard request of revision 4: %d history events, %d child workflows", events, children)
			if children != 0 {
				t.Errorf("%s started %d child workflows", std, children)
			}

			// Withdrawn while the call is in flight. The call is a local activity in the
			// request's workflow task (the submission's, as it is auto-approved), so the
			// submission answers once it returns; the requester withdraws meanwhile.
			submitted := make(chan string, 1)
			go func() {
				r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-slow-account", "form": map[string]any{}})
				id, _ := r.Body["id"].(string)
				submitted <- id
			}()
			var key string
			select {
			case key = <-started:
			case <-time.After(30 * time.Second):
				t.Fatal("the slow call never started")
			}
			id := strings.TrimSuffix(key, ".account")
			if key != workflows.IdempotencyKey(id, "account") {
				t.Fatalf("the call carried %q", key)
			}
			// The withdrawal finds the request in the read model (its first projection runs beside
			// the call), then waits for the workflow task that makes the call.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if _, err := e.store.Request(t.Context(), id); err == nil {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("%s is not in the read model: %v", id, err)
				}
			}
			if r := e.call("POST", "/v1/requests/"+id+"/cancel", "alice", map[string]any{"reason": "no longer needed"}); r.Status != http.StatusOK {
				g := e.call("GET", "/v1/requests/"+id, "alice", nil)
				t.Fatalf("cancel: %d %s\n%s", r.Status, r.Raw, g.Raw)
			}
			if got := <-submitted; got != id {
				t.Errorf("submitted %q, the call was for %q", got, id)
			}
			final := waitFor(t, e, id, "alice", func(r response) bool { return r.Body["status"] == "cancelled" })
			st := e.hooks.Stats()
			if st.Applied[key] != 1 || st.Applied[key+".compensate"] != 1 {
				t.Errorf("the receiver applied the call %d times and its undo %d times, want once each: %v", st.Applied[key], st.Applied[key+".compensate"], st.Applied)
			}
			undone := 0
			for res, n := range st.Undone {
				if strings.HasPrefix(res, "accounts-") {
					undone += n
				}
			}
			if undone != 1 {
				t.Errorf("undone %v, want the account once", st.Undone)
			}
			if tl := timeline(final); !strings.Contains(tl, "task.completed") || !strings.Contains(tl, "task.compensated") {
				t.Errorf("the timeline does not show the call done and undone:\n%s", tl)
			}
			if _, children := e.history(t, id); children != 0 {
				t.Errorf("%s started %d child workflows", id, children)
			}

			// An undo that fails for good: a task in the IT service desk's queue.
			locked := submit("test-locked-account")
			waitFor(t, e, locked, "alice", func(r response) bool { return taskStates(r)["check"] == "open" })
			e.call("POST", "/v1/requests/"+locked+"/cancel", "alice", map[string]any{"reason": "wrong person"})
			ref := locked + ".undo-account"
			poll(t, e, "/v1/tasks", "dave", 30*time.Second, func(r response) bool { return strings.Contains(string(r.Raw), ref) })
			if r := e.call("GET", "/v1/requests/"+locked, "alice", nil); r.Body["status"] == "cancelled" || taskStates(r)["undo-account"] != "open" {
				t.Fatalf("the request closed with its undo open: %s", r.Raw)
			}
			// The operator's view: the task board in the request's current details.
			if v, err := e.tc.QueryWorkflow(context.Background(), workflows.RequestWorkflowID(locked), "", "__temporal_workflow_metadata"); err != nil {
				t.Errorf("metadata: %v", err)
			} else {
				var md sdkpb.WorkflowMetadata
				if err := v.Get(&md); err != nil {
					t.Errorf("metadata: %v", err)
				}
				if b := md.GetCurrentDetails(); !strings.Contains(b, "| Undo by hand: Create the account | it-service-desk | open |") {
					t.Errorf("the task board does not show the undo open:\n%s", b)
				}
			}
			if r := e.call("POST", "/v1/tasks/"+ref+"/complete", "dave", map[string]any{"outputs": map[string]any{}}); r.Status != http.StatusOK || r.Body["status"] != "cancelled" {
				t.Fatalf("complete the undo: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// history counts the events of a request's workflow history and the child workflows it started.
func (e *env) history(t *testing.T, id string) (events, children int) {
	t.Helper()
	it := e.tc.GetWorkflowHistory(context.Background(), workflows.RequestWorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		if ev.GetEventType() == enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED {
			children++
		}
	}
	return events, children
}
