package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/converter"
)

// searchAttributes reads a request workflow's ESM search attributes as the server holds them
// (what an operator filters on in the Temporal UI).
func (e *env) searchAttributes(id string) map[string]any {
	e.t.Helper()
	d, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.RequestWorkflowID(id), "")
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]any{}
	for name, p := range d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields() {
		var v any
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
			e.t.Fatalf("%s: %v", name, err)
		}
		out[name] = v
	}
	return out
}

// TestSearchAttributes: a request's search attributes follow its status and stage, the
// auto-approved one's included, whose first workflow task takes it from submitted to fulfilment.
func TestSearchAttributes(t *testing.T) {
	e := newEnv(t, "sqlite")
	want := func(id string, status, stage string) {
		t.Helper()
		sa := e.searchAttributes(id)
		if sa["EsmStatus"] != status || sa["EsmStage"] != stage || sa["EsmDepartment"] != "finance" || sa["EsmService"] != "expense-reimbursement" || sa["EsmPriority"] != "normal" {
			t.Errorf("%s: search attributes %v, want status %s and stage %q", id, sa, status, stage)
		}
		if _, ok := sa["EsmDueAt"]; !ok {
			t.Errorf("%s: no EsmDueAt in %v", id, sa)
		}
	}
	small := e.submitExpense("alice", map[string]any{"service": "expense-reimbursement",
		"form": map[string]any{"amount": 12.5, "category": "meals", "description": "team lunch"}})
	if small.Status != http.StatusCreated || small.Body["status"] != "in_fulfilment" {
		t.Fatalf("a small expense is auto-approved: %d %s", small.Status, small.Raw)
	}
	id := small.Body["id"].(string)
	want(id, "in_fulfilment", "fulfilment: pay")

	big := e.submitExpense("alice", map[string]any{"service": "expense-reimbursement",
		"form": map[string]any{"amount": 450, "category": "travel", "description": "train to Berlin"}})
	want(big.Body["id"].(string), "pending_approval", "approval: manager")

	task := id + ".pay"
	if r := e.call("POST", "/v1/tasks/"+task+"/claim", "fay", nil); r.Status != http.StatusOK {
		t.Fatalf("claim: %d %s", r.Status, r.Raw)
	}
	if r := e.call("POST", "/v1/tasks/"+task+"/complete", "fay", map[string]any{}); r.Status != http.StatusOK || r.Body["status"] != "resolved" {
		t.Fatalf("complete: %d %s", r.Status, r.Raw)
	}
	want(id, "resolved", "resolved")
}
