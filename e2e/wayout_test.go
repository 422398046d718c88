package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/worker"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Every way out of a request (issue 16, item 3), through a real dev server: an operator's
// Cancel (client.CancelWorkflow, as the Temporal UI and CLI send it) at every stage, a
// Terminate, and a lifecycle cancelled.

// cancelByOperator cancels the request's workflow as an operator would and waits for it to
// close: it must close as cancelled, without a workflow task failing on the way (the deadlock
// detector).
func cancelByOperator(t *testing.T, e *env, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wid := workflows.RequestWorkflowID(id)
	if err := e.tc.CancelWorkflow(ctx, wid, ""); err != nil {
		t.Fatalf("cancel %s: %v", wid, err)
	}
	err := e.tc.GetWorkflow(ctx, wid, "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("%s after an operator's cancel: %v, want it cancelled", wid, err)
	}
	noFailedTasks(t, e, wid)
}

// noFailedTasks fails the test if a workflow task of wid failed (a spin the deadlock detector
// caught, a panic).
func noFailedTasks(t *testing.T, e *env, wid string) {
	t.Helper()
	it := e.tc.GetWorkflowHistory(context.Background(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		// UnhandledCommand is the server asking for a task again because an event arrived as
		// it completed: routine, not a failure of the code.
		if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil && a.GetCause() != enumspb.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND {
			t.Fatalf("%s: a workflow task failed: %s", wid, a.GetFailure().GetMessage())
		}
	}
}

// closedEverywhere checks that the read model shows the request closed with status and a
// reason containing reason: its GET, the requester's list, and no inbox or queue of whom.
func closedEverywhere(t *testing.T, e *env, id, requester, status, reason string, approvers, fulfillers []string) {
	t.Helper()
	st, err := e.store.Request(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != status || !strings.Contains(st.Reason, reason) || st.ClosedAt == nil {
		t.Fatalf("read model of %s: %s %q closed at %v, want %s %q", id, st.Status, st.Reason, st.ClosedAt, status, reason)
	}
	for _, task := range st.Tasks {
		if task.State == catalog.TaskOpen || task.State == catalog.TaskClaimed || task.State == catalog.TaskRunning {
			t.Errorf("task %s is %s in the read model of a closed request", task.ID, task.State)
		}
	}
	if r := e.call("GET", "/v1/requests/"+id, requester, nil); r.Body["status"] != status {
		t.Errorf("GET %s: %d %s", id, r.Status, r.Raw)
	}
	found := false
	for _, it := range items(e.call("GET", "/v1/requests?limit=100", requester, nil)) {
		if it["id"] == id {
			found = true
			if it["status"] != status {
				t.Errorf("the requester's list shows %s %v", id, it["status"])
			}
		}
	}
	if !found {
		t.Errorf("%s is not in the requester's list", id)
	}
	for _, who := range approvers {
		for _, it := range items(e.call("GET", "/v1/approvals?limit=200", who, nil)) {
			if it["request"] == id {
				t.Errorf("%s is still in %s's inbox", id, who)
			}
		}
	}
	for _, who := range fulfillers {
		for _, it := range items(e.call("GET", "/v1/tasks?limit=200", who, nil)) {
			if strings.HasPrefix(it["id"].(string), id+".") {
				t.Errorf("%s is still in %s's queue", it["id"], who)
			}
		}
	}
}

func submitOK(t *testing.T, e *env, who string, body map[string]any) string {
	t.Helper()
	r := e.call("POST", "/v1/requests", who, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("submit %v: %d %s", body["service"], r.Status, r.Raw)
	}
	return r.Body["id"].(string)
}

var vpnForm = map[string]any{"service": "vpn-access", "form": map[string]any{"zones": []any{"office"}}}

// TestOperatorCancel cancels requests through the client while pending approval, while waiting
// on the requester, with a manual task open (after an automated task completed), and during an
// automated call; each ends cancelled, compensated, and closed in the read model, and frees
// max_open.
func TestOperatorCancel(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)

			// Pending approval: vpn-access allows one open request (max_open: 1).
			id := submitOK(t, e, "alice", vpnForm)
			if r := e.call("GET", "/v1/approvals", "bob", nil); len(items(r)) != 1 {
				t.Fatalf("bob's inbox: %s", r.Raw)
			}
			cancelByOperator(t, e, id)
			closedEverywhere(t, e, id, "alice", catalog.StatusCancelled, workflows.OperatorCancelReason, []string{"bob"}, nil)
			r := e.call("GET", "/v1/requests/"+id, "alice", nil)
			if !strings.Contains(string(r.Raw), "cancel.operator") {
				t.Errorf("the timeline does not say an operator cancelled: %s", r.Raw)
			}

			// Waiting on the requester: max_open was freed, so alice may ask again.
			id = submitOK(t, e, "alice", vpnForm)
			if r := e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "request_info", "comment": "which lab?"}); r.Status != http.StatusOK {
				t.Fatalf("ask: %d %s", r.Status, r.Raw)
			}
			waitFor(t, e, id, "alice", func(r response) bool { return r.Body["status"] == catalog.StatusWaitingOnRequester })
			cancelByOperator(t, e, id)
			closedEverywhere(t, e, id, "alice", catalog.StatusCancelled, workflows.OperatorCancelReason, []string{"bob"}, nil)
			submitOK(t, e, "alice", vpnForm) // max_open freed again

			// In fulfilment with manual tasks open, after two automated tasks completed: both
			// are undone, once each, as the requester's withdraw would.
			id = submitOK(t, e, "alice", map[string]any{"service": "onboarding", "form": onboardingForm})
			e.call("POST", "/v1/requests/"+id+"/decision", "helen", map[string]any{"decision": "approve"})
			waitFor(t, e, id, "alice", func(r response) bool {
				st := taskStates(r)
				return st["accounts"] == "done" && st["laptop"] == "open"
			})
			before := e.hooks.Stats()
			cancelByOperator(t, e, id)
			after := e.hooks.Stats()
			if len(after.Undone)-len(before.Undone) != 2 {
				t.Errorf("undone: %v (before %v)", after.Undone, before.Undone)
			}
			closedEverywhere(t, e, id, "alice", catalog.StatusCancelled, workflows.OperatorCancelReason, nil, []string{"dave", "walt", "helen"})
		})
	}
}

// TestOperatorCancelDuringACall cancels a request while its automated task's call is under way
// (the endpoint holds the call, and with it the workflow task that runs it as a local activity).
// The cancel reaches the workflow after the call's result, in the next workflow task: by then the
// request (its only task done) is resolved. Up to revision 4 the workflow completed in the task
// that resolved it, the server refused that completion because the cancel had arrived meanwhile,
// and the request ended cancelled with its call undone. From revision 5 the resolved request waits
// for its requester's notice before it completes, so the late cancel finds it closed and changes
// nothing: resolved, the call made (a retry of it carries the same key) and never undone, the workflow completed. Either way
// nothing is lost or doubled, and the read model agrees with the workflow.
func TestOperatorCancelDuringACall(t *testing.T) {
	e := newEnv(t, "sqlite")
	var calls, deletes atomic.Int32
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	// The first call is held until the test releases it (after the operator's cancel); a retry
	// of it (the same idempotency key, after a worker's task was retried) answers at once, as an
	// idempotent endpoint would. Holding a call for as long as the worker's HTTP client waits
	// (10 s) would race its timeout, and each attempt would end in a retry.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
		}
		if r.Method == http.MethodPost && calls.Add(1) == 1 {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-time.After(30 * time.Second):
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "thing-1"})
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	dir := t.TempDir()
	def := `services:
  - key: test-slow-call
    name: Slow call
    department: it
    owner: oscar
    summary: An automated task whose endpoint holds the call, for tests.
    request: {form: {type: object}}
    fulfilment:
      tasks:
        - id: call
          name: Call the slow system
          group: it-service-desk
          kind: automated
          http: {method: POST, url: "` + slow.URL + `/things", body: {user: "{{requester.id}}"}}
          compensate: {method: DELETE, url: "` + slow.URL + `/things/{{tasks.call.outputs.id}}"}
`
	if err := os.WriteFile(filepath.Join(dir, "slow.yaml"), []byte(def), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := catalog.Load(append(catalogPaths, dir)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ApplyBundle(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The submission answers once its workflow task (which makes the call, a local activity)
	// completes: it is sent aside, and the operator cancels while the call is held.
	submitted := make(chan response, 1)
	go func() {
		submitted <- e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-slow-call", "form": map[string]any{}})
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the call never arrived")
	}
	id := catalog.RequestID(1) // the env's first request
	go func() {
		time.Sleep(time.Second) // the cancel is requested while the call is held; then it answers
		release <- struct{}{}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wid := workflows.RequestWorkflowID(id)
	if err := e.tc.CancelWorkflow(ctx, wid, ""); err != nil {
		t.Fatalf("cancel %s: %v", wid, err)
	}
	if err := e.tc.GetWorkflow(ctx, wid, "").Get(ctx, nil); err != nil {
		t.Fatalf("%s after a cancel that came after its last task: %v, want it completed", wid, err)
	}
	noFailedTasks(t, e, wid)
	if r := <-submitted; r.Status != http.StatusCreated || r.Body["id"] != id {
		t.Fatalf("the submission: %d %s", r.Status, r.Raw)
	}
	if n := calls.Load(); n < 1 {
		t.Fatalf("%d calls", n)
	}
	if n := deletes.Load(); n != 0 {
		t.Fatalf("the call of a resolved request was undone %d times", n)
	}
	closedEverywhere(t, e, id, "alice", catalog.StatusResolved, "", nil, []string{"dave"})
}

// TestTerminatedRequestCloses terminates a request pending approval (no workflow code runs) and
// a request with a manual task open: the reconciler closes both in the read model, they leave
// the inbox and the queue, and max_open is freed.
func TestTerminatedRequestCloses(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			pending := submitOK(t, e, "alice", vpnForm)
			open := submitOK(t, e, "erin", map[string]any{"service": "password-reset", "form": map[string]any{"system": "email"}})
			waitFor(t, e, open, "erin", func(r response) bool { return taskStates(r)["reset"] == "open" })
			ctx := context.Background()
			for _, id := range []string{pending, open} {
				if err := e.tc.TerminateWorkflow(ctx, workflows.RequestWorkflowID(id), "", "stuck on a bad deploy"); err != nil {
					t.Fatal(err)
				}
			}
			rec := &worker.Reconciler{Temporal: e.tc, Store: e.store}
			deadline := time.Now().Add(30 * time.Second)
			for closed := 0; closed < 2; {
				n, err := rec.Once(ctx)
				if err != nil {
					t.Fatal(err)
				}
				closed += n
				if time.Now().After(deadline) {
					t.Fatalf("reconciled %d of 2 terminated requests", closed)
				}
				time.Sleep(200 * time.Millisecond)
			}
			const why = "terminated by an operator: stuck on a bad deploy"
			closedEverywhere(t, e, pending, "alice", catalog.StatusFailed, why, []string{"bob"}, nil)
			closedEverywhere(t, e, open, "erin", catalog.StatusFailed, why, nil, []string{"dave", "tara"})
			submitOK(t, e, "alice", vpnForm) // max_open freed
			submitOK(t, e, "erin", map[string]any{"service": "password-reset", "form": map[string]any{"system": "email"}})
			// A second round writes nothing.
			if n, err := rec.Once(ctx); err != nil || n != 0 {
				t.Fatalf("second round: %d %v", n, err)
			}
		})
	}
}

// TestOperatorCancelTellsARetiringService: a service retiring with the drain policy waits for
// its requests in flight; one an operator cancels counts as closed, and the service retires.
func TestOperatorCancelTellsARetiringService(t *testing.T) {
	e := newEnv(t, "sqlite")
	id := submitOK(t, e, "alice", vpnForm)
	r := e.call("POST", "/v1/catalog/services/vpn-access/lifecycle", "ivan", map[string]any{"action": "retire"})
	if r.Status != http.StatusOK || r.Body["stage"] != "retiring" {
		t.Fatalf("retire: %d %s", r.Status, r.Raw)
	}
	cancelByOperator(t, e, id)
	poll(t, e, "/v1/catalog/services/vpn-access/lifecycle", "oscar", 15*time.Second, func(r response) bool {
		return r.Status == http.StatusOK && r.Body["stage"] == "retired"
	})
}

// TestOperatorCancelsALifecycle cancels a service's lifecycle workflow through the client: it
// closes as cancelled without a workflow task failing (before, its loop spun until the
// deadlock detector failed the task, again and again), the stage stays what it was, and the
// next call about the service starts its lifecycle again from the store.
func TestOperatorCancelsALifecycle(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wid := workflows.ServiceWorkflowID("laptop")
	if err := e.tc.CancelWorkflow(ctx, wid, ""); err != nil {
		t.Fatal(err)
	}
	err := e.tc.GetWorkflow(ctx, wid, "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("lifecycle after an operator's cancel: %v", err)
	}
	noFailedTasks(t, e, wid)
	if si, err := e.store.Service(ctx, "laptop"); err != nil || si.Stage != catalog.StagePublished {
		t.Fatalf("the service after its lifecycle was cancelled: %+v %v", si, err)
	}
	r := poll(t, e, "/v1/catalog/services/laptop/lifecycle", "oscar", 15*time.Second, func(r response) bool { return r.Status == http.StatusOK })
	if r.Body["stage"] != catalog.StagePublished {
		t.Fatalf("lifecycle after a restart: %s", r.Raw)
	}
	desc, err := e.tc.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the lifecycle did not start again: %v %v", desc, err)
	}
	// The service's requests go on.
	submitOK(t, e, "alice", map[string]any{"service": "laptop", "form": laptopForm})
}
