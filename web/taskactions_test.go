package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTaskActions runs, on each database, the fulfiller's calls beyond claim and complete on a real ESM, as a
// browser without JavaScript would: Tara, a lead of the service desk, assigns the task to a
// member chosen from the group (none chosen: the error beside the select); Dave, not the
// claimant and no lead, is offered nothing and refused (a refusal page, not a 500) when he
// releases it anyway; Frank releases it; the queue's filters (unassigned, mine) follow; Dave
// claims it and asks Alice a question (an empty one refused beside the box), and the request
// waits on her.
func TestTaskActions(t *testing.T) { onEachDatabase(t, taskActions) }

func taskActions(t *testing.T, base string) {
	alice, bob, tara, dave, frank := newBrowser(t, base), newBrowser(t, base), newBrowser(t, base), newBrowser(t, base), newBrowser(t, base)
	for who, b := range map[string]*browser{"alice": alice, "bob": bob, "tara": tara, "dave": dave, "frank": frank} {
		b.signIn(who)
	}
	id, _ := requestLaptop(t, alice, "standard-14", "my battery lasts twenty minutes")
	task := id + ".prepare"
	approveWhenOffered(t, bob, id)
	taskPage := Base + "/tasks/" + task

	// Unassigned, in the queue's filter; not among Dave's own.
	var page string
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(page, task); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the unassigned filter never lists %s:\n%s", task, page)
		}
		page = dave.get(Base + "/queue?whose=unassigned")
	}
	mustContain(t, page, `<option value="unassigned" selected>`)
	mustContain(t, dave.get(Base+"/queue?whose=mine"), "No task matches these filters")

	// Tara, a lead: claim and assign to a member of the group; Dave: claim only.
	page = tara.get(taskPage)
	mustContain(t, page, `action="`+taskPage+`/claim"`, `action="`+taskPage+`/assign"`, `<option value="frank">Frank Osei</option>`, `<option value="dave">Dave Kim</option>`)
	if strings.Contains(page, `value="alice"`) {
		t.Fatal("the requester is offered as an assignee")
	}
	page = dave.get(taskPage)
	mustContain(t, page, `action="`+taskPage+`/claim"`)
	if strings.Contains(page, "/assign") || strings.Contains(page, "/release") {
		t.Fatalf("dave, no lead, is offered to assign or release:\n%s", page)
	}
	page = tara.get(taskPage)
	code, page := tara.do("POST", taskPage+"/assign", url.Values{"key": {hidden(t, page, "key")}, "assignee": {""}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("assign to nobody: %d\n%s", code, page)
	}
	mustContain(t, page, `aria-describedby="assignee-error"`, `id="assignee-error"`)
	code, page = tara.do("POST", taskPage+"/assign", url.Values{"key": {hidden(t, page, "key")}, "assignee": {"frank"}})
	if code != http.StatusOK {
		t.Fatalf("assign to frank: %d\n%s", code, page)
	}
	mustContain(t, page, "The task is assigned", "claimed by frank")

	// Dave may do nothing on Frank's task, and is refused if he releases it anyway.
	page = dave.get(taskPage)
	mustContain(t, page, "claimed by frank")
	for _, action := range []string{"/claim", "/release", "/complete", "/fail", "/ask", "/assign"} {
		if strings.Contains(page, taskPage+action) {
			t.Fatalf("dave is offered %s on frank's task:\n%s", action, page)
		}
	}
	if code, page := dave.do("POST", taskPage+"/release", url.Values{"key": {"k"}}); code != http.StatusConflict {
		t.Fatalf("dave releases frank's task: %d\n%s", code, page)
	}
	mustContain(t, frank.get(Base+"/queue?whose=mine"), task)

	// Frank releases it; Dave claims it and asks Alice.
	page = frank.get(taskPage)
	if code, page = frank.do("POST", taskPage+"/release", url.Values{"key": {hidden(t, page, "key")}}); code != http.StatusOK {
		t.Fatalf("frank releases: %d\n%s", code, page)
	}
	mustContain(t, page, "The task is back in the queue", `action="`+taskPage+`/claim"`)
	page = dave.get(taskPage)
	if code, page = dave.do("POST", taskPage+"/claim", url.Values{"key": {hidden(t, page, "key")}}); code != http.StatusOK {
		t.Fatalf("dave claims: %d\n%s", code, page)
	}
	mustContain(t, page, `action="`+taskPage+`/ask"`, `action="`+taskPage+`/release"`)
	code, page = dave.do("POST", taskPage+"/ask", url.Values{"key": {hidden(t, page, "key")}, "question": {" "}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("an empty question: %d\n%s", code, page)
	}
	mustContain(t, page, `aria-describedby="question-error"`, `id="question-error"`)
	code, page = dave.do("POST", taskPage+"/ask", url.Values{"key": {hidden(t, page, "key")}, "question": {"Which keyboard layout?"}})
	if code != http.StatusOK {
		t.Fatalf("ask: %d\n%s", code, page)
	}
	mustContain(t, page, "Your question is sent", "waiting on the requester")
	mustContain(t, alice.get(Base+"/requests/"+id), "Which keyboard layout?", "waiting on requester")
}
