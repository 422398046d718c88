package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
)

// laptopDefinition returns the example laptop definition, to edit.
func laptopDefinition(t *testing.T) catalog.Definition {
	t.Helper()
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range b.Services {
		if d.Key == "laptop" {
			return d
		}
	}
	t.Fatal("no laptop")
	return catalog.Definition{}
}

func stage(t *testing.T, e *env, key string) map[string]any {
	t.Helper()
	r := e.call("GET", "/v1/catalog/services/"+key+"/lifecycle", "oscar", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("lifecycle of %s: %d %s", key, r.Status, r.Raw)
	}
	return r.Body
}

// TestPublishNewVersion: version 2 of the laptop is drafted, reviewed by the department head and
// published while a request of version 1 is open; the open request finishes under version 1, a
// new one uses version 2.
func TestPublishNewVersion(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			old := submitLaptop(t, e, "alice")

			d := laptopDefinition(t)
			d.Name = "Laptop (2027 range)"
			d.Cost.UnitPrice = 99900
			// The owner (Ivan, also IT's head) is not the only one who may edit: IT staff may.
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "alice", d); r.Status != http.StatusForbidden {
				t.Fatalf("alice drafting IT's service: %d %s", r.Status, r.Raw)
			}
			r := e.call("PUT", "/v1/catalog/services/laptop/draft", "dave", d)
			if r.Status != http.StatusOK || r.Body["draft_version"] != 2.0 || r.Body["live_version"] != 1.0 {
				t.Fatalf("draft: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "publish"}); r.Status != http.StatusConflict {
				t.Fatalf("publishing an unreviewed draft: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "dave", map[string]any{"action": "submit"}); r.Status != http.StatusForbidden {
				t.Fatalf("a non-owner submitting: %d %s", r.Status, r.Raw)
			}
			for _, step := range []struct{ who, action string }{{"ivan", "submit"}, {"ivan", "approve"}, {"ivan", "publish"}} {
				if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", step.who, map[string]any{"action": step.action, "comment": "ok"}); r.Status != http.StatusOK {
					t.Fatalf("%s: %d %s", step.action, r.Status, r.Raw)
				}
			}
			if st := stage(t, e, "laptop"); st["live_version"] != 2.0 || st["stage"] != "published" {
				t.Fatalf("after publishing: %v", st)
			}
			r = e.call("POST", "/v1/requests", "erin", map[string]any{"service": "laptop", "form": laptopForm})
			if r.Status != http.StatusCreated || r.Body["version"] != 2.0 || r.Body["quote"].(map[string]any)["unit_price"] != 999.0 {
				t.Fatalf("a new request: %d %s", r.Status, r.Raw)
			}
			e.call("POST", "/v1/requests/"+old+"/decision", "bob", map[string]any{"decision": "approve"})
			e.call("POST", "/v1/tasks/"+old+".prepare/complete", "dave", map[string]any{})
			st := e.call("GET", "/v1/requests/"+old, "alice", nil)
			if st.Body["status"] != "resolved" || st.Body["service"].(map[string]any)["version"] != 1.0 || st.Body["quote"].(map[string]any)["unit_price"] != 1200.0 {
				t.Errorf("the old request: %s", st.Raw)
			}
		})
	}
}

// TestRetireDrain: retiring refuses new requests at once (410, naming the successor) and
// completes only after the last request in flight ends.
func TestRetireDrain(t *testing.T) {
	e := newEnv(t, "sqlite")
	first := submitLaptop(t, e, "alice")
	second := submitLaptop(t, e, "erin")
	if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "dave", map[string]any{"action": "retire"}); r.Status != http.StatusForbidden {
		t.Fatalf("staff retiring: %d %s", r.Status, r.Raw)
	}
	r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "retire", "successor": "software-licence"})
	if r.Status != http.StatusOK || r.Body["stage"] != "retiring" || len(r.Body["in_flight"].([]any)) != 2 {
		t.Fatalf("retire: %d %s", r.Status, r.Raw)
	}
	r = e.call("POST", "/v1/requests", "ethan", map[string]any{"service": "laptop", "form": laptopForm})
	if r.Status != http.StatusGone || r.Body["successor"] != "software-licence" {
		t.Fatalf("a new request while retiring: %d %s", r.Status, r.Raw)
	}
	if list := keys(items(e.call("GET", "/v1/catalog/services", "ethan", nil))); list["laptop"] != nil {
		t.Error("a retiring service is still in the catalog")
	}
	// The requests in flight go on; the service retires after the last.
	e.call("POST", "/v1/requests/"+first+"/decision", "bob", map[string]any{"decision": "reject", "comment": "retired"})
	time.Sleep(300 * time.Millisecond)
	if st := stage(t, e, "laptop"); st["stage"] != "retiring" {
		t.Fatalf("retired with a request in flight: %v", st)
	}
	e.call("POST", "/v1/requests/"+second+"/decision", "bob", map[string]any{"decision": "approve"})
	e.call("POST", "/v1/tasks/"+second+".prepare/complete", "dave", map[string]any{})
	poll(t, e, "/v1/catalog/services/laptop/lifecycle", "oscar", 10*time.Second, func(r response) bool {
		return r.Status == http.StatusOK && r.Body["stage"] == "retired"
	})
}

// draftVersion is the service's draft version as the store has it.
func draftVersion(t *testing.T, e *env, key string) int {
	t.Helper()
	si, err := e.store.Service(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return si.Draft
}

// TestDraftRolesFromStore: who someone is to a service comes from the stored definition and the
// directory, never from the body, and a refused draft leaves nothing in the store. Erin (neither
// owner nor IT staff) saving the laptop's draft with herself as owner was 200 and stored it.
func TestDraftRolesFromStore(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			d := laptopDefinition(t)
			d.Name = "Laptop (mine now)"
			d.Owner = "erin"
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "erin", d); r.Status != http.StatusForbidden {
				t.Fatalf("an outsider naming herself owner: %d %s", r.Status, r.Raw)
			}
			// IT staff may edit, but not make themselves the owner.
			d.Owner = "dave"
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "dave", d); r.Status != http.StatusForbidden {
				t.Fatalf("staff naming himself owner: %d %s", r.Status, r.Raw)
			}
			// Nor move the service to another department.
			d.Owner, d.Department = "ivan", "hr"
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "ivan", d); r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("moving the service to HR: %d %s", r.Status, r.Raw)
			}
			if v := draftVersion(t, e, "laptop"); v != 0 {
				t.Fatalf("refused drafts were stored: draft version %d", v)
			}
			if st := stage(t, e, "laptop"); st["draft_version"] != nil {
				t.Fatalf("the lifecycle shows a draft: %v", st)
			}
			// Refused by the lifecycle (a draft in review): nothing stored either.
			d.Department, d.Name = "it", "Laptop (2027 range)"
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "dave", d); r.Status != http.StatusOK || r.Body["draft_author"] != "dave" {
				t.Fatalf("staff edit: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "submit"}); r.Status != http.StatusOK {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "dave", d); r.Status != http.StatusConflict {
				t.Fatalf("a draft while one is in review: %d %s", r.Status, r.Raw)
			}
			if v := draftVersion(t, e, "laptop"); v != 2 {
				t.Fatalf("draft version %d in the store, want 2", v)
			}
			// The owner hands the service over.
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "tara", map[string]any{"action": "reject", "comment": "later"}); r.Status != http.StatusOK {
				t.Fatalf("reject: %d %s", r.Status, r.Raw)
			}
			d.Owner = "tara"
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "ivan", d); r.Status != http.StatusOK || r.Body["draft_version"] != 3.0 {
				t.Fatalf("the owner handing over: %d %s", r.Status, r.Raw)
			}
			// A service created by someone outside its department: refused, nothing stored.
			n := laptopDefinition(t)
			n.Key, n.Name = "loaner-laptop", "Loaner laptop"
			if r := e.call("POST", "/v1/catalog/services", "erin", n); r.Status != http.StatusForbidden {
				t.Fatalf("an outsider creating: %d %s", r.Status, r.Raw)
			}
			if _, err := e.store.Service(context.Background(), n.Key); err == nil {
				t.Fatal("a refused service was stored")
			}
			if r := e.call("POST", "/v1/catalog/services", "dave", n); r.Status != http.StatusCreated || r.Body["version"] != 1.0 {
				t.Fatalf("staff creating: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services", "dave", n); r.Status != http.StatusConflict {
				t.Fatalf("creating it again: %d %s", r.Status, r.Raw)
			}
			if st := stage(t, e, n.Key); st["draft_version"] != 1.0 || st["draft_author"] != "dave" {
				t.Fatalf("the new service's lifecycle: %v", st)
			}
		})
	}
}

// TestFourEyesReview: the author of a draft never reviews it, even as a reviewer the governance
// policy names (Ivan, the laptop's owner, heads IT); someone else the policy names does.
func TestFourEyesReview(t *testing.T) {
	e := newEnv(t, "sqlite")
	d := laptopDefinition(t)
	d.Name = "Laptop (2027 range)"
	if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "ivan", d); r.Status != http.StatusOK {
		t.Fatalf("draft: %d %s", r.Status, r.Raw)
	}
	if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "submit"}); r.Status != http.StatusOK {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	for _, action := range []string{"approve", "reject"} {
		r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": action, "comment": "mine"})
		if r.Status != http.StatusForbidden || !strings.Contains(fmt.Sprint(r.Body["detail"]), "four eyes") {
			t.Fatalf("the author's %s: %d %s", action, r.Status, r.Raw)
		}
	}
	if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "tara", map[string]any{"action": "approve"}); r.Status != http.StatusOK || r.Body["draft_status"] != "approved" {
		t.Fatalf("tara's approval: %d %s", r.Status, r.Raw)
	}
	if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "publish"}); r.Status != http.StatusOK {
		t.Fatalf("publish: %d %s", r.Status, r.Raw)
	}
}

// TestExampleReviewers walks every service of examples/: its owner saves a draft and submits it,
// and someone other than the owner (the draft's author) is asked to review it.
func TestExampleReviewers(t *testing.T) {
	e := newEnv(t, "sqlite")
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range b.Services {
		d.Summary += " (revised)"
		if r := e.call("PUT", "/v1/catalog/services/"+d.Key+"/draft", d.Owner, d); r.Status != http.StatusOK {
			t.Errorf("%s: the owner %s drafting: %d %s", d.Key, d.Owner, r.Status, r.Raw)
			continue
		}
		r := e.call("POST", "/v1/catalog/services/"+d.Key+"/lifecycle", d.Owner, map[string]any{"action": "submit"})
		if r.Status != http.StatusOK {
			t.Errorf("%s: the owner %s submitting: %d %s", d.Key, d.Owner, r.Status, r.Raw)
			continue
		}
		review, _ := r.Body["review"].(map[string]any)
		approvers, _ := review["approvers"].([]any)
		var ids []string
		for _, a := range approvers {
			ids = append(ids, fmt.Sprint(a.(map[string]any)["id"]))
		}
		if len(ids) == 0 || slices.Contains(ids, d.Owner) {
			t.Errorf("%s: reviewers %v of a draft by its owner %s", d.Key, ids, d.Owner)
		}
		// Tell which come from the policy itself, not from going up the chart (review.escalated
		// before lifecycle-revision 2; review.topped_up or review.understaffed since).
		for _, h := range r.Body["history"].([]any) {
			if typ := h.(map[string]any)["type"]; typ == "review.escalated" || typ == "review.topped_up" || typ == "review.understaffed" {
				t.Errorf("%s: the governance policy names nobody but the owner %s: %v", d.Key, d.Owner, h)
			}
		}
	}
}

// TestConcurrentDraftSaves: ten saves of one service's draft at once, through the API, each get
// a clean answer (200 with its own version, or 409), and the lifecycle and the store agree. On
// Postgres one of two concurrent saves answered 500.
func TestConcurrentDraftSaves(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			const n = 10
			results := make([]response, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := laptopDefinition(t)
					d.Name = fmt.Sprintf("Laptop (edit %d)", i)
					<-start
					results[i] = e.call("PUT", "/v1/catalog/services/laptop/draft", []string{"dave", "frank", "tara", "ivan"}[i%4], d)
				}()
			}
			close(start)
			wg.Wait()
			seen := map[float64]bool{}
			for i, r := range results {
				switch r.Status {
				case http.StatusOK:
					v, _ := r.Body["draft_version"].(float64)
					if seen[v] {
						t.Errorf("save %d got version %v twice", i, v)
					}
					seen[v] = true
				case http.StatusConflict:
				default:
					t.Errorf("save %d: %d %s", i, r.Status, r.Raw)
				}
			}
			st := stage(t, e, "laptop")
			if v := draftVersion(t, e, "laptop"); float64(v) != st["draft_version"] || !seen[st["draft_version"].(float64)] {
				t.Fatalf("the store's draft %d, the lifecycle's %v, versions answered %v", v, st["draft_version"], seen)
			}
		})
	}
}

// reviewerIDs lists the reviewers of the draft in review, from a lifecycle state.
func reviewerIDs(st map[string]any) []string {
	review, _ := st["review"].(map[string]any)
	approvers, _ := review["approvers"].([]any)
	var ids []string
	for _, a := range approvers {
		ids = append(ids, fmt.Sprint(a.(map[string]any)["id"]))
	}
	return ids
}

// TestFourEyesEveryAuthor: four eyes held only against the last saver of a draft. Ivan (IT
// head, a governance reviewer of the laptop) writes version 2; Dave saves the very same
// definition again, so draft_author becomes dave; Ivan submitted, approved the content he wrote
// and published it. Everyone who saved the draft under review is its author: Ivan is refused
// (403, four eyes) and is not asked to review it; Tara, whom the policy also names, reviews.
func TestFourEyesEveryAuthor(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			d := laptopDefinition(t)
			d.Name = "Laptop (Ivan's pricing)"
			d.Cost.UnitPrice = 1
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "ivan", d); r.Status != http.StatusOK {
				t.Fatalf("ivan's draft: %d %s", r.Status, r.Raw)
			}
			// Dave saves Ivan's content again, unchanged.
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "dave", d); r.Status != http.StatusOK || r.Body["draft_author"] != "dave" {
				t.Fatalf("dave's re-save: %d %s", r.Status, r.Raw)
			}
			sub := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "submit"})
			if sub.Status != http.StatusOK {
				t.Fatalf("submit: %d %s", sub.Status, sub.Raw)
			}
			if ids := reviewerIDs(sub.Body); slices.Contains(ids, "ivan") || slices.Contains(ids, "dave") || !slices.Contains(ids, "tara") {
				t.Errorf("reviewers %v of a draft saved by ivan and dave; want tara, neither author", ids)
			}
			for _, who := range []string{"ivan", "dave"} {
				for _, action := range []string{"approve", "reject"} {
					r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", who, map[string]any{"action": action, "comment": "looks good to me"})
					if r.Status != http.StatusForbidden || !strings.Contains(fmt.Sprint(r.Body["detail"]), "four eyes") {
						t.Errorf("%s, who saved version 2, %ss it: %d %s", who, action, r.Status, r.Raw)
					}
				}
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "publish"}); r.Status != http.StatusConflict {
				t.Errorf("publish of a draft nobody approved: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "tara", map[string]any{"action": "approve"}); r.Status != http.StatusOK || r.Body["draft_status"] != "approved" {
				t.Fatalf("tara's approval: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "publish"}); r.Status != http.StatusOK {
				t.Fatalf("publish: %d %s", r.Status, r.Raw)
			}
			// Published: the next draft's authors start afresh. Dave's version 3 is reviewed by Ivan.
			d.Name = "Laptop (2027 range)"
			if r := e.call("PUT", "/v1/catalog/services/laptop/draft", "dave", d); r.Status != http.StatusOK {
				t.Fatalf("dave's draft: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "submit"}); r.Status != http.StatusOK {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/laptop/lifecycle", "ivan", map[string]any{"action": "approve"}); r.Status != http.StatusOK || r.Body["draft_status"] != "approved" {
				t.Fatalf("ivan reviewing dave's version 3: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// TestFourEyesFirstVersion: a new service's first version is reviewed by its own governance
// policy, so a colleague's re-save let the author name himself its reviewer. Dave creates the
// loaner laptop naming himself its only reviewer, Frank saves it again, Dave submits: neither
// reviews it; the department head (Ivan) does.
func TestFourEyesFirstVersion(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			n := laptopDefinition(t)
			n.Key, n.Name, n.Owner = "loaner-laptop", "Loaner laptop", "dave"
			n.Governance = &catalog.ApprovalStep{Name: "review", Mode: catalog.ModeAny, Approvers: catalog.Approvers{People: []string{"dave"}}}
			if r := e.call("POST", "/v1/catalog/services", "dave", n); r.Status != http.StatusCreated {
				t.Fatalf("dave creating: %d %s", r.Status, r.Raw)
			}
			if r := e.call("PUT", "/v1/catalog/services/loaner-laptop/draft", "frank", n); r.Status != http.StatusOK || r.Body["draft_author"] != "frank" {
				t.Fatalf("frank's re-save: %d %s", r.Status, r.Raw)
			}
			sub := e.call("POST", "/v1/catalog/services/loaner-laptop/lifecycle", "dave", map[string]any{"action": "submit"})
			if sub.Status != http.StatusOK {
				t.Fatalf("submit: %d %s", sub.Status, sub.Raw)
			}
			if ids := reviewerIDs(sub.Body); !slices.Equal(ids, []string{"ivan"}) {
				t.Errorf("reviewers %v of a first version whose policy names only its author; want the head, ivan", ids)
			}
			if r := e.call("POST", "/v1/catalog/services/loaner-laptop/lifecycle", "dave", map[string]any{"action": "approve"}); r.Status != http.StatusForbidden {
				t.Errorf("dave approving the first version he wrote: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/catalog/services/loaner-laptop/lifecycle", "ivan", map[string]any{"action": "approve"}); r.Status != http.StatusOK || r.Body["draft_status"] != "approved" {
				t.Fatalf("the head's approval: %d %s", r.Status, r.Raw)
			}
		})
	}
}
