package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
)

var laptopForm = map[string]any{"model": "standard-14", "reason": "my old laptop's battery is dead"}

// TestWalkthrough is the README's walkthrough: Alice submits, Bob (her manager) approves, Dave
// (IT service desk) completes the task, and the request reads resolved, on each database.
func TestWalkthrough(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)

			r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop", "form": laptopForm}, "Idempotency-Key", "walkthrough-1")
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)
			if r.Body["status"] != "pending_approval" || r.Body["service"] != "laptop" || r.Body["version"] != float64(1) {
				t.Fatalf("submit answered %s", r.Raw)
			}
			if got := r.Header.Get("Location"); got != "/v1/requests/"+id {
				t.Errorf("Location = %q", got)
			}

			// The requester's list and the manager's inbox show it as soon as submit answers.
			r = e.call("GET", "/v1/requests", "alice", nil)
			if items := r.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id {
				t.Fatalf("alice's requests: %s", r.Raw)
			}
			r = e.call("GET", "/v1/approvals", "bob", nil)
			if items := r.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["request"] != id {
				t.Fatalf("bob's approvals: %s", r.Raw)
			}

			r = e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve", "comment": "go ahead"})
			if r.Status != http.StatusOK || r.Body["status"] != "in_fulfilment" {
				t.Fatalf("approve: %d %s", r.Status, r.Raw)
			}
			if r = e.call("GET", "/v1/approvals", "bob", nil); len(r.Body["items"].([]any)) != 0 {
				t.Errorf("bob's inbox still has it: %s", r.Raw)
			}

			r = e.call("GET", "/v1/tasks", "dave", nil)
			items := r.Body["items"].([]any)
			if len(items) != 1 {
				t.Fatalf("dave's queue: %s", r.Raw)
			}
			task := items[0].(map[string]any)["id"].(string)
			if task != id+".prepare" {
				t.Fatalf("task id %q", task)
			}
			if r = e.call("POST", "/v1/tasks/"+task+"/claim", "dave", nil); r.Status != http.StatusOK {
				t.Fatalf("claim: %d %s", r.Status, r.Raw)
			}
			r = e.call("POST", "/v1/tasks/"+task+"/complete", "dave", map[string]any{"outputs": map[string]any{"asset_tag": "LT-0042"}})
			if r.Status != http.StatusOK || r.Body["status"] != "resolved" {
				t.Fatalf("complete: %d %s", r.Status, r.Raw)
			}

			r = e.call("GET", "/v1/requests/"+id, "alice", nil)
			if r.Status != http.StatusOK || r.Body["status"] != "resolved" {
				t.Fatalf("final state: %d %s", r.Status, r.Raw)
			}
			tasks := r.Body["tasks"].([]any)
			if out := tasks[0].(map[string]any)["outputs"].(map[string]any); out["asset_tag"] != "LT-0042" {
				t.Errorf("outputs: %v", out)
			}
			var types []string
			for _, ev := range r.Body["timeline"].([]any) {
				types = append(types, ev.(map[string]any)["type"].(string))
			}
			want := []string{"submitted", "approval.requested", "sla.response_stopped", "approval.approve", "task.opened",
				"task.claimed", "task.completed", "sla.resolution_stopped", "resolved"}
			if fmt.Sprint(types) != fmt.Sprint(want) {
				t.Errorf("timeline %v, want %v", types, want)
			}

			// The audit trail in the database matches, and the workflow is completed as request/REQ-....
			events, err := e.store.Events(context.Background(), id)
			if err != nil || len(events) != len(want) {
				t.Errorf("audit trail: %v %v", events, err)
			}
			// The workflow closes a moment after the last answer (its task workflows end first).
			run := e.tc.GetWorkflow(context.Background(), workflows.RequestWorkflowID(id), "")
			var result workflows.RequestResult
			if err := run.Get(context.Background(), &result); err != nil || result.Status != "resolved" {
				t.Errorf("workflow result %+v, %v", result, err)
			}
			desc, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.RequestWorkflowID(id), "")
			if err != nil {
				t.Fatal(err)
			}
			if st := desc.WorkflowExecutionInfo.Status; st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				t.Errorf("workflow %s is %v", workflows.RequestWorkflowID(id), st)
			}
			// Revision 4 runs tasks inside the request: no task workflow of its own.
			if _, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.TaskWorkflowID(id, "prepare"), ""); err == nil {
				t.Errorf("a task workflow %s exists: tasks run inside the request", workflows.TaskWorkflowID(id, "prepare"))
			}
		})
	}
}
