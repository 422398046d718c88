package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestWorkFlow runs the approver's and the fulfiller's pages on a real ESM, as a browser without
// JavaScript would: the decision form only for the approver, a rejection without a reason refused
// beside the comment, a double click on Approve one decision; the queue, claim, outputs that are
// not JSON and a failure without a reason refused beside their fields, completion resolving the
// request.
func TestWorkFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	base := startESM(t)
	alice, bob, erin, dave := newBrowser(t, base), newBrowser(t, base), newBrowser(t, base), newBrowser(t, base)
	for who, b := range map[string]*browser{"alice": alice, "bob": bob, "erin": erin, "dave": dave} {
		b.signIn(who)
	}
	id, page := requestLaptop(t, alice, "standard-14", "my battery lasts twenty minutes")
	if strings.Contains(page, "Your decision") {
		t.Fatal("the requester is offered a decision on her own request")
	}

	// Bob's inbox lists it; its page offers him the decision.
	var inbox string
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(inbox, id); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bob's inbox never listed %s:\n%s", id, inbox)
		}
		inbox = bob.get(Base + "/inbox")
	}
	mustContain(t, inbox, `href="/portal/requests/`+id+`"`, "Laptop for Alice Chen", "manager", "reminder")
	page = bob.get(Base + "/requests/" + id)
	mustContain(t, page, "Your decision", `value="approve"`, `value="reject"`, `value="request_info"`)
	if code, _ := erin.do("GET", Base+"/requests/"+id, nil); code != http.StatusNotFound {
		t.Fatalf("erin sees alice's request: %d", code)
	}
	key := hidden(t, page, "key")
	// A rejection needs a reason: the error is beside the comment.
	code, refused := bob.do("POST", Base+"/requests/"+id+"/decide", url.Values{"key": {key}, "decision": {"reject"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a rejection without a reason: %d\n%s", code, refused)
	}
	mustContain(t, refused, `aria-describedby="decision-comment-error"`, `id="decision-comment-error"`)
	// Approve, twice with the same form (a double click): one decision.
	approve := url.Values{"key": {key}, "decision": {"approve"}}
	for i := range 2 {
		code, page = bob.do("POST", Base+"/requests/"+id+"/decide", approve)
		if code != http.StatusOK {
			t.Fatalf("approve #%d: %d\n%s", i+1, code, page)
		}
		mustContain(t, page, "Your decision is recorded", "in fulfilment")
	}
	if strings.Count(page, "approval.approve") != 1 {
		t.Fatalf("a double click made %d decisions:\n%s", strings.Count(page, "approval.approve"), page)
	}

	// Dave's queue lists the task; he claims it.
	task := id + ".prepare"
	var queue string
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(queue, task); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("dave's queue never listed %s:\n%s", task, queue)
		}
		queue = dave.get(Base + "/queue")
	}
	mustContain(t, queue, "Prepare and ship the laptop", "it-service-desk")
	page = dave.get(Base + "/tasks/" + task)
	mustContain(t, page, `action="/portal/tasks/`+task+`/claim"`)
	if code, page = dave.do("POST", Base+"/tasks/"+task+"/claim", url.Values{"key": {hidden(t, page, "key")}}); code != http.StatusOK {
		t.Fatalf("claim: %d\n%s", code, page)
	}
	mustContain(t, page, "claimed by dave", "/complete", "/fail")
	key = hidden(t, page, "key")
	code, page = dave.do("POST", Base+"/tasks/"+task+"/complete", url.Values{"key": {key}, "outputs": {"LT-0042"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("outputs that are not JSON: %d\n%s", code, page)
	}
	mustContain(t, page, `aria-describedby="f-outputs-error"`, `id="f-outputs-error"`, ">LT-0042</textarea>")
	code, page = dave.do("POST", Base+"/tasks/"+task+"/fail", url.Values{"key": {key}, "reason": {" "}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a failure without a reason: %d\n%s", code, page)
	}
	mustContain(t, page, `aria-describedby="reason-error"`, `id="reason-error"`)
	code, page = dave.do("POST", Base+"/tasks/"+task+"/complete", url.Values{"key": {key}, "outputs": {`{"asset_tag": "LT-0042"}`}})
	if code != http.StatusOK {
		t.Fatalf("complete: %d\n%s", code, page)
	}
	mustContain(t, page, "The task is recorded done", "LT-0042")
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(page, `id="status">resolved`); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the request never resolved:\n%s", page)
		}
		page = alice.get(Base + "/requests/" + id)
	}
}
