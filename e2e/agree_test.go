package e2e

import (
	"net/http"
	"testing"

	"github.com/esmhq/esm/store/storetest"
)

// TestReadsAgreeWithTheValidators: what the inbox and the queue list, and what a request's
// tasks show actionable, is what the workflow's validators accept (issue 16, item 9). While
// the requester owes an approver an answer, the approver may still approve: the inbox keeps the
// step. While the requester owes a fulfiller an answer, no task of the request may be acted on:
// the queue drops them and GET shows them not actionable; they come back with the answer.
func TestReadsAgreeWithTheValidators(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "onboarding", "form": onboardingForm})
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)

			// An approver's question: the step stays in helen's inbox, and she may decide it.
			if r := e.call("POST", "/v1/requests/"+id+"/decision", "helen", map[string]any{"decision": "request_info", "comment": "Which team?"}); r.Status != http.StatusOK || r.Body["status"] != "waiting_on_requester" {
				t.Fatalf("request_info: %d %s", r.Status, r.Raw)
			}
			inbox := items(e.call("GET", "/v1/approvals", "helen", nil))
			if len(inbox) != 1 || inbox[0]["request"] != id || inbox[0]["status"] != "waiting_on_requester" {
				t.Errorf("helen's inbox while alice owes her an answer: %v", inbox)
			}
			if r := e.call("POST", "/v1/requests/"+id+"/decision", "helen", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
				t.Fatalf("approve while waiting on the requester: %d %s", r.Status, r.Raw)
			}

			st := waitFor(t, e, id, "alice", func(r response) bool {
				s := taskStates(r)
				return s["laptop"] == "open" && s["desk"] == "open" && s["accounts"] == "done"
			})
			if a := actionable(st); !a["laptop"] || !a["desk"] || a["welcome"] || a["accounts"] {
				t.Fatalf("actionable in fulfilment: %v", a)
			}
			// Dave asks the requester about the laptop: the request waits on her.
			if r := e.call("POST", "/v1/tasks/"+id+".laptop/ask", "dave", map[string]any{"question": "Which keyboard layout?"}); r.Status != http.StatusOK {
				t.Fatalf("ask: %d %s", r.Status, r.Raw)
			}
			st = e.call("GET", "/v1/requests/"+id, "walt", nil)
			if st.Body["status"] != "waiting_on_requester" {
				t.Fatalf("after the question: %s", st.Raw)
			}
			if a := actionable(st); a["laptop"] || a["desk"] {
				t.Errorf("tasks shown actionable while the validators refuse them: %v", a)
			}
			for who, group := range map[string]string{"dave": "it-service-desk", "walt": "facilities-workplace"} {
				for _, q := range items(e.call("GET", "/v1/tasks?group="+group, who, nil)) {
					if q["request"] == id {
						t.Errorf("%s's queue lists %v of a request waiting on the requester", who, q["id"])
					}
				}
			}
			if r := e.call("POST", "/v1/tasks/"+id+".desk/claim", "walt", nil); r.Status != http.StatusConflict {
				t.Errorf("claim while waiting: %d %s", r.Status, r.Raw)
			}

			// Alice answers: the tasks are back, and what the queue lists can be claimed.
			if r := e.call("POST", "/v1/requests/"+id+"/comments", "alice", map[string]any{"text": "UK"}); r.Status != http.StatusCreated || r.Body["status"] != "in_fulfilment" {
				t.Fatalf("answer: %d %s", r.Status, r.Raw)
			}
			listed := false
			for _, q := range items(e.call("GET", "/v1/tasks?group=facilities-workplace", "walt", nil)) {
				if q["request"] != id {
					continue
				}
				listed = true
				if r := e.call("POST", "/v1/tasks/"+q["id"].(string)+"/claim", "walt", nil); r.Status != http.StatusOK {
					t.Errorf("claim %v from the queue: %d %s", q["id"], r.Status, r.Raw)
				}
			}
			if !listed {
				t.Error("the desk is not back in walt's queue after the answer")
			}
		})
	}
}

// actionable maps a request's task ids to their actionable flag.
func actionable(r response) map[string]bool {
	out := map[string]bool{}
	for _, t := range r.Body["tasks"].([]any) {
		m := t.(map[string]any)
		out[m["id"].(string)], _ = m["actionable"].(bool)
	}
	return out
}
