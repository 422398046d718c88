package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/worker"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

const scimToken = "e2e-scim-token-0123456789"

// scim sends one SCIM call as the identity provider (the SCIM routes are not in openapi.yaml:
// RFC 7644 is their contract, checked in api/scim_test.go).
func (e *env) scim(method, path, body string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+"/scim/v2"+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("SCIM %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
}

// pendingOn says whether the open step waits on person (undecided).
func approverIDs(r response) []string {
	var out []string
	approvals, _ := r.Body["approvals"].([]any)
	if len(approvals) == 0 {
		return nil
	}
	for _, a := range approvals[len(approvals)-1].(map[string]any)["approvers"].([]any) {
		m := a.(map[string]any)
		if m["decision"] == nil {
			out = append(out, m["id"].(string))
		}
	}
	return out
}

func timelineHas(r response, typ, detail string) bool {
	tl, _ := r.Body["timeline"].([]any)
	for _, ev := range tl {
		m := ev.(map[string]any)
		if m["type"] == typ && strings.Contains(m["detail"].(string), detail) {
			return true
		}
	}
	return false
}

// TestLeaverAndMover (issue 22): through the real SCIM API, on the real dev server and both
// databases. Tara leaves (Okta's PATCH active=false) while Dave's laptop waits on her approval,
// Carol's laptop task is hers, she delegated to Frank and owns the laptop service: the step
// waits on Ivan, her manager, the task is back in the IT service desk's queue, the delegation
// has ended, the service is flagged; the same PATCH again changes nothing more. Alice moves to
// a new manager (Entra ID's PATCH of the manager) while her laptop waits on Bob: it waits on
// Carol.
func TestLeaverAndMover(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := startEnvWith(t, freshNamespace(t), storetest.URL(t, dialect), true, nil, func(c *api.Config) { c.SCIMToken = scimToken })
			ctx := context.Background()
			// Tara owns the laptop service (the example names Ivan; the test's catalog row says Tara).
			if _, err := e.store.DB.ExecContext(ctx, `UPDATE service_versions SET definition = REPLACE(definition, '"owner":"ivan"', '"owner":"tara"') WHERE service_key = 'laptop'`); err != nil {
				t.Fatal(err)
			}
			pending := submitLaptop(t, e, "dave") // waits on Tara, Dave's manager
			held := submitLaptop(t, e, "carol")   // Bob approves; Tara claims the task
			if r := e.call("POST", "/v1/requests/"+held+"/decision", "bob", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
				t.Fatalf("bob approves: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/tasks/"+held+".prepare/claim", "tara", nil); r.Status != http.StatusOK {
				t.Fatalf("tara claims: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/delegations", "tara", map[string]any{"delegate": "frank", "ends_at": time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)}); r.Status != http.StatusCreated {
				t.Fatalf("delegation: %d %s", r.Status, r.Raw)
			}
			moving := submitLaptop(t, e, "alice") // waits on Bob

			deactivate := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
			e.scim("PATCH", "/Users/tara", deactivate)
			e.scim("PATCH", "/Users/tara", deactivate) // Okta retries

			r := waitFor(t, e, pending, "dave", func(r response) bool { ids := approverIDs(r); return len(ids) == 1 && ids[0] == "ivan" })
			if !timelineHas(r, "approval.reassigned", `approver left: Tara Singh was deactivated in the identity provider; step "manager" now waits on Ivan Petrov (Tara Singh's manager)`) {
				t.Errorf("the audit trail does not say why: %s", r.Raw)
			}
			r = waitFor(t, e, held, "carol", func(r response) bool { return taskStates(r)["prepare"] == "open" })
			if !timelineHas(r, "task.unassigned", "assignee left: Tara Singh was deactivated in the identity provider; Prepare and ship the laptop is back in the it-service-desk queue") {
				t.Errorf("task: %s", r.Raw)
			}
			if ds, err := e.store.Delegations(ctx, "tara", time.Now()); err != nil || len(ds) != 0 {
				t.Errorf("tara's delegations still run: %v %v", ds, err)
			}
			if who, err := e.store.OwnerLeft(ctx, "laptop"); err != nil || who != "tara" {
				t.Errorf("laptop not flagged: %q %v", who, err)
			}
			// Ivan decides; Tara's token no longer does anything (she left the directory).
			if r := e.call("POST", "/v1/requests/"+pending+"/decision", "ivan", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
				t.Errorf("ivan decides: %d %s", r.Status, r.Raw)
			}
			if n := strings.Count(string(e.call("GET", "/v1/requests/"+pending, "dave", nil).Raw), "approval.reassigned"); n != 1 {
				t.Errorf("%d reassignments, want 1 (the change ran once)", n)
			}

			e.scim("PATCH", "/Users/alice", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
				{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"carol"}]}`)
			r = waitFor(t, e, moving, "alice", func(r response) bool { ids := approverIDs(r); return len(ids) == 1 && ids[0] == "carol" })
			if !timelineHas(r, "approval.reassigned", `step "manager" now waits on Carol Diaz (no longer Bob Ruiz)`) {
				t.Errorf("mover: %s", r.Raw)
			}
			// Bob no longer sees the request (404, docs/ACCESS.md), let alone decides it.
			if r := e.call("POST", "/v1/requests/"+moving+"/decision", "bob", map[string]any{"decision": "approve"}); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
				t.Errorf("bob decides after alice moved: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/requests/"+moving+"/decision", "carol", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
				t.Errorf("carol decides: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// TestLeaverWhileTemporalDown (issue 22, both databases, real dev server): Okta deactivates Tara
// through an API whose Temporal is unreachable. The SCIM call answers success (the change is
// recorded) and no workflow runs; Dave's laptop still waits on her. The worker's sweep starts the
// recorded change: the step waits on Ivan, her delegation has ended. A second sweep, and a
// second start of the same change, run nothing twice: one DirectoryChange run, one reassignment.
func TestLeaverWhileTemporalDown(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := startEnvWith(t, freshNamespace(t), storetest.URL(t, dialect), true, nil, func(c *api.Config) { c.SCIMToken = scimToken })
			ctx := context.Background()
			pending := submitLaptop(t, e, "dave") // waits on Tara, Dave's manager
			if r := e.call("POST", "/v1/delegations", "tara", map[string]any{"delegate": "frank", "ends_at": time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)}); r.Status != http.StatusCreated {
				t.Fatalf("delegation: %d %s", r.Status, r.Raw)
			}

			// The same store, behind an API whose Temporal is unreachable (nothing listens on port 1).
			down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: e.ns, Logger: quiet{}})
			if err != nil {
				t.Fatal(err)
			}
			defer down.Close()
			srv := httptest.NewServer(api.New(api.Config{Store: e.store, JWTSecret: secret, Temporal: down, SCIMToken: scimToken,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
			defer srv.Close()
			req, _ := http.NewRequest("PATCH", srv.URL+"/scim/v2/Users/tara", strings.NewReader(
				`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`))
			req.Header.Set("Authorization", "Bearer "+scimToken)
			req.Header.Set("Content-Type", "application/scim+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("SCIM PATCH with Temporal down: %d %s, want 200 (the change is recorded)", resp.StatusCode, raw)
			}
			unstarted, err := e.store.UnstartedChanges(ctx, 10)
			if err != nil || len(unstarted) != 1 || unstarted[0].Person != "tara" || unstarted[0].Kind != store.ChangeLeft {
				t.Fatalf("unstarted changes = %+v %v, want tara's leaving", unstarted, err)
			}
			wid := workflows.DirectoryChangeWorkflowID(unstarted[0].Key)
			var nf *serviceerror.NotFound
			if _, err := e.tc.DescribeWorkflowExecution(ctx, wid, ""); !errors.As(err, &nf) {
				t.Fatalf("%s exists before the sweep: %v", wid, err)
			}
			if ids := approverIDs(e.call("GET", "/v1/requests/"+pending, "dave", nil)); len(ids) != 1 || ids[0] != "tara" {
				t.Fatalf("before the sweep the step waits on %v, want tara", ids)
			}

			rec := &worker.Reconciler{Temporal: e.tc, Store: e.store}
			if n, err := rec.StartDirectoryChanges(ctx); err != nil || n != 1 {
				t.Fatalf("sweep: %d %v, want 1", n, err)
			}
			r := waitFor(t, e, pending, "dave", func(r response) bool { ids := approverIDs(r); return len(ids) == 1 && ids[0] == "ivan" })
			if !timelineHas(r, "approval.reassigned", "approver left: Tara Singh was deactivated in the identity provider") {
				t.Errorf("the audit trail does not say why: %s", r.Raw)
			}
			if err := e.tc.GetWorkflow(ctx, wid, "").Get(ctx, nil); err != nil {
				t.Fatalf("%s: %v", wid, err)
			}
			if ds, err := e.store.Delegations(ctx, "tara", time.Now()); err != nil || len(ds) != 0 {
				t.Errorf("tara's delegations still run: %v %v", ds, err)
			}

			if n, err := rec.StartDirectoryChanges(ctx); err != nil || n != 0 {
				t.Errorf("second sweep: %d %v, want 0", n, err)
			}
			if err := worker.StartDirectoryChange(ctx, e.tc, unstarted[0]); err != nil {
				t.Errorf("handing the applied change over again: %v, want nil and no second run", err)
			}
			runs := 0
			iter := e.tc.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					t.Fatal(err)
				}
				if ev.GetWorkflowExecutionStartedEventAttributes() != nil {
					runs++
				}
			}
			desc, err := e.tc.DescribeWorkflowExecution(ctx, wid, "")
			if err != nil || runs != 1 || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				t.Errorf("%s: %d starts in its history, status %v, %v; want one completed run", wid, runs, desc.GetWorkflowExecutionInfo().GetStatus(), err)
			}
			if n := strings.Count(string(e.call("GET", "/v1/requests/"+pending, "dave", nil).Raw), "approval.reassigned"); n != 1 {
				t.Errorf("%d reassignments, want 1 (the change ran once)", n)
			}
		})
	}
}
