package web

// Defects found by attacking the portal (issue 18's review), each kept as a test.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
)

// TestOIDCRefusalLinkNeedsState: a link anyone can craft to the callback with a refusal and
// words of their own (?error=...&error_description=Call +1 555 0100) shows none of those words
// on the portal's page: only the provider, answering the sign-in this browser began (its
// state), is taken at its word. Without the state check the portal showed the attacker's text
// under its own name. On each database.
func TestOIDCRefusalLinkNeedsState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := startOIDC(t, s)
		const lure = "Your account is locked: call the help desk on +1 555 0100 with your password"
		link := Base + "/auth/callback?error=access_denied&error_description=" + url.QueryEscape(lure)

		// A browser that began no sign-in, and one that began one (the link has no state).
		fresh := e.browser(t)
		began := e.browser(t)
		began.stopAt = func(u *url.URL) bool { return strings.HasPrefix(u.String(), e.issuer) }
		if resp, _ := began.get(e.portal + Base + "/signin"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in did not go to the provider: %d", resp.StatusCode)
		}
		for name, b := range map[string]*oidcBrowser{"no sign-in": fresh, "another sign-in": began} {
			resp, body := b.get(e.portal + link)
			if strings.Contains(body, "locked") || strings.Contains(body, "555") || strings.Contains(body, "access_denied") {
				t.Fatalf("%s: the portal shows the link's words as its own (%d):\n%s", name, resp.StatusCode, body)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Sign in again") {
				t.Fatalf("%s: %d\n%s", name, resp.StatusCode, body)
			}
		}
	})
}

// TestUnreadableForm: a form that is not form-encoded as a browser sends it (a bad escape) is
// a 400 page saying it could not be read, not a 413 saying it is too large; one over the limit
// is still a 413. On each POST that reads its form before the desk.
func TestUnreadableForm(t *testing.T) {
	p, _ := newTestPortal(t, true)
	h := p.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signInRequest("http://portal.test", "same-origin"))
	ck := sessionCookie(t, w)
	post := func(path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "http://portal.test"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.AddCookie(ck)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, path := range []string{Base + "/requests/REQ-000001/comment", Base + "/services/laptop", Base + "/delegations",
		Base + "/tasks/REQ-000001:fulfil/complete", Base + "/services/laptop/lifecycle"} {
		w := post(path, "text=%zz&key=k")
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "could not be read") || strings.Contains(w.Body.String(), "too large") {
			t.Fatalf("%s, a bad escape: %d\n%s", path, w.Code, w.Body)
		}
		w = post(path, "text="+strings.Repeat("a", maxForm+1))
		if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "too large") {
			t.Fatalf("%s, too large: %d\n%s", path, w.Code, w.Body)
		}
	}
}

// TestQuoteUnreadable: the live price of a form that cannot be read (a bad escape) says it could
// not be read, not that it is too large to price; one over the limit still says it is too large.
// Both answer the quote's region (200), never an error page.
func TestQuoteUnreadable(t *testing.T) {
	p, _ := newTestPortal(t, true)
	h := p.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signInRequest("http://portal.test", "same-origin"))
	ck := sessionCookie(t, w)
	post := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "http://portal.test"+Base+"/services/laptop/quote", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("HX-Request", "true")
		r.AddCookie(ck)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w = post("model=%zz")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "could not be read") || strings.Contains(w.Body.String(), "too large") {
		t.Fatalf("a bad escape: %d\n%s", w.Code, w.Body)
	}
	w = post("model=" + strings.Repeat("a", maxForm+1))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "too large") {
		t.Fatalf("too large: %d\n%s", w.Code, w.Body)
	}
}

// TestKeptOnEveryForm: the answers of any form sent as the session lapsed come back after the
// sign-in, not only the service's form: a requester's comment (or answer to a question) and an
// approver's decision comment on the request's page. Before, they were kept in the cookie and
// never shown: lost, though the notes said "nothing typed is lost". On a real ESM, on each database.
func TestKeptOnEveryForm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) { keptOnEveryForm(t, d) })
	}
}

func keptOnEveryForm(t *testing.T, dialect string) {
	c := &clock{t: time.Now()}
	base := startESMOn(t, dialect, func(cfg *Config) { cfg.Now = c.now })
	alice, bob := newBrowser(t, base), newBrowser(t, base)
	alice.signIn("alice")
	id := submitLaptop(t, alice)
	bob.signIn("bob")
	mustContain(t, bob.get(Base+"/requests/"+id), `name="decision"`)

	// lapsed sends form from the page after the session's idle bound, signs in again as who
	// (following next), and answers the page it lands on.
	lapsed := func(b *browser, who, page, action string, form url.Values) string {
		t.Helper()
		c.t = c.t.Add(3 * time.Hour) // the idle bound is 2 hours
		req, _ := http.NewRequest("POST", base+action, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("Referer", base+page)
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		next := resp.Request.URL.Query().Get("next")
		if resp.Request.URL.Path != Base+"/signin" || next != page {
			t.Fatalf("a form sent after the session lapsed landed on %s", resp.Request.URL)
		}
		code, body := b.do("POST", Base+"/signin", url.Values{"person": {who}, "next": {next}})
		if code != http.StatusOK {
			t.Fatalf("sign in again: %d\n%s", code, body)
		}
		return body
	}
	page := Base + "/requests/" + id
	got := lapsed(alice, "alice", page, page+"/comment", url.Values{"key": {"k1"}, "text": {"the charger is USB-C, please"}})
	mustContain(t, got, keptNotice, `>the charger is USB-C, please</textarea>`)
	mustLack(t, got, "Your comment is added")

	got = lapsed(bob, "bob", page, page+"/decide", url.Values{"key": {"k2"}, "decision": {"reject"}, "comment": {"we have spares in the cupboard"}})
	mustContain(t, got, keptNotice, `>we have spares in the cupboard</textarea>`)
	mustLack(t, got, "Your decision is recorded")
	if again := bob.get(page); strings.Contains(again, "spares in the cupboard") {
		t.Fatal("kept answers came back twice")
	}

	// A service owner's draft, typed as YAML on the lifecycle page.
	nina := newBrowser(t, base)
	nina.signIn("nina")
	page = Base + "/services/vpn-access/lifecycle"
	mustContain(t, nina.get(page), `name="definition"`)
	got = lapsed(nina, "nina", page, Base+"/services/vpn-access/draft", url.Values{"key": {"k3"}, "definition": {"key: vpn-access\nname: VPN access, reworded after an hour of typing\n"}})
	mustContain(t, got, keptNotice, "name: VPN access, reworded after an hour of typing")
	mustLack(t, got, "The draft is saved")
}

// TestWorkerDownPages: with ESM's worker down (none runs here), a request sent from the portal
// answers within the desk's wait with a page in the portal's words, what was typed still in the
// form: not the API's "retry with the same Idempotency-Key", and never a 500. On a real Temporal,
// on each database.
func TestWorkerDownPages(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	bin, _ := filepath.Abs(filepath.Join("..", "bin", "temporal"))
	ctx := context.Background()
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: bin, ClientOptions: &client.Options{Namespace: "default"},
		LogLevel: "error", ExtraArgs: workflows.SearchAttributeFlags(), Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Stop() })
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) { workerDownPages(t, d, dev.Client()) })
	}
}

func workerDownPages(t *testing.T, dialect string, tc client.Client) {
	ctx := context.Background()
	s := storetest.Open(t, dialect)
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := New(Config{Desk: desk.New(desk.Config{Store: s, Temporal: tc, Logger: log, WorkflowWait: 2 * time.Second}),
		Directory: s, Secret: []byte("a test secret of 32 bytes or so!"), Dev: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)

	alice := newBrowser(t, srv.URL)
	alice.signIn("alice")
	page := alice.get(Base + "/services/laptop")
	code, page := alice.do("POST", Base+"/services/laptop", url.Values{"idempotency_key": {hidden(t, page, "idempotency_key")},
		"f.model": {"standard-14"}, "f.reason": {"typed while the worker was down"}})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("submit with the worker down: %d\n%s", code, page)
	}
	mustContain(t, page, "ESM did not answer in time", "will not do it twice", ">typed while the worker was down</textarea>")
	mustLack(t, page, "Idempotency-Key")
}
