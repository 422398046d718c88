package web

import (
	"context"

	"github.com/esmhq/esm/catalog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestKeptAcrossSignIn: on a real ESM, a form sent after the session lapsed is kept; after
// signing in again the page shows it filled, with the notice, and the same idempotency key (a
// double submit then still makes one request). The answers come back once, and never to
// another person signing in in the same browser.
func TestKeptAcrossSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	c := &clock{t: time.Now()}
	base := startESM(t, func(cfg *Config) { cfg.Now = c.now })
	b := newBrowser(t, base)
	b.signIn("alice")
	page := b.get(Base + "/services/laptop")
	key := hidden(t, page, "idempotency_key")
	typed := url.Values{"idempotency_key": {key}, "f.model": {"performance-16"}, "f.reason": {"my laptop's battery died"}, "f.keyboard": {"uk"}}

	// sendLapsed sends the form after the session's idle bound, from the service's page, and
	// answers where the browser was sent (the sign-in page, with next).
	sendLapsed := func() string {
		t.Helper()
		c.t = c.t.Add(3 * time.Hour) // the idle bound is 2 hours
		req, _ := http.NewRequest("POST", base+Base+"/services/laptop", strings.NewReader(typed.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("Referer", base+Base+"/services/laptop")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Path != Base+"/signin" {
			t.Fatalf("a form sent after the session lapsed landed on %s (%d)", resp.Request.URL, resp.StatusCode)
		}
		return resp.Request.URL.Query().Get("next")
	}
	signInTo := func(who, next string) string {
		t.Helper()
		code, body := b.do("POST", Base+"/signin", url.Values{"person": {who}, "next": {next}})
		if code != http.StatusOK {
			t.Fatalf("sign in as %s: %d\n%s", who, code, body)
		}
		return body
	}

	next := sendLapsed()
	if next != Base+"/services/laptop" {
		t.Fatalf("next = %q", next)
	}
	page = signInTo("alice", next)
	mustContain(t, page, keptNotice, `<option value="performance-16" selected>`, `<option value="uk" selected>`,
		`>my laptop&#39;s battery died</textarea>`, `name="idempotency_key" value="`+key+`"`)
	if strings.Contains(page, "Your request is submitted") {
		t.Fatal("the kept form was sent by itself")
	}
	if again := b.get(Base + "/services/laptop"); strings.Contains(again, keptNotice) || strings.Contains(again, "battery died") {
		t.Fatal("kept answers came back twice")
	}

	// Sent again, twice (a double click): one request.
	sent := url.Values{}
	for k, v := range typed {
		sent[k] = v
	}
	_, first := b.do("POST", Base+"/services/laptop", sent)
	_, second := b.do("POST", Base+"/services/laptop", sent)
	id := regexp.MustCompile(`<h1>(REQ-\d+) · `).FindStringSubmatch(first)
	if id == nil {
		t.Fatalf("no request page after sending the kept form:\n%s", first)
	}
	mustContain(t, second, "<h1>"+id[1]+" · ")
	if n := strings.Count(b.get(Base+"/requests"), `href="/portal/requests/REQ-`); n != 1 {
		t.Fatalf("%d requests", n)
	}

	// Alice's session lapses with a form sent; Bob signs in in the same browser: her answers
	// are not his to see.
	next = sendLapsed()
	page = signInTo("bob", next)
	if strings.Contains(page, keptNotice) || strings.Contains(page, "battery died") {
		t.Fatal("Alice's kept answers were shown to Bob")
	}
}

// TestKeptUnit: what keepForm keeps and for whom, without a desk: no Referer of the portal's
// own, no answers kept; no session cookie at all, none kept; secrets never; too large, none.
func TestKeptUnit(t *testing.T) {
	p, c := newTestPortal(t, true)
	lapsed := &http.Cookie{Name: cookieName, Value: p.sessions.seal(session{Person: "alice", IssuedAt: c.t.Add(-10 * time.Hour).Unix(), SeenAt: c.t.Add(-3 * time.Hour).Unix()})}
	post := func(referer string, form url.Values, cookie *http.Cookie) (*httptest.ResponseRecorder, *http.Request) {
		r := httptest.NewRequest("POST", "http://portal.test"+Base+"/services/laptop", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if referer != "" {
			r.Header.Set("Referer", referer)
		}
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		return w, r
	}
	keptCookie := func(w *httptest.ResponseRecorder) *http.Cookie {
		for _, ck := range w.Result().Cookies() {
			if ck.Name == keptName {
				return ck
			}
		}
		return nil
	}
	form := url.Values{"f.reason": {"long enough reason"}, "f.password": {"hunter2"}, "api_token": {"t0k"}, "idempotency_key": {"portal-1"}}

	w, r := post("http://portal.test"+Base+"/services/laptop", form, lapsed)
	if next := p.keepForm(w, r); next != Base+"/services/laptop" {
		t.Fatalf("next %q", next)
	}
	ck := keptCookie(w)
	if ck == nil || ck.MaxAge <= 0 || !ck.HttpOnly || strings.Contains(ck.Value, "long enough") {
		t.Fatalf("kept cookie %+v", ck)
	}
	// Read back as Alice on that page: no secret in it.
	g := httptest.NewRequest("GET", Base+"/services/laptop", nil)
	g.AddCookie(ck)
	g = g.WithContext(withActor(g, "alice"))
	got := p.keptForm(httptest.NewRecorder(), g)
	if got.Get("f.reason") != "long enough reason" || got.Get("idempotency_key") != "portal-1" || got.Has("f.password") || got.Has("api_token") {
		t.Fatalf("kept %v", got)
	}
	// Another page, another person: nothing.
	g = httptest.NewRequest("GET", Base+"/services/printer", nil)
	g.AddCookie(ck)
	if p.keptForm(httptest.NewRecorder(), g.WithContext(withActor(g, "alice"))) != nil {
		t.Fatal("kept answers shown on another page")
	}
	g = httptest.NewRequest("GET", Base+"/services/laptop", nil)
	g.AddCookie(ck)
	if p.keptForm(httptest.NewRecorder(), g.WithContext(withActor(g, "bob"))) != nil {
		t.Fatal("kept answers shown to another person")
	}
	// Too old: nothing.
	c.t = c.t.Add(keptFor + time.Minute)
	g = httptest.NewRequest("GET", Base+"/services/laptop", nil)
	g.AddCookie(ck)
	if p.keptForm(httptest.NewRecorder(), g.WithContext(withActor(g, "alice"))) != nil {
		t.Fatal("kept answers older than keptFor shown")
	}

	for name, tc := range map[string]struct {
		referer string
		form    url.Values
		cookie  *http.Cookie
	}{
		"another site's page":   {"https://evil.example" + Base + "/services/laptop", form, lapsed},
		"no Referer":            {"", form, lapsed},
		"no session cookie":     {"http://portal.test" + Base + "/services/laptop", form, nil},
		"too large for cookies": {"http://portal.test" + Base + "/services/laptop", url.Values{"f.reason": {strings.Repeat("x", 4000)}}, lapsed},
	} {
		w, r := post(tc.referer, tc.form, tc.cookie)
		p.keepForm(w, r)
		if keptCookie(w) != nil {
			t.Fatalf("%s: answers kept", name)
		}
	}
}

func withActor(r *http.Request, id string) context.Context {
	return context.WithValue(r.Context(), actorKey{}, catalog.Person{ID: id})
}
