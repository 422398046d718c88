package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/store/storetest"
)

var onboardingForm = map[string]any{"joiner_name": "Jo Newman", "start_date": "2027-01-04", "location": "london"}

// TestConcurrentDecisions: two approvers decide an any step at the same moment; exactly one
// decision wins and the other gets 409.
func TestConcurrentDecisions(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			for round := 0; round < 3; round++ {
				r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "onboarding", "form": onboardingForm})
				if r.Status != http.StatusCreated {
					t.Fatalf("submit: %d %s", r.Status, r.Raw)
				}
				id := r.Body["id"].(string)
				var wg sync.WaitGroup
				statuses := make([]int, 2)
				start := make(chan struct{})
				for i, who := range []string{"helen", "hugo"} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						statuses[i] = e.call("POST", "/v1/requests/"+id+"/decision", who, map[string]any{"decision": "approve"}).Status
					}()
				}
				close(start)
				wg.Wait()
				ok, conflict := 0, 0
				for _, s := range statuses {
					switch s {
					case http.StatusOK:
						ok++
					case http.StatusConflict:
						conflict++
					}
				}
				if ok != 1 || conflict != 1 {
					t.Fatalf("round %d: statuses %v, want one 200 and one 409", round, statuses)
				}
				st := e.call("GET", "/v1/requests/"+id, "alice", nil)
				decided := 0
				for _, a := range st.Body["approvals"].([]any)[0].(map[string]any)["approvers"].([]any) {
					if a.(map[string]any)["decision"] != nil {
						decided++
					}
				}
				if decided != 1 {
					t.Errorf("round %d: %d decisions recorded", round, decided)
				}
			}
		})
	}
}

// TestDelegationCancelAndQuestions: out-of-office delegation through the API, a request for
// information answered by a comment, and a withdrawal.
func TestDelegationCancelAndQuestions(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			id := submitLaptop(t, e, "alice")

			// Bob's inbox shows the laptop with the step's next deadline: its reminder, after 8
			// business hours on IT's calendar (it escalates after 24 and expires after 80).
			inbox := items(e.call("GET", "/v1/approvals", "bob", nil))
			if len(inbox) != 1 || inbox[0]["due_at"] == nil || inbox[0]["due"] != "reminder" {
				t.Fatalf("bob's inbox: %v", inbox)
			}
			due, _ := time.Parse(time.RFC3339Nano, inbox[0]["due_at"].(string))
			it, err := e.store.Department(context.Background(), "it")
			if err != nil {
				t.Fatal(err)
			}
			if want := it.Calendar.Add(time.Now(), 8*time.Hour); due.Sub(want).Abs() > time.Minute {
				t.Errorf("due at %v, want about %v", due, want)
			}

			// Carol cannot act for Bob until he delegates to her.
			if r := e.call("POST", "/v1/requests/"+id+"/decision", "carol", map[string]any{"decision": "approve"}); r.Status != http.StatusNotFound {
				t.Fatalf("carol before delegation: %d %s", r.Status, r.Raw)
			}
			r := e.call("POST", "/v1/delegations", "bob", map[string]any{"delegate": "carol", "ends_at": time.Now().Add(7 * 24 * time.Hour).Format(time.RFC3339)})
			if r.Status != http.StatusCreated {
				t.Fatalf("delegate: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/delegations", "bob", map[string]any{"delegate": "bob", "ends_at": "2020-01-01T00:00:00Z"}); r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["/delegate"] == "" || fieldsOf(r)["/ends_at"] == "" {
				t.Errorf("bad delegation: %d %s", r.Status, r.Raw)
			}
			inbox = items(e.call("GET", "/v1/approvals", "carol", nil))
			if len(inbox) != 1 || inbox[0]["on_behalf_of"] != "bob" {
				t.Fatalf("carol's inbox: %v", inbox)
			}

			// Carol asks Alice a question; the request waits on Alice until she answers.
			r = e.call("POST", "/v1/requests/"+id+"/decision", "carol", map[string]any{"decision": "request_info", "comment": "Which keyboard layout?"})
			if r.Status != http.StatusOK || r.Body["status"] != "waiting_on_requester" {
				t.Fatalf("request_info: %d %s", r.Status, r.Raw)
			}
			// The step is still open and the validator still takes approve or reject: it stays in
			// the inbox, saying the request waits.
			if inbox := items(e.call("GET", "/v1/approvals", "carol", nil)); len(inbox) != 1 || inbox[0]["status"] != "waiting_on_requester" {
				t.Errorf("a request waiting on the requester's answer to its approver leaves the inbox: %v", inbox)
			}
			r = e.call("POST", "/v1/requests/"+id+"/comments", "alice", map[string]any{"text": "UK layout, please"})
			if r.Status != http.StatusCreated || r.Body["status"] != "pending_approval" {
				t.Fatalf("answer: %d %s", r.Status, r.Raw)
			}
			r = e.call("POST", "/v1/requests/"+id+"/decision", "carol", map[string]any{"decision": "approve", "comment": "for Bob"})
			if r.Status != http.StatusOK || r.Body["status"] != "in_fulfilment" {
				t.Fatalf("delegate approves: %d %s", r.Status, r.Raw)
			}
			st := e.call("GET", "/v1/requests/"+id, "alice", nil)
			approver := st.Body["approvals"].([]any)[0].(map[string]any)["approvers"].([]any)[0].(map[string]any)
			if approver["id"] != "bob" || approver["decided_by"].(map[string]any)["id"] != "carol" {
				t.Errorf("recorded decision: %v", approver)
			}
			var trail []string
			for _, ev := range st.Body["timeline"].([]any) {
				m := ev.(map[string]any)
				trail = append(trail, m["type"].(string)+":"+str(m["actor"])+":"+str(m["detail"]))
			}
			joined := strings.Join(trail, "\n")
			for _, want := range []string{"approval.info_requested:carol:", "comment:alice:UK layout", "info.answered:alice", "approval.approve:carol:step \"manager\" on behalf of Bob Ruiz"} {
				if !strings.Contains(joined, want) {
					t.Errorf("timeline lacks %q:\n%s", want, joined)
				}
			}

			// Alice withdraws a second request; Bob's inbox forgets it; only Alice may withdraw.
			id2 := submitLaptop(t, e, "alice")
			if r := e.call("POST", "/v1/requests/"+id2+"/cancel", "bob", map[string]any{"reason": "no"}); r.Status != http.StatusForbidden {
				t.Errorf("bob withdrawing alice's request: %d %s", r.Status, r.Raw)
			}
			r = e.call("POST", "/v1/requests/"+id2+"/cancel", "alice", map[string]any{"reason": "found a spare one"})
			if r.Status != http.StatusOK || r.Body["status"] != "cancelled" {
				t.Fatalf("cancel: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/requests/"+id2+"/cancel", "alice", map[string]any{}); r.Status != http.StatusConflict {
				t.Errorf("cancel twice: %d %s", r.Status, r.Raw)
			}
			if inbox := items(e.call("GET", "/v1/approvals", "bob", nil)); len(inbox) != 0 {
				t.Errorf("bob's inbox after the withdrawal: %v", inbox)
			}
		})
	}
}

// TestApprovalPolicies: auto-approval below a threshold, a two-level chain, and a quorum of
// Finance above a threshold, as the example catalog defines them.
func TestApprovalPolicies(t *testing.T) {
	e := newEnv(t, "sqlite")
	small := e.submitExpense("alice", map[string]any{"service": "expense-reimbursement",
		"form": map[string]any{"amount": 12.5, "category": "meals", "description": "team lunch"}})
	if small.Status != http.StatusCreated || small.Body["status"] != "in_fulfilment" {
		t.Errorf("a small expense is auto-approved: %d %s", small.Status, small.Raw)
	}
	big := e.submitExpense("alice", map[string]any{"service": "expense-reimbursement",
		"form": map[string]any{"amount": 450, "category": "travel", "description": "train to Berlin"}})
	if big.Body["status"] != "pending_approval" {
		t.Errorf("a larger expense waits for the manager: %s", big.Raw)
	}

	// Corporate card: Ethan's manager (Carol) and her manager (Bob) must both approve.
	card := e.call("POST", "/v1/requests", "ethan", map[string]any{"service": "corporate-card", "form": map[string]any{"monthly_limit": 1000}})
	if card.Status != http.StatusCreated {
		t.Fatalf("card: %d %s", card.Status, card.Raw)
	}
	id := card.Body["id"].(string)
	st := e.call("GET", "/v1/requests/"+id, "ethan", nil)
	var chain []string
	for _, a := range st.Body["approvals"].([]any)[0].(map[string]any)["approvers"].([]any) {
		chain = append(chain, a.(map[string]any)["id"].(string))
	}
	if strings.Join(chain, ",") != "carol,bob" {
		t.Errorf("two-level chain: %v", chain)
	}

	// Purchase order above 5,000: manager, then two of the Finance approvers.
	po := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "purchase-order",
		"form": map[string]any{"supplier": "Acme", "amount": 12000, "description": "GPU servers"}})
	pid := po.Body["id"].(string)
	e.call("POST", "/v1/requests/"+pid+"/decision", "bob", map[string]any{"decision": "approve"})
	if r := e.call("POST", "/v1/requests/"+pid+"/decision", "felix", map[string]any{"decision": "approve"}); r.Body["status"] != "pending_approval" {
		t.Fatalf("one finance approval is not a quorum: %s", r.Raw)
	}
	if r := e.call("POST", "/v1/requests/"+pid+"/decision", "farah", map[string]any{"decision": "approve"}); r.Body["status"] != "in_fulfilment" {
		t.Fatalf("two finance approvals are: %s", r.Raw)
	}
	// Below 5,000 the Finance step does not apply.
	po = e.call("POST", "/v1/requests", "alice", map[string]any{"service": "purchase-order",
		"form": map[string]any{"supplier": "Acme", "amount": 800, "description": "cables"}})
	if r := e.call("POST", "/v1/requests/"+po.Body["id"].(string)+"/decision", "bob", map[string]any{"decision": "approve"}); r.Body["status"] != "in_fulfilment" {
		t.Errorf("a small purchase order needs only the manager: %s", r.Raw)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
