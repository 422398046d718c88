package web

// TestRequesterPages: issue 18's requester's and approver's pages on a real ESM (startESMOn, on
// SQLite and, with DATABASE_URL, on Postgres): the catalog by department and category, the live
// quote, the live part of a request's page (it shows a decision made elsewhere, stays as it is
// while nothing moves, stops polling once the request is closed), home's questions and tasks,
// out-of-office delegations and the delegate's inbox, and the filter of my requests.

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// htmx sends a request as htmx does (HX-Request), answering the status, a header and the body.
func (b *browser) htmx(method, path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	return b.send(method, path, form, http.Header{"Hx-Request": {"true"}})
}

func mustLack(t *testing.T, page string, not ...string) {
	t.Helper()
	for _, n := range not {
		if strings.Contains(page, n) {
			t.Fatalf("the page has %q:\n%s", n, page)
		}
	}
}

// submitLaptop requests a laptop as b's person and answers its id.
func submitLaptop(t *testing.T, b *browser) string {
	t.Helper()
	id, _ := requestLaptop(t, b, "standard-14", "the old one is slow")
	return id
}

// requestLaptop fills the laptop's form as b's person with model and reason and sends it,
// answering the request's id and the page the portal answered with (the request's).
func requestLaptop(t *testing.T, b *browser, model, reason string) (id, page string) {
	t.Helper()
	page = b.get(Base + "/services/laptop")
	_, page = b.do("POST", Base+"/services/laptop", url.Values{"idempotency_key": {hidden(t, page, "idempotency_key")},
		"f.model": {model}, "f.reason": {reason}})
	m := regexp.MustCompile(`<h1>(REQ-\d+) · `).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no request page after submitting:\n%s", page)
	}
	return m[1], page
}

// approveWhenOffered reloads request id's page as b's person until it offers the decision (20 s
// at most), then approves with its form.
func approveWhenOffered(t *testing.T, b *browser, id string) {
	t.Helper()
	var page string
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(page, "Your decision"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the approver is never offered the decision:\n%s", page)
		}
		page = b.get(Base + "/requests/" + id)
	}
	if code, page := b.do("POST", Base+"/requests/"+id+"/decide", url.Values{"key": {hidden(t, page, "key")}, "decision": {"approve"}}); code != http.StatusOK {
		t.Fatalf("approve: %d\n%s", code, page)
	}
}

func TestRequesterPages(t *testing.T) { onEachDatabase(t, requesterPages) }

func requesterPages(t *testing.T, base string) {
	alice, bob, carol, dave := newBrowser(t, base), newBrowser(t, base), newBrowser(t, base), newBrowser(t, base)
	alice.signIn("alice")
	bob.signIn("bob")
	carol.signIn("carol")
	dave.signIn("dave")

	// The catalog by department and category, narrowed to one.
	page := alice.get(Base + "/catalog")
	mustContain(t, page, `<h2 id="d-it">IT</h2>`, `<h3 id="c-it-hardware"><a href="/portal/catalog?department=it&amp;category=hardware">Hardware</a></h3>`)
	page = alice.get(Base + "/catalog?department=it&category=hardware")
	mustContain(t, page, `href="/portal/services/laptop"`, "in IT, hardware", "Every department")
	mustLack(t, page, "software-licence", `id="d-hr"`)

	// The quote: on the page without JavaScript, and again as the form changes.
	page = alice.get(Base + "/services/laptop")
	mustContain(t, page, `id="quote" aria-live="polite" hx-post="/portal/services/laptop/quote"`,
		`hx-trigger="change from:closest form, input delay:400ms from:closest form"`, "<strong>1200.00 EUR</strong>, once")
	_, _, q := alice.htmx("POST", Base+"/services/laptop/quote", url.Values{"f.model": {"performance-16"}, "f.reason": {"x"}})
	mustContain(t, q, "<strong>2000.00 EUR</strong>, once", "800.00 for Performance model")
	mustLack(t, q, "<html", "Reason") // the partial alone; a field that does not price is not checked
	_, _, q = alice.htmx("POST", Base+"/services/laptop/quote", url.Values{"f.model": {"a-typewriter"}})
	mustContain(t, q, "The price cannot be worked out yet", "Model: Choose one of the options.")
	_, _, q = alice.htmx("POST", Base+"/services/software-licence/quote", url.Values{"f.product": {"design-suite"}, "quantity": {"3"}})
	mustContain(t, q, "<strong>180.00 EUR</strong> a month", "3 × (15.00 EUR + 45.00 for Enterprise tier)")
	_, _, q = alice.htmx("POST", Base+"/services/software-licence/quote", url.Values{"f.product": {"design-suite"}, "quantity": {"11"}})
	mustContain(t, q, "The price cannot be worked out yet", "How many: From 1 to 10 per request")
	code, _, q := alice.htmx("POST", Base+"/services/software-licence/quote", url.Values{"quantity": {"many"}})
	if code != http.StatusOK {
		t.Fatalf("a quantity that is none: %d", code)
	}
	mustContain(t, q, "How many: enter a whole number.")
	if code, _, q = alice.htmx("POST", Base+"/services/no-such-thing/quote", url.Values{}); code != http.StatusOK {
		t.Fatalf("an unknown service's quote: %d\n%s", code, q)
	}
	mustContain(t, q, "The price cannot be shown now")
	// After a failed submission the quote is the one of what was sent.
	code, page = alice.do("POST", Base+"/services/laptop", url.Values{"idempotency_key": {hidden(t, page, "idempotency_key")},
		"f.model": {"performance-16"}, "f.reason": {"short"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a short reason: %d", code)
	}
	mustContain(t, page, `id="f-reason-error"`, "<strong>2000.00 EUR</strong>, once")

	// The live part of a request's page: polled while open, outside it the forms.
	r1 := submitLaptop(t, alice)
	page = alice.get(Base + "/requests/" + r1)
	live := regexp.MustCompile(`<div id="live" hx-get="(/portal/requests/` + r1 + `/live\?seq=\d+)" hx-trigger="every 5s" hx-swap="outerHTML">`).FindStringSubmatch(page)
	if live == nil {
		t.Fatalf("an open request's page does not poll its live part:\n%s", page)
	}
	before := strings.ReplaceAll(live[1], "/portal", "")
	if i, j := strings.Index(page, `<div id="live"`), strings.Index(page, `<form method="post" hx-disabled-elt="find button" action="/portal/requests/`+r1+`/comment"`); i < 0 || j < 0 || j < i ||
		strings.Contains(page[i:j], "<textarea") {
		t.Fatal("the comment form is inside the live part, or missing")
	}
	// Nothing moved: the page stays as it is, its note empty.
	code, h, part := alice.htmx("GET", Base+before, nil)
	if code != http.StatusOK || h.Get("HX-Reswap") != "none" {
		t.Fatalf("nothing moved: %d %v\n%s", code, h, part)
	}
	mustContain(t, part, `<p id="live-note" class="meta" hx-swap-oob="true"></p>`)
	mustLack(t, part, "Timeline")

	// Bob approves on his page; Alice's live part shows it, still polling (the request is open).
	page = bob.get(Base + "/requests/" + r1)
	if code, page = bob.do("POST", Base+"/requests/"+r1+"/decide", url.Values{"key": {hidden(t, page, "key")}, "decision": {"approve"}, "comment": {"go ahead"}}); code != http.StatusOK {
		t.Fatalf("approve: %d\n%s", code, page)
	}
	code, h, part = alice.htmx("GET", Base+before, nil)
	if code != http.StatusOK || h.Get("HX-Reswap") != "" {
		t.Fatalf("after a decision: %d %v", code, h)
	}
	mustContain(t, part, `<div id="live" hx-get="/portal/requests/`+r1+`/live?seq=`, `id="status">in fulfilment`, "Bob Ruiz: approved", "go ahead", "Timeline")
	mustLack(t, part, "<form", "<html", live[1]+`"`)
	// Dave's home has his group's task.
	mustContain(t, dave.get(Base+"/"), "My groups' tasks", "Prepare and ship the laptop", r1)

	// A question: Bob asks about a second request; Alice's home says so, with a link to answer.
	r2 := submitLaptop(t, alice)
	page = bob.get(Base + "/requests/" + r2)
	if code, page = bob.do("POST", Base+"/requests/"+r2+"/decide", url.Values{"key": {hidden(t, page, "key")}, "decision": {"request_info"}, "comment": {"Which keyboard layout?"}}); code != http.StatusOK {
		t.Fatalf("ask: %d\n%s", code, page)
	}
	home := alice.get(Base + "/")
	mustContain(t, home, "Questions to answer", `href="/portal/requests/`+r2+`#comment">Answer on `+r2)
	if strings.Contains(home, `#comment">Answer on `+r1) {
		t.Fatal("a request that asks nothing is listed as a question")
	}
	mustContain(t, alice.get(Base+"/requests/"+r2), `A question waits on your answer`, `<label for="comment">Answer the question</label>`)

	// Out of office: Bob names Carol; errors beside the fields first.
	page = bob.get(Base + "/delegations")
	mustContain(t, page, "Nobody decides for you", `<option value="carol">Carol Diaz</option>`)
	code, page = bob.do("POST", Base+"/delegations", url.Values{"delegate": {"bob"}, "until": {""}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a delegation to oneself with no end: %d", code)
	}
	mustContain(t, page, `id="delegate-error">You cannot delegate to yourself.`, `id="until-error">`, `aria-describedby="until-error"`)
	code, page = bob.do("POST", Base+"/delegations", url.Values{"delegate": {"Carol Diaz"}, "until": {"tomorrow"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a date that is none: %d", code)
	}
	mustContain(t, page, `id="until-error">Enter a date and time.`, `value="Carol Diaz"`)
	until := time.Now().UTC().Add(48 * time.Hour).Format(localTime)
	code, page = bob.do("POST", Base+"/delegations", url.Values{"delegate": {"Carol Diaz"}, "until": {until}})
	if code != http.StatusOK {
		t.Fatalf("delegate: %d\n%s", code, page)
	}
	mustContain(t, page, "Your delegation is recorded", "<strong>Carol Diaz</strong> decides for you")
	end := regexp.MustCompile(`action="(/portal/delegations/\d+/end)"`).FindStringSubmatch(page)
	if end == nil {
		t.Fatalf("no way to end the delegation:\n%s", page)
	}
	r3 := submitLaptop(t, alice)
	mustContain(t, carol.get(Base+"/delegations"), "You decide for <strong>Bob Ruiz</strong>")
	mustContain(t, carol.get(Base+"/inbox"), r3, "<strong>for Bob Ruiz</strong>")
	mustContain(t, carol.get(Base+"/"), r3, "<strong>for Bob Ruiz</strong>")
	// Carol may not end it; Bob does, and the approval leaves her inbox.
	if code, page = carol.do("POST", strings.TrimPrefix(end[1], ""), url.Values{}); code != http.StatusNotFound {
		t.Fatalf("the delegate ends the delegation: %d", code)
	}
	mustContain(t, page, "That delegation is not one of yours")
	if code, page = bob.do("POST", end[1], url.Values{}); code != http.StatusOK {
		t.Fatalf("end: %d\n%s", code, page)
	}
	mustContain(t, page, "The delegation is ended", "Nobody decides for you")
	mustLack(t, carol.get(Base+"/inbox"), r3)

	// Withdrawn: the live part says so and polls no more.
	page = alice.get(Base + "/requests/" + r1)
	if code, _ = alice.do("POST", Base+"/requests/"+r1+"/withdraw", url.Values{"key": {hidden(t, page, "key")}, "reason": {"found a spare"}}); code != http.StatusOK {
		t.Fatalf("withdraw: %d", code)
	}
	code, _, part = alice.htmx("GET", Base+before, nil)
	if code != http.StatusOK {
		t.Fatalf("closed: %d", code)
	}
	mustContain(t, part, `<div id="live">`, `id="status">cancelled`, "found a spare")
	mustLack(t, part, "hx-get", "hx-trigger")
	// A poll whose session ended stops, saying so, instead of showing the sign-in page in place.
	code, h, part = newBrowser(t, base).htmx("GET", Base+before, nil)
	if code != 286 || h.Get("HX-Reswap") != "none" {
		t.Fatalf("signed out: %d %v\n%s", code, h, part)
	}
	mustContain(t, part, "Your session has ended")

	// My requests: by status and by words, without JavaScript; bad input beside its field.
	page = alice.get(Base + "/services/software-licence")
	if code, _ = alice.do("POST", Base+"/services/software-licence", url.Values{"idempotency_key": {hidden(t, page, "idempotency_key")},
		"f.product": {"office-suite"}}); code != http.StatusOK {
		t.Fatalf("a licence: %d", code)
	}
	all := alice.get(Base + "/requests")
	mustContain(t, all, `<form method="get" action="/portal/requests"`, `<option value="cancelled">cancelled</option>`, r1, r2, r3, "Software licence for Alice Chen")
	page = alice.get(Base + "/requests?status=cancelled")
	mustContain(t, page, r1, `<option value="cancelled" selected>`)
	mustLack(t, page, `>`+r2+`<`, `>`+r3+`<`, "Software licence for")
	page = alice.get(Base + "/requests?q=LICENCE")
	mustContain(t, page, "Software licence for Alice Chen", `value="LICENCE"`)
	mustLack(t, page, `>`+r1+`<`, `>`+r2+`<`)
	page = alice.get(Base + "/requests?q=" + r2)
	mustContain(t, page, `>`+r2+`<`)
	mustLack(t, page, `>`+r1+`<`, `>`+r3+`<`)
	mustContain(t, alice.get(Base+"/requests?q=typewriter"), "None of your requests matches the words “typewriter”")
	code, page = alice.do("GET", Base+"/requests?status=lost", nil)
	if code != http.StatusBadRequest {
		t.Fatalf("a status that is none: %d", code)
	}
	mustContain(t, page, `id="status-error"`, `aria-describedby="status-error"`)
	code, page = alice.do("GET", Base+"/requests?q=a+b+c+d+e+f", nil)
	if code != http.StatusBadRequest {
		t.Fatalf("too many words: %d", code)
	}
	mustContain(t, page, `id="q-error">Search with at most 5 words`)
}
