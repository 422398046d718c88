package web

// Defects found by attacking the portal (issue 18's review), each kept as a test.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
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

// namesakes is a directory where two people share a name (as any large organisation has).
type namesakes struct{ fakeDirectory }

func (namesakes) People(context.Context) ([]catalog.PersonRef, error) {
	return []catalog.PersonRef{{ID: "alice", Name: "Alice Chen"}, {ID: "sam.lee", Name: "Sam Lee"}, {ID: "sam.lee2", Name: "Sam Lee"}, {ID: "bob", Name: "Bob Diaz"}}, nil
}

// TestDelegateNamesake: out of office takes the delegate by user name or by name; a name two
// people share names neither (the page asks for the user name, listing theirs), never the first
// of them in the directory: approvals must not go to a namesake.
func TestDelegateNamesake(t *testing.T) {
	p, _ := newTestPortal(t, true)
	p.dir = namesakes{}
	r := httptest.NewRequest("POST", Base+"/delegations", nil)
	for typed, want := range map[string]string{"bob": "bob", "bob diaz": "bob", "sam.lee2": "sam.lee2", "nobody": "nobody", "": ""} {
		if id, problem := p.personID(r, typed); id != want || problem != "" {
			t.Errorf("%q: %q %q, want %q", typed, id, problem, want)
		}
	}
	id, problem := p.personID(r, "Sam Lee")
	if id != "" || !strings.Contains(problem, "sam.lee, sam.lee2") {
		t.Fatalf("a shared name: %q %q, want no one and the user names to choose from", id, problem)
	}
}
