package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestSignOutEndsEverySession: signing out ends every session of the person issued before it,
// not only the cookie of the browser that signed out: a copy of the cookie (taken from a shared
// computer, say) and a session in another browser get the sign-in from the next page on, while
// the 2-hour idle and 12-hour bounds still had hours to run. Another person's session lives on,
// and signing in again afterwards works. Someone removed from the directory loses their session
// at their next page too. On a real store, on each database.
func TestSignOutEndsEverySession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b, err := catalog.Load("../examples")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
			t.Fatal(err)
		}
		c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		p, err := New(Config{Desk: desk.New(desk.Config{Store: s, Logger: log}), Directory: s,
			Secret: []byte("a test secret of 32 bytes or so!"), Dev: true, Logger: log, Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		h := p.Handler()
		post := func(path string, form url.Values, ck *http.Cookie) *httptest.ResponseRecorder {
			r := httptest.NewRequest("POST", "http://portal.test"+path, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Sec-Fetch-Site", "same-origin")
			if ck != nil {
				r.AddCookie(ck)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		signIn := func(who string) *http.Cookie {
			w := post(Base+"/signin", url.Values{"person": {who}, "next": {Base + "/"}}, nil)
			if w.Code != http.StatusSeeOther {
				t.Fatalf("sign in as %s: %d\n%s", who, w.Code, w.Body)
			}
			return sessionCookie(t, w)
		}
		// page answers the preferences page's status with the cookie: 200, or 303 to sign in.
		page := func(ck *http.Cookie) int {
			r := httptest.NewRequest("GET", "http://portal.test"+Base+"/preferences", nil)
			r.AddCookie(ck)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code == http.StatusSeeOther && !strings.HasPrefix(w.Header().Get("Location"), Base+"/signin") {
				t.Fatalf("redirected to %q", w.Header().Get("Location"))
			}
			return w.Code
		}

		here := signIn("alice")
		copied := *here // the same cookie, in someone else's hands
		c.t = c.t.Add(time.Minute)
		other := signIn("alice") // another browser of hers
		bob := signIn("bob")
		for name, ck := range map[string]*http.Cookie{"here": here, "copied": &copied, "other": other, "bob": bob} {
			if code := page(ck); code != http.StatusOK {
				t.Fatalf("%s before sign-out: %d", name, code)
			}
		}

		c.t = c.t.Add(10 * time.Minute)
		if w := post(Base+"/signout", url.Values{}, here); w.Code != http.StatusSeeOther {
			t.Fatalf("sign out: %d\n%s", w.Code, w.Body)
		}
		c.t = c.t.Add(time.Minute) // well inside the idle and absolute bounds
		for name, ck := range map[string]*http.Cookie{"copied": &copied, "other": other} {
			if code := page(ck); code != http.StatusSeeOther {
				t.Fatalf("%s after she signed out: %d, want the sign-in", name, code)
			}
		}
		if code := page(bob); code != http.StatusOK {
			t.Fatalf("bob's session after alice signed out: %d", code)
		}
		again := signIn("alice")
		if code := page(again); code != http.StatusOK {
			t.Fatalf("signed in again: %d", code)
		}

		// Removed from the directory: the next page asks to sign in.
		if _, err := s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM group_members WHERE person_id = ?`), "bob"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM people WHERE id = ?`), "bob"); err != nil {
			t.Fatal(err)
		}
		if code := page(bob); code != http.StatusSeeOther {
			t.Fatalf("bob removed from the directory: %d, want the sign-in", code)
		}
	})
}
