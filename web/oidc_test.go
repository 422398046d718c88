package web

// The production sign-in against a real OpenID provider in process: internal/devidp, the
// development provider on zitadel/oidc's op package that `esm idp` serves, over real HTTP. The portal
// is served over TLS (its cookies are Secure and __Host- named); a cookie-jar client plays the
// browser.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/internal/devidp"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"golang.org/x/oauth2"
)

const (
	testClientID     = "esm-portal"
	testClientSecret = "portal-client-secret"
)

// idpPeople are the provider's accounts (each signs in with their id as password): alice is in
// ESM's directory, mallory is not.
func idpPeople(_ context.Context, id string) (devidp.Person, bool, error) {
	p, ok := map[string]devidp.Person{
		"alice":   {ID: "alice", Name: "Alice Chen", Email: "alice@example.com"},
		"mallory": {ID: "mallory", Name: "Mal Lory", Email: "mallory@example.com"},
	}[id]
	return p, ok, nil
}

// oidcESM is a portal with OIDC sign-in, its provider, and the store behind it.
type oidcESM struct {
	portal   string // https://127.0.0.1:port
	issuer   string
	tls      http.RoundTripper
	provider *oauth2.Config // the portal's client at the provider, for the PKCE test
	p        *Portal
}

// startOIDC starts the provider and the portal (on a store of the example catalog).
func startOIDC(t *testing.T, s *store.Store) *oidcESM {
	t.Helper()
	ctx := context.Background()
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	portalSrv := httptest.NewUnstartedServer(nil)
	portalURL := "https://" + portalSrv.Listener.Addr().String()

	idpSrv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + idpSrv.Listener.Addr().String()
	idp, err := devidp.New(devidp.Config{Issuer: issuer, People: idpPeople, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clients: []devidp.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{portalURL + Base + "/auth/callback"}}}})
	if err != nil {
		t.Fatal(err)
	}
	idpSrv.Config.Handler = idp
	idpSrv.Start()
	t.Cleanup(idpSrv.Close)

	o, err := DiscoverOIDC(ctx, OIDCConfig{Issuer: issuer, ClientID: testClientID, ClientSecret: testClientSecret, PortalURL: portalURL})
	if err != nil {
		t.Fatal(err)
	}
	if o.RedirectURL() != portalURL+Base+"/auth/callback" {
		t.Fatalf("redirect URL %s", o.RedirectURL())
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := New(Config{Desk: desk.New(desk.Config{Store: s, Logger: log}), Directory: s, OIDC: o,
		Secret: []byte("an OIDC test secret, 32 bytes ++"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	portalSrv.Config.Handler = p.Handler()
	portalSrv.StartTLS()
	t.Cleanup(portalSrv.Close)
	return &oidcESM{portal: portalURL, issuer: issuer, tls: portalSrv.Client().Transport, provider: &o.oauth, p: p}
}

// oidcBrowser is a browser: a cookie jar, the redirects it followed and the cookies it was set.
type oidcBrowser struct {
	t       *testing.T
	client  *http.Client
	mu      sync.Mutex
	visited []*url.URL
	set     []*http.Cookie
	stopAt  func(*url.URL) bool // stop following redirects here (nil: follow all)
}

func (e *oidcESM) browser(t *testing.T) *oidcBrowser {
	jar, _ := cookiejar.New(nil)
	b := &oidcBrowser{t: t}
	b.client = &http.Client{Jar: jar, Transport: recordCookies{e.tls, b}, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		b.mu.Lock()
		b.visited = append(b.visited, r.URL)
		b.mu.Unlock()
		if b.stopAt != nil && b.stopAt(r.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

type recordCookies struct {
	rt http.RoundTripper
	b  *oidcBrowser
}

func (rc recordCookies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := rc.rt.RoundTrip(r)
	if err == nil {
		rc.b.mu.Lock()
		rc.b.set = append(rc.b.set, resp.Cookies()...)
		rc.b.mu.Unlock()
	}
	return resp, err
}

func (b *oidcBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *oidcBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

func (b *oidcBrowser) post(u string, form url.Values, origin string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return b.do(req)
}

var loginID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn opens the portal at path, is sent to the provider's login form, and signs in there as
// user: it answers the last response (the portal's page when all went well).
func (b *oidcBrowser) signIn(e *oidcESM, path, user, password string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.get(e.portal + path)
	if !strings.HasPrefix(resp.Request.URL.String(), e.issuer+"/login/") {
		b.t.Fatalf("the portal did not send the browser to the provider's login form: at %s (%d)\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	m := loginID.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no login form at the provider:\n%s", body)
	}
	return b.post(e.issuer+"/login/username", url.Values{"id": {m[1]}, "username": {user}, "password": {password}}, "")
}

func (b *oidcBrowser) find(pred func(*url.URL) bool) *url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.visited {
		if pred(u) {
			return u
		}
	}
	return nil
}

func (b *oidcBrowser) cookie(name string) *http.Cookie {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.set) - 1; i >= 0; i-- {
		if b.set[i].Name == name {
			return b.set[i]
		}
	}
	return nil
}

func isCallback(u *url.URL) bool { return u.Path == Base+"/auth/callback" }

// TestOIDCSignIn: portal → provider's authorize → its login form → callback → the portal's home
// shows the person; the authorization request carries a PKCE S256 challenge, a state and a
// nonce; the cookies are __Host-, Secure, HttpOnly, SameSite=Lax, Path=/; the callback works
// once; sign out ends the session.
func TestOIDCSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := startOIDC(t, s)
		b := e.browser(t)
		resp, body := b.signIn(e, Base+"/catalog?q=laptop", "alice", "alice")
		if resp.StatusCode != 200 || resp.Request.URL.String() != e.portal+Base+"/catalog?q=laptop" || !strings.Contains(body, "Alice Chen") {
			t.Fatalf("after sign-in: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
		}
		auth := b.find(func(u *url.URL) bool { return strings.HasPrefix(u.String(), e.issuer+"/authorize?") })
		if auth == nil {
			t.Fatal("the browser never went to the provider's authorization endpoint")
		}
		q := auth.Query()
		for _, k := range []string{"state", "nonce", "code_challenge"} {
			if len(q.Get(k)) < 40 {
				t.Fatalf("the authorization request's %s is %q", k, q.Get(k))
			}
		}
		if q.Get("code_challenge_method") != "S256" || q.Get("client_id") != testClientID || q.Get("redirect_uri") != e.portal+Base+"/auth/callback" {
			t.Fatalf("authorization request %s", auth)
		}

		// The cookies, outside dev.
		for _, name := range []string{"__Host-" + cookieName, "__Host-" + signinName} {
			c := b.cookie(name)
			if c == nil {
				t.Fatalf("no %s cookie was set", name)
			}
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
				t.Fatalf("%s: %+v", name, c)
			}
		}
		if c := b.cookie(cookieName); c != nil {
			t.Fatalf("a cookie without the __Host- prefix: %+v", c)
		}

		// The callback replayed: the sign-in cookie is gone, and with it restored the provider
		// will not exchange a used code. No session either way.
		cb := b.find(isCallback)
		if cb == nil {
			t.Fatal("no callback")
		}
		signinCookie := b.set[0] // the first cookie the portal set: the sign-in under way
		if signinCookie.Name != "__Host-"+signinName {
			t.Fatalf("first cookie %s", signinCookie.Name)
		}
		resp, body = b.get(cb.String()) // the same browser: its sign-in cookie was cleared
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired or was already used") {
			t.Fatalf("replayed in the same browser: %d\n%s", resp.StatusCode, body)
		}
		replay := e.browser(t)
		req, _ := http.NewRequest("GET", cb.String(), nil)
		req.AddCookie(&http.Cookie{Name: signinCookie.Name, Value: signinCookie.Value})
		resp, body = replay.do(req)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "refused to complete") || replay.cookie("__Host-"+cookieName) != nil {
			t.Fatalf("replayed with its cookie: %d\n%s", resp.StatusCode, body)
		}

		// Sign out: the session cookie is cleared, and the portal sends one to sign in again.
		resp, _ = b.post(e.portal+Base+"/signout", nil, e.portal)
		if resp.Request.URL.Path != Base+"/signed-out" {
			t.Fatalf("sign out landed on %s", resp.Request.URL)
		}
		if c := b.cookie("__Host-" + cookieName); c.MaxAge >= 0 {
			t.Fatalf("sign out left the session cookie: %+v", c)
		}
		b.stopAt = func(u *url.URL) bool { return u.Path == Base+"/signin" }
		if resp, _ = b.get(e.portal + Base + "/"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("signed out, the home page answered %d", resp.StatusCode)
		}
	})
}

// TestOIDCRefusals: a subject not in the directory, a callback whose state is not the one this
// browser began, the provider's own refusal, a code sent without or with the wrong PKCE
// verifier: each refused with a page that says so (never a 500), and no session.
func TestOIDCRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := startOIDC(t, s)
		noSession := func(b *oidcBrowser) {
			t.Helper()
			if c := b.cookie("__Host-" + cookieName); c != nil && c.Value != "" {
				t.Fatalf("a session was started: %+v", c)
			}
		}

		t.Run("not in the directory", func(t *testing.T) {
			b := e.browser(t)
			resp, body := b.signIn(e, Base+"/", "mallory", "mallory")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not in ESM&#39;s directory") || !strings.Contains(body, "mallory") {
				t.Fatalf("%d\n%s", resp.StatusCode, body)
			}
			noSession(b)
		})

		t.Run("wrong state", func(t *testing.T) {
			b := e.browser(t)
			b.stopAt = isCallback
			resp, _ := b.signIn(e, Base+"/", "alice", "alice")
			cb, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode/100 != 3 || !isCallback(cb) || cb.Query().Get("code") == "" {
				t.Fatalf("the provider did not send back a code: %d %s", resp.StatusCode, cb)
			}
			q := cb.Query()
			q.Set("state", "a-state-this-browser-never-began-000000000000")
			cb.RawQuery = q.Encode()
			resp, body := b.get(cb.String())
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "does not match") {
				t.Fatalf("%d\n%s", resp.StatusCode, body)
			}
			noSession(b)
		})

		t.Run("nonce", func(t *testing.T) {
			// The browser's own sign-in cookie, opened as the portal would, with another nonce:
			// state and verifier are right, the ID token's nonce is not this sign-in's.
			b := e.browser(t)
			b.stopAt = isCallback
			resp, _ := b.signIn(e, Base+"/", "alice", "alice")
			cb := mustURL(t, resp.Header.Get("Location"))
			c := b.cookie("__Host-" + signinName)
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(c)
			var st pending
			if !e.p.sessions.openAs(r, signinName, &st) {
				t.Fatal("the sign-in cookie does not open")
			}
			st.Nonce = random()
			req, _ := http.NewRequest("GET", cb.String(), nil)
			req.AddCookie(&http.Cookie{Name: c.Name, Value: e.p.sessions.sealAs(signinName, st)})
			other := e.browser(t)
			resp, body := other.do(req)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "cannot accept") {
				t.Fatalf("%d\n%s", resp.StatusCode, body)
			}
			noSession(other)
		})

		t.Run("provider refused", func(t *testing.T) {
			b := e.browser(t)
			b.stopAt = func(u *url.URL) bool { return strings.HasPrefix(u.String(), e.issuer) }
			resp, _ := b.get(e.portal + Base + "/signin")
			state := mustURL(t, resp.Header.Get("Location")).Query().Get("state")
			resp, body := b.get(e.portal + Base + "/auth/callback?error=access_denied&error_description=" + url.QueryEscape("The user said no") + "&state=" + state)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "access_denied") || !strings.Contains(body, "Sign in again") {
				t.Fatalf("%d\n%s", resp.StatusCode, body)
			}
			noSession(b)
		})

		t.Run("PKCE verifier", func(t *testing.T) {
			b := e.browser(t)
			b.stopAt = isCallback
			resp, _ := b.signIn(e, Base+"/", "alice", "alice")
			code := mustURL(t, resp.Header.Get("Location")).Query().Get("code")
			ctx := context.Background()
			if _, err := e.provider.Exchange(ctx, code); err == nil || !strings.Contains(err.Error(), "code_verifier") {
				t.Fatalf("the provider exchanged the code without the PKCE verifier: %v", err)
			}
			if _, err := e.provider.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Fatalf("the provider exchanged the code with another PKCE verifier: %v", err)
			}
		})
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || s == "" {
		t.Fatalf("not a URL: %q", s)
	}
	return u
}

// TestOIDCCrossOriginPOSTRefused: with OIDC sign-in too, a POST sent from another site is
// refused before any handler runs; one from the portal's own pages is taken.
func TestOIDCCrossOriginPOSTRefused(t *testing.T) {
	e := startOIDC(t, storetest.Open(t, "sqlite"))
	b := e.browser(t)
	b.signIn(e, Base+"/", "alice", "alice")
	if c := b.cookie("__Host-" + cookieName); c == nil || c.Value == "" {
		t.Fatal("not signed in")
	}
	b.stopAt = func(*url.URL) bool { return true }
	resp, body := b.post(e.portal+Base+"/signout", nil, "https://evil.example")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "another site") {
		t.Fatalf("cross-site sign out: %d\n%s", resp.StatusCode, body)
	}
	if c := b.cookie("__Host-" + cookieName); c.Value == "" {
		t.Fatal("a cross-site POST signed the person out")
	}
	resp, _ = b.post(e.portal+Base+"/signout", nil, e.portal)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Base+"/signed-out" {
		t.Fatalf("same-origin sign out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestOIDCKeptAcrossSignIn: with OIDC sign-in, a form sent after the session lapsed goes through
// the provider's sign-in and comes back filled, with the notice and its idempotency key.
func TestOIDCKeptAcrossSignIn(t *testing.T) {
	e := startOIDC(t, storetest.Open(t, "sqlite"))
	b := e.browser(t)
	b.signIn(e, Base+"/", "alice", "alice")
	_, page := b.get(e.portal + Base + "/services/laptop")
	key := hidden(t, page, "idempotency_key")

	// Alice's session lapses (idle for three hours) while the form is open.
	old := time.Now().Add(-3 * time.Hour).Unix()
	u, _ := url.Parse(e.portal)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-" + cookieName, Value: e.p.sessions.seal(session{Person: "alice", IssuedAt: old, SeenAt: old}), Path: "/", Secure: true}})
	form := url.Values{"idempotency_key": {key}, "f.model": {"performance-16"}, "f.reason": {"my laptop's battery died"}}
	req, _ := http.NewRequest("POST", e.portal+Base+"/services/laptop", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.portal)
	req.Header.Set("Referer", e.portal+Base+"/services/laptop")
	resp, body := b.do(req)
	if !strings.HasPrefix(resp.Request.URL.String(), e.issuer+"/login/") {
		t.Fatalf("the lapsed form went to %s (%d)\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	m := loginID.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login form:\n%s", body)
	}
	resp, page = b.post(e.issuer+"/login/username", url.Values{"id": {m[1]}, "username": {"alice"}, "password": {"alice"}}, "")
	if resp.Request.URL.String() != e.portal+Base+"/services/laptop" {
		t.Fatalf("after sign-in: %s", resp.Request.URL)
	}
	mustContain(t, page, keptNotice, `<option value="performance-16" selected>`, `>my laptop&#39;s battery died</textarea>`, `name="idempotency_key" value="`+key+`"`)
}
