package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// fakeDirectory is a directory of two people.
type fakeDirectory struct{}

func (fakeDirectory) Person(_ context.Context, id string) (catalog.Person, error) {
	switch id {
	case "alice":
		return catalog.Person{ID: "alice", Name: "Alice Chen", Department: "engineering"}, nil
	case "bob":
		return catalog.Person{ID: "bob", Name: "Bob Diaz", Department: "engineering"}, nil
	}
	return catalog.Person{}, store.ErrNotFound
}

func (d fakeDirectory) SignedIn(ctx context.Context, id string) (catalog.Person, time.Time, error) {
	p, err := d.Person(ctx, id)
	return p, time.Time{}, err
}

func (fakeDirectory) EndSessions(context.Context, string, time.Time) error { return nil }

func (fakeDirectory) People(context.Context) ([]catalog.PersonRef, error) {
	return []catalog.PersonRef{{ID: "alice", Name: "Alice Chen"}, {ID: "bob", Name: "Bob Diaz"}}, nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestPortal(t *testing.T, dev bool) (*Portal, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	p, err := New(Config{Directory: fakeDirectory{}, Secret: []byte("a test secret of 32 bytes or so!"), Dev: dev,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: c.now, IdleTimeout: time.Hour, MaxAge: 8 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func signInRequest(origin, fetchSite string) *http.Request {
	r := httptest.NewRequest("POST", "http://portal.test"+Base+"/signin", strings.NewReader(url.Values{"person": {"alice"}, "next": {Base + "/requests"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if fetchSite != "" {
		r.Header.Set("Sec-Fetch-Site", fetchSite)
	}
	return r
}

// TestCrossOriginPOSTRefused: a POST a browser sends from another site is refused before any
// handler runs; one from the portal's own pages is taken.
func TestCrossOriginPOSTRefused(t *testing.T) {
	p, _ := newTestPortal(t, true)
	h := p.Handler()
	for _, tc := range []struct {
		name, origin, site string
		want               int
	}{
		{"cross-site by Sec-Fetch-Site", "https://evil.example", "cross-site", http.StatusForbidden},
		{"same-site but another origin", "http://other.portal.test", "same-site", http.StatusForbidden},
		{"cross-origin by Origin only (older browser)", "https://evil.example", "", http.StatusForbidden},
		{"same-origin by Sec-Fetch-Site", "http://portal.test", "same-origin", http.StatusSeeOther},
		{"same-origin by Origin only", "http://portal.test", "", http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, signInRequest(tc.origin, tc.site))
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			cookie := w.Header().Get("Set-Cookie")
			if tc.want == http.StatusForbidden {
				if cookie != "" || !strings.Contains(w.Body.String(), "another site") {
					t.Fatalf("refused, yet: cookie %q, body %s", cookie, w.Body)
				}
				return
			}
			if loc := w.Header().Get("Location"); loc != Base+"/requests" {
				t.Fatalf("redirected to %q", loc)
			}
			for _, attr := range []string{cookieName + "=", "Path=" + Base, "HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(cookie, attr) {
					t.Fatalf("the cookie %q lacks %s", cookie, attr)
				}
			}
			if strings.Contains(cookie, "Secure") {
				t.Fatalf("a dev cookie on plain http must not be Secure: %q", cookie)
			}
		})
	}
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == cookieName {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", w.Header())
	return nil
}

// TestSession: the cookie is encrypted (the person's id is not in it), a changed cookie is no
// session, and a session ends when idle or old past its bounds, or on sign out.
func TestSession(t *testing.T) {
	p, c := newTestPortal(t, true)
	h := p.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signInRequest("http://portal.test", "same-origin"))
	ck := sessionCookie(t, w)
	if strings.Contains(ck.Value, "alice") {
		t.Fatalf("the cookie shows its content: %s", ck.Value)
	}
	open := func(value string) error {
		r := httptest.NewRequest("GET", Base+"/", nil)
		r.AddCookie(&http.Cookie{Name: cookieName, Value: value})
		_, err := p.sessions.open(r)
		return err
	}
	if err := open(ck.Value); err != nil {
		t.Fatalf("a fresh session: %v", err)
	}
	b := []byte(ck.Value)
	b[len(b)/2] ^= 1
	if err := open(string(b)); err == nil {
		t.Fatal("a changed cookie opened")
	}
	other, _ := newTestPortal(t, true)
	other.sessions = newSessions([]byte("another secret, another server!!"), false, 0, 0, c.now)
	r := httptest.NewRequest("GET", Base+"/", nil)
	r.AddCookie(ck)
	if _, err := other.sessions.open(r); err == nil {
		t.Fatal("a cookie opened under another secret")
	}
	c.t = c.t.Add(59 * time.Minute)
	if err := open(ck.Value); err != nil {
		t.Fatalf("within the idle timeout: %v", err)
	}
	c.t = c.t.Add(2 * time.Minute)
	if err := open(ck.Value); err == nil {
		t.Fatal("an idle session opened")
	}
	// Kept alive, it still ends at its absolute bound.
	v := session{Person: "alice", IssuedAt: c.t.Add(-8*time.Hour - time.Second).Unix(), SeenAt: c.t.Unix()}
	if err := open(p.sessions.seal(v)); err == nil {
		t.Fatal("a session past its absolute bound opened")
	}

	// Sign out clears the cookie.
	w = httptest.NewRecorder()
	so := httptest.NewRequest("POST", "http://portal.test"+Base+"/signout", nil)
	so.Header.Set("Sec-Fetch-Site", "same-origin")
	so.AddCookie(ck)
	h.ServeHTTP(w, so)
	if got := sessionCookie(t, w); got.MaxAge >= 0 || got.Value != "" {
		t.Fatalf("sign out left %+v", got)
	}
}

// TestSecureOutsideDev: outside dev the cookie is __Host- named, Secure, Path=/, with no
// Domain; and a value sealed for one cookie does not open as another.
func TestSecureOutsideDev(t *testing.T) {
	s := newSessions([]byte("a test secret of 32 bytes or so!"), true, 0, 0, time.Now)
	w := httptest.NewRecorder()
	s.start(w, "alice")
	got := w.Header().Get("Set-Cookie")
	for _, attr := range []string{"__Host-" + cookieName + "=", "Path=/;", "Secure", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(got, attr) {
			t.Fatalf("the cookie %q lacks %s", got, attr)
		}
	}
	if strings.Contains(got, "Domain") {
		t.Fatalf("a __Host- cookie with a Domain: %s", got)
	}
	value := w.Result().Cookies()[0].Value
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "__Host-" + keptName, Value: value})
	var k kept
	if s.openAs(r, keptName, &k) {
		t.Fatal("a session's value opened as the kept-answers cookie")
	}
}

// TestSignInPage: anyone signed out is sent to sign in, and back where they were going; the page
// lists the directory.
func TestSignInPage(t *testing.T) {
	p, _ := newTestPortal(t, true)
	h := p.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", Base+"/?from=mail", nil))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != Base+"/signin?next="+url.QueryEscape(Base+"/?from=mail") {
		t.Fatalf("signed out: %d %q", w.Code, w.Header().Get("Location"))
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", Base+"/signin?next=//evil.example/", nil))
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "Alice Chen") || !strings.Contains(body, "Bob Diaz") {
		t.Fatalf("sign-in page %d:\n%s", w.Code, body)
	}
	if strings.Contains(body, "evil.example") {
		t.Fatal("the sign-in page would send the person to another site")
	}
	for _, hdr := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
		if w.Header().Get(hdr) == "" {
			t.Fatalf("no %s", hdr)
		}
	}
}

// TestAssets: assets are served under a hash of their content, for a year.
func TestAssets(t *testing.T) {
	p, _ := newTestPortal(t, true)
	h := p.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", Base+"/signin", nil))
	m := regexp.MustCompile(`src="(` + Base + `/static/htmx\.min\.[0-9a-f]{12}\.js)"`).FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no hashed htmx in the page:\n%s", w.Body)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", m[1], nil))
	if w.Code != 200 || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") || !strings.Contains(w.Body.String(), "htmx") {
		t.Fatalf("asset: %d %v", w.Code, w.Header())
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", Base+"/static/htmx.min.js", nil))
	if w.Code != http.StatusNotFound {
		t.Fatalf("an unhashed name answered %d", w.Code)
	}
}

// TestNotConfigured: without dev (esm api) there is no sign-in: the portal says so.
func TestNotConfigured(t *testing.T) {
	p, _ := newTestPortal(t, false)
	for _, path := range []string{Base + "/", Base + "/signin"} {
		w := httptest.NewRecorder()
		p.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "Sign-in is not configured") {
			t.Fatalf("%s: %d\n%s", path, w.Code, w.Body)
		}
	}
	w := httptest.NewRecorder()
	r := signInRequest("http://portal.test", "same-origin")
	p.Handler().ServeHTTP(w, r)
	if w.Header().Get("Set-Cookie") != "" {
		t.Fatal("a session was issued without dev")
	}
}
