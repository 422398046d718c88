package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestClosedRequestPage: a request closed while its approval step waited keeps that step
// pending and its task waiting in its state (the workflow leaves them so); its page, and the
// page's live part, say what they mean now (desk.RequestView's StepNote and TaskNote): not
// decided or not done because the request was withdrawn, or rejected; no deadline to decide by.
// On a real ESM (startESMOn), on SQLite and, with DATABASE_URL, on Postgres.
func TestClosedRequestPage(t *testing.T) { onEachDatabase(t, closedRequestPage) }

func closedRequestPage(t *testing.T, base string) {
	alice := newBrowser(t, base)
	alice.signIn("alice")
	bob := newBrowser(t, base)
	bob.signIn("bob")
	submit := func() string {
		t.Helper()
		id, page := requestLaptop(t, alice, "performance-16", "my laptop's battery died")
		mustContain(t, page, `<span class="status s-pending">pending</span>`, "Bob Ruiz: not decided yet", "To be decided by",
			`<span class="status s-waiting">waiting</span>`)
		return id
	}
	// What a closed request's page may not say of its unfinished step and task.
	stale := []string{`<span class="status s-pending">`, `<span class="status s-waiting">`, "not decided yet", "To be decided by"}

	// Withdrawn while Bob had not decided.
	withdrawn := submit()
	page := alice.get(Base + "/requests/" + withdrawn)
	code, page := alice.do("POST", Base+"/requests/"+withdrawn+"/withdraw", url.Values{"key": {hidden(t, page, "key")}, "reason": {"found a spare"}})
	if code != http.StatusOK {
		t.Fatalf("withdraw: %d\n%s", code, page)
	}
	mustContain(t, page, `id="status">cancelled`, "not decided: the request was withdrawn", "Bob Ruiz: did not decide",
		"not done: the request was withdrawn")
	mustLack(t, page, stale...)
	_, part := alice.do("GET", Base+"/requests/"+withdrawn+"/live?seq=0", nil)
	mustContain(t, part, `id="live"`, "not decided: the request was withdrawn", "not done: the request was withdrawn")
	mustLack(t, part, stale...)

	// Rejected by Bob: the step is settled (rejected), the task was never done.
	rejected := submit()
	page = bob.get(Base + "/requests/" + rejected)
	if code, page = bob.do("POST", Base+"/requests/"+rejected+"/decide", url.Values{"key": {hidden(t, page, "key")}, "decision": {"reject"}, "comment": {"not this quarter"}}); code != http.StatusOK {
		t.Fatalf("reject: %d\n%s", code, page)
	}
	page = alice.get(Base + "/requests/" + rejected)
	for i := 0; i < 100 && !strings.Contains(page, `id="status">rejected`); i++ {
		time.Sleep(50 * time.Millisecond) // the workflow closes the request after the decision
		page = alice.get(Base + "/requests/" + rejected)
	}
	mustContain(t, page, `id="status">rejected`, `<span class="status s-rejected">rejected</span>`, "Bob Ruiz: rejected",
		"not done: the request was rejected")
	mustLack(t, page, append(stale, "not decided:")...)
}
