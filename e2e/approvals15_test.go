package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
)

// Issue 15 §1 and §2: nobody decides their own request, separation of duties holds on every
// path, quorums never shrink, and a request is never failed for the shape of the org chart. The
// people and services are the example catalog's; each case is a request of its own in one env
// per database.
func TestApprovals15(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			a := approvals15{t: t, e: e}
			t.Run("delegate decides own request", a.delegateSelfApproval)
			t.Run("one delegate of both steps", a.oneDelegateBothSteps)
			t.Run("principal of a delegate decides the next step", a.principalDecidesNextStep)
			t.Run("escalation adds the earlier decider", a.escalationAddsEarlierDecider)
			t.Run("quorum never shrinks", a.quorumNeverShrinks)
			t.Run("CEO asks for a laptop", a.ceoLaptop)
			t.Run("Finance head asks for a corporate card", a.financeHeadCard)
		})
	}
}

type approvals15 struct {
	t *testing.T
	e *env
}

var purchaseOrder9000 = map[string]any{"service": "purchase-order",
	"form": map[string]any{"supplier": "Acme Office", "amount": 9000, "description": "standing desks for the team"}}

func (a approvals15) submit(t *testing.T, who string, body map[string]any) response {
	t.Helper()
	r := a.e.call("POST", "/v1/requests", who, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("%s submits %v: %d %s", who, body["service"], r.Status, r.Raw)
	}
	return r
}

func (a approvals15) delegate(t *testing.T, from, to string) {
	t.Helper()
	r := a.e.call("POST", "/v1/delegations", from, map[string]any{"delegate": to, "ends_at": time.Now().Add(7 * 24 * time.Hour).Format(time.RFC3339)})
	if r.Status != http.StatusCreated {
		t.Fatalf("%s delegates to %s: %d %s", from, to, r.Status, r.Raw)
	}
}

func (a approvals15) approve(t *testing.T, id, who string) response {
	t.Helper()
	r := a.e.call("POST", "/v1/requests/"+id+"/decision", who, map[string]any{"decision": "approve"})
	if r.Status != http.StatusOK {
		t.Fatalf("%s approves %s: %d %s", who, id, r.Status, r.Raw)
	}
	return r
}

// refused checks that who's approval of id is refused with 403 and leaves no trace in the
// workflow's history.
func (a approvals15) refused(t *testing.T, id, who string) {
	t.Helper()
	before := historyLength(t, a.e, id)
	r := a.e.call("POST", "/v1/requests/"+id+"/decision", who, map[string]any{"decision": "approve"})
	if r.Status != http.StatusForbidden {
		t.Fatalf("%s approves %s: %d, want 403: %s", who, id, r.Status, r.Raw)
	}
	if after := historyLength(t, a.e, id); after != before {
		t.Errorf("the refused decision of %s entered the history: %d events, then %d", who, before, after)
	}
}

func (a approvals15) get(t *testing.T, id, who string) response {
	t.Helper()
	r := a.e.call("GET", "/v1/requests/"+id, who, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("get %s as %s: %d %s", id, who, r.Status, r.Raw)
	}
	return r
}

// step returns approval step i of a request: its required count and its approvers' ids.
func step(t *testing.T, r response, i int) (required int, approvers []string) {
	t.Helper()
	steps, _ := r.Body["approvals"].([]any)
	if len(steps) <= i {
		t.Fatalf("no step %d: %s", i, r.Raw)
	}
	s := steps[i].(map[string]any)
	for _, ap := range s["approvers"].([]any) {
		approvers = append(approvers, ap.(map[string]any)["id"].(string))
	}
	return int(s["required"].(float64)), approvers
}

// timeline returns the request's events as "type: detail" lines.
func timeline(r response) string {
	var out []string
	for _, ev := range r.Body["timeline"].([]any) {
		m := ev.(map[string]any)
		d, _ := m["detail"].(string)
		out = append(out, m["type"].(string)+": "+d)
	}
	return strings.Join(out, "\n")
}

// delegateSelfApproval: Bob delegates his approvals to Alice; Alice may not approve her own
// laptop "on behalf of Bob".
func (a approvals15) delegateSelfApproval(t *testing.T) {
	a.delegate(t, "bob", "alice")
	id := submitLaptop(t, a.e, "alice")
	a.refused(t, id, "alice")
	if st := a.get(t, id, "alice"); st.Body["status"] != "pending_approval" {
		t.Fatalf("status %v", st.Body["status"])
	}
	a.approve(t, id, "bob")
}

// oneDelegateBothSteps: Carol is the delegate of Sam (step 1, Sara's manager) and of Farah
// (step 2, Finance approvers); having decided step 1 for Sam, she may not decide step 2.
func (a approvals15) oneDelegateBothSteps(t *testing.T) {
	a.delegate(t, "sam", "carol")
	a.delegate(t, "farah", "carol")
	id := a.submit(t, "sara", purchaseOrder9000).Body["id"].(string)
	a.approve(t, id, "carol") // on behalf of Sam
	_, approvers := step(t, a.get(t, id, "sara"), 1)
	if !contains(approvers, "farah") {
		t.Fatalf("step 2 approvers %v", approvers)
	}
	a.refused(t, id, "carol") // on behalf of Farah
}

// principalDecidesNextStep: Erin decides step 1 for Felix (Farah's manager); Felix may not
// then decide step 2 himself, although he is a Finance approver.
func (a approvals15) principalDecidesNextStep(t *testing.T) {
	a.delegate(t, "felix", "erin")
	id := a.submit(t, "farah", purchaseOrder9000).Body["id"].(string)
	a.approve(t, id, "erin") // on behalf of Felix
	st := a.get(t, id, "farah")
	if _, approvers := step(t, st, 1); contains(approvers, "felix") {
		t.Errorf("felix, for whom step 1 was decided, is asked again: %v", approvers)
	}
	a.refused(t, id, "felix")
}

// escalationAddsEarlierDecider: step 2 escalates to the approvers' managers after two seconds;
// Carol's manager is Bob, who decided step 1. The escalation does not add him, and he may not
// decide step 2.
func (a approvals15) escalationAddsEarlierDecider(t *testing.T) {
	applyServices(t, a.e, `
services:
  - key: test-two-steps
    name: Two steps
    department: test-ops
    owner: oscar
    request: {form: {type: object}}
    approval:
      steps:
        - {name: manager, approvers: {manager: true}}
        - {name: second, approvers: {people: [carol]}, escalate: {after: 2s, to: manager}}
    fulfilment:
      tasks:
        - {id: do, name: Do it, group: it-service-desk}
`)
	id := a.submit(t, "alice", map[string]any{"service": "test-two-steps", "form": map[string]any{}}).Body["id"].(string)
	a.approve(t, id, "bob")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(timeline(a.get(t, id, "alice")), "approval.escalated") {
		if time.Now().After(deadline) {
			t.Fatalf("step 2 did not escalate:\n%s", timeline(a.get(t, id, "alice")))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, approvers := step(t, a.get(t, id, "alice"), 1); contains(approvers, "bob") {
		t.Errorf("the escalation added bob, who decided step 1: %v", approvers)
	}
	a.refused(t, id, "bob")
	a.approve(t, id, "carol")
}

// quorumNeverShrinks: Fay (a Finance approver) orders for 9,000; Felix decides step 1. Of the
// three Finance approvers only Farah may decide step 2, which needs two: the step is not
// lowered to one, it is escalated (to the approvers' managers: Grace) and says why.
func (a approvals15) quorumNeverShrinks(t *testing.T) {
	id := a.submit(t, "fay", purchaseOrder9000).Body["id"].(string)
	a.approve(t, id, "felix")
	st := a.get(t, id, "fay")
	required, approvers := step(t, st, 1)
	if required != 2 {
		t.Fatalf("step 2 requires %d approvals, want 2 (approvers %v)", required, approvers)
	}
	if len(approvers) < 2 || contains(approvers, "fay") || contains(approvers, "felix") {
		t.Fatalf("step 2 approvers %v", approvers)
	}
	if tl := timeline(st); !strings.Contains(tl, "approval.topped_up") {
		t.Errorf("the audit trail does not say why the step was topped up:\n%s", tl)
	}
	if r := a.approve(t, id, "farah"); r.Body["status"] != "pending_approval" {
		t.Fatalf("one approval of two settled the step: %s", r.Raw)
	}
	for _, who := range approvers {
		if who != "farah" {
			if r := a.approve(t, id, who); r.Body["status"] != "in_fulfilment" {
				t.Fatalf("after two approvals: %s", r.Raw)
			}
			break
		}
	}
}

// ceoLaptop: Grace has no manager. Her laptop is not failed: its manager step goes to the
// head of IT, the audit trail says why, and he can decide it.
func (a approvals15) ceoLaptop(t *testing.T) {
	r := a.submit(t, "grace", map[string]any{"service": "laptop", "form": laptopForm})
	if r.Body["status"] != "pending_approval" {
		t.Fatalf("the CEO's laptop: %s", r.Raw)
	}
	id := r.Body["id"].(string)
	st := a.get(t, id, "grace")
	required, approvers := step(t, st, 0)
	if required != 1 || !contains(approvers, "ivan") || contains(approvers, "grace") {
		t.Fatalf("step 0: required %d, approvers %v", required, approvers)
	}
	if tl := timeline(st); !strings.Contains(tl, "approval.topped_up") || !strings.Contains(tl, "head") {
		t.Errorf("the audit trail does not say why ivan was asked:\n%s", tl)
	}
	if r := a.approve(t, id, "ivan"); r.Body["status"] != "in_fulfilment" {
		t.Fatalf("ivan approves: %s", r.Raw)
	}
}

// financeHeadCard: Felix, the Finance head, asks for a corporate card. Its management step
// ("manager, 2 levels, all") names two people but Felix has one manager above him, Grace: the
// step keeps needing two and asks the next person who may decide; the request is pending,
// never failed, and its approvers can decide it.
func (a approvals15) financeHeadCard(t *testing.T) {
	r := a.submit(t, "felix", map[string]any{"service": "corporate-card", "form": map[string]any{"monthly_limit": 1000}})
	if r.Body["status"] != "pending_approval" {
		t.Fatalf("the Finance head's card: %s", r.Raw)
	}
	id := r.Body["id"].(string)
	st := a.get(t, id, "felix")
	required, approvers := step(t, st, 0)
	if required != 2 || len(approvers) != 2 || !contains(approvers, "grace") || contains(approvers, "felix") {
		t.Fatalf("management step: required %d, approvers %v", required, approvers)
	}
	if tl := timeline(st); !strings.Contains(tl, "approval.topped_up") {
		t.Errorf("the audit trail does not say why:\n%s", tl)
	}
	if r := a.approve(t, id, "grace"); r.Body["status"] != "pending_approval" {
		t.Fatalf("one approval of two settled an all step: %s", r.Raw)
	}
	for _, who := range approvers {
		if who != "grace" {
			a.approve(t, id, who)
		}
	}
	st = a.get(t, id, "felix")
	if st.Body["status"] != "pending_approval" {
		t.Fatalf("after the management step: %s", st.Raw)
	}
	// Step 2 is "the Finance head": Felix himself. Everyone above him decided step 1, so
	// nobody is left who may decide it; it waits, pending, and says so.
	_, second := step(t, st, 1)
	for _, who := range second {
		if who == "felix" || contains(approvers, who) {
			t.Errorf("step 2 asks %s, who may not decide it: %v", who, second)
		}
	}
	if tl := timeline(st); !strings.Contains(tl, "finance head") {
		t.Errorf("the audit trail does not say what became of the finance head step:\n%s", tl)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// applyServices applies a catalog document of services to the env's store, as `esm catalog
// apply` would, and starts their lifecycles.
func applyServices(t *testing.T, e *env, doc string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "services.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	known, err := e.store.Known(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := catalog.LoadWith(known, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ApplyBundle(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := api.SyncLifecycles(ctx, e.tc, e.store); err != nil {
		t.Fatal(err)
	}
}
