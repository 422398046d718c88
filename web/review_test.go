package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
)

// TestPersonalPagesOutOfHistoryCache: htmx 2.0.11 (hx-boost on <body>) snapshots each page's body into
// sessionStorage ("htmx-history-cache", historyCacheSize 10 by default) before it navigates, and
// restores it on Back without asking the server. A personal page is no-store, yet after "Sign
// out" (a boosted POST) Back shows it from sessionStorage. The layout must turn the cache off
// (historyCacheSize 0 in htmx-config, or hx-history="false" on personal pages).
func TestPersonalPagesOutOfHistoryCache(t *testing.T) {
	p, _ := newTestPortal(t, true)
	r := httptest.NewRequest("GET", Base+"/requests", nil)
	r = r.WithContext(context.WithValue(r.Context(), actorKey{}, catalog.Person{ID: "alice", Name: "Alice Chen"}))
	w := httptest.NewRecorder()
	p.render(w, r, http.StatusOK, "requests", map[string]any{})
	body := w.Body.String()
	if !strings.Contains(body, "hx-boost") {
		t.Skip("no longer boosted")
	}
	if !strings.Contains(body, `"historyCacheSize":0`) && !strings.Contains(body, `hx-history="false"`) {
		t.Fatalf("a personal page is boosted with htmx's sessionStorage history cache on: it outlives sign out and no-store")
	}
}

// TestSignInNextStaysInPortal: the sign-in's "next" stays a path of the portal.
func TestSignInNextStaysInPortal(t *testing.T) {
	p, _ := newTestPortal(t, true)
	h := p.Handler()
	for _, next := range []string{"//evil.example", "/portal//evil.example", "/portal/../\\evil.example", "/portal/..//evil.example",
		"/portal/../\t/evil.example", "https://evil.example/portal/", "/portal/../../%2f%2fevil.example", "/\\evil.example", " /portal/x"} {
		r := httptest.NewRequest("POST", "http://portal.test"+Base+"/signin", strings.NewReader(url.Values{"person": {"alice"}, "next": {next}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		loc := w.Header().Get("Location")
		stripped := strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(loc)
		if !strings.HasPrefix(stripped, "/") || strings.HasPrefix(stripped, "//") || strings.HasPrefix(stripped, "/\\") {
			t.Errorf("next %q redirects to %q", next, loc)
		}
	}
}

// TestTaskPageOffersOnlyWhatMayBeDone: the request's page offers "Work on" only to the task's group
// (never the requester), and the workflow refuses anyone else's claim; yet /tasks/{ref} answers
// anyone who may see the request with the task's Claim form (desk.Task checks visibility only).
func TestTaskPageOffersOnlyWhatMayBeDone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	base := startESM(t)
	alice, bob := newBrowser(t, base), newBrowser(t, base)
	alice.signIn("alice")
	bob.signIn("bob")
	id, _ := requestLaptop(t, alice, "standard-14", "my battery lasts twenty minutes")
	approveWhenOffered(t, bob, id)
	task := id + ".prepare"
	var page string
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(page, `s-open`); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the task never opened:\n%s", page)
		}
		page = alice.get(Base + "/requests/" + id)
	}
	if strings.Contains(page, "/tasks/"+task) {
		t.Fatal("the requester is offered to work on her own request's task")
	}
	code, tp := alice.do("GET", Base+"/tasks/"+task, nil)
	claimForm := strings.Contains(tp, `action="/portal/tasks/`+task+`/claim"`)
	// What the desk does with the claim (held if refused).
	ccode := 0
	if claimForm {
		ccode, _ = alice.do("POST", Base+"/tasks/"+task+"/claim", url.Values{"key": {hidden(t, tp, "key")}})
	}
	t.Logf("requester's task page: %d, claim form %v; her claim: %d", code, claimForm, ccode)
	if code == http.StatusOK && claimForm {
		t.Fatalf("the requester (not in it-service-desk) is shown the task's Claim form; the desk answers her claim %d", ccode)
	}
}
