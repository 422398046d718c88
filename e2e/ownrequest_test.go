package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/esmhq/esm/store/storetest"
)

// queued lists the task ids in person's queue (open and claimed, every group of theirs).
func queued(e *env, person string) []string {
	var out []string
	for _, q := range items(e.call("GET", "/v1/tasks?limit=200", person, nil)) {
		out = append(out, fmt.Sprint(q["id"]))
	}
	return out
}

// TestNobodyFulfilsOwnRequest: Dave (IT service desk) asked for a laptop, his manager Tara
// approved, and Dave completed the fulfilment task of his own request with an asset tag he gave
// himself. Nobody fulfils their own request: the requester may not claim, complete, fail or ask
// on its tasks, a lead may not assign them to him, and his queue does not list them (403
// "nobody fulfils their own request"); another member of the group, or a lead, still may. A lead
// is refused on her own request too.
func TestNobodyFulfilsOwnRequest(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			id := submitLaptop(t, e, "dave")
			if r := e.call("POST", "/v1/requests/"+id+"/decision", "tara", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
				t.Fatalf("tara approves: %d %s", r.Status, r.Raw)
			}
			waitFor(t, e, id, "dave", func(r response) bool { return taskStates(r)["prepare"] == "open" })
			task := id + ".prepare"
			for _, c := range []struct {
				action string
				body   map[string]any
			}{
				{"claim", nil},
				{"complete", map[string]any{"outputs": map[string]any{"asset_tag": "LT-9999"}}},
				{"fail", map[string]any{"reason": "out of stock"}},
				{"ask", map[string]any{"question": "Which keyboard?"}},
			} {
				r := e.call("POST", "/v1/tasks/"+task+"/"+c.action, "dave", c.body)
				if r.Status != http.StatusForbidden || !strings.Contains(fmt.Sprint(r.Body["detail"]), "nobody fulfils their own request") {
					t.Errorf("the requester's %s on his own request's task: %d %s", c.action, r.Status, r.Raw)
				}
			}
			if r := e.call("POST", "/v1/tasks/"+task+"/assign", "tara", map[string]any{"assignee": "dave"}); r.Status != http.StatusForbidden {
				t.Errorf("a lead assigning the task to its requester: %d %s", r.Status, r.Raw)
			}
			for _, q := range queued(e, "dave") {
				if q == task {
					t.Errorf("dave's queue lists %s, a task of his own request", q)
				}
			}
			listed := false
			for _, q := range queued(e, "frank") {
				listed = listed || q == task
			}
			if !listed {
				t.Errorf("frank's queue does not list %s", task)
			}
			if r := e.call("POST", "/v1/tasks/"+task+"/claim", "frank", nil); r.Status != http.StatusOK {
				t.Fatalf("frank claims: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/tasks/"+task+"/complete", "tara", map[string]any{"outputs": map[string]any{}}); r.Status != http.StatusOK {
				t.Fatalf("the lead completes frank's claim: %d %s", r.Status, r.Raw)
			}

			// Tara, a lead of the desk, asks for a laptop: her own lead role does not let her fulfil it.
			mine := submitLaptop(t, e, "tara")
			if r := e.call("POST", "/v1/requests/"+mine+"/decision", "ivan", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
				t.Fatalf("ivan approves: %d %s", r.Status, r.Raw)
			}
			waitFor(t, e, mine, "tara", func(r response) bool { return taskStates(r)["prepare"] == "open" })
			if r := e.call("POST", "/v1/tasks/"+mine+".prepare/claim", "tara", nil); r.Status != http.StatusForbidden {
				t.Errorf("a lead claiming her own request's task: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/tasks/"+mine+".prepare/assign", "tara", map[string]any{"assignee": "dave"}); r.Status != http.StatusForbidden {
				t.Errorf("a lead assigning her own request's task: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/tasks/"+mine+".prepare/claim", "dave", nil); r.Status != http.StatusOK {
				t.Errorf("dave claims tara's: %d %s", r.Status, r.Raw)
			}
		})
	}
}
