package web

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/esmhq/esm/catalog"
)

// The portal's cookies, by their plain names. Outside dev each carries the __Host- prefix (a
// browser then takes it only with Secure, Path=/ and no Domain: no other host, not even a
// sibling subdomain, can set or shadow it). Each name is bound into its cookie's ciphertext, so
// a value cannot be moved to another cookie.
const (
	cookieName = "esm_session" // who is signed in
	signinName = "esm_signin"  // an OIDC sign-in under way: state, nonce, PKCE verifier (oidc.go)
	keptName   = "esm_kept"    // a form's answers kept across a sign-in (kept.go)
)

// session is what the cookie carries: who signed in, when (IssuedAt in Unix seconds, IssuedUs
// the same instant in microseconds, to compare with a sign-out), and when they were last seen.
type session struct {
	Person   string `json:"p"`
	IssuedAt int64  `json:"i"`
	IssuedUs int64  `json:"u,omitempty"`
	SeenAt   int64  `json:"s"`
}

// issued is when the session was issued (a cookie sealed before IssuedUs existed: its second).
func (v session) issued() time.Time {
	if v.IssuedUs != 0 {
		return time.UnixMicro(v.IssuedUs)
	}
	return time.Unix(v.IssuedAt, 0)
}

// sessions seals sessions (and the portal's other cookies) with AES-256-GCM, encrypted and
// authenticated: a cookie changed by one bit is no session, under a key derived from the
// server's secret. secure (outside dev): the cookies are Secure, Path=/ and __Host- named; in
// dev they keep their plain names, Path=/portal, over plain http.
type sessions struct {
	aead   cipher.AEAD
	secure bool
	idle   time.Duration
	max    time.Duration
	now    func() time.Time
}

func newSessions(secret []byte, secure bool, idle, max time.Duration, now func() time.Time) *sessions {
	if idle <= 0 {
		idle = 2 * time.Hour
	}
	if max <= 0 {
		max = 12 * time.Hour
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "esm portal session v1", 32)
	if err != nil {
		panic(err) // only for a key length HKDF cannot give
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sessions{aead: aead, secure: secure, idle: idle, max: max, now: now}
}

// name is a cookie's name as sent: __Host-<plain> outside dev.
func (s *sessions) name(plain string) string {
	if s.secure {
		return "__Host-" + plain
	}
	return plain
}

// sealAs encrypts v (as JSON) for the cookie named plain.
func (s *sessions) sealAs(plain string, v any) string {
	b, _ := json.Marshal(v)
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, b, []byte(s.name(plain))))
}

// openAs decrypts the request's cookie named plain into v: false when there is none, or it was
// sealed for another name or under another secret, or changed.
func (s *sessions) openAs(r *http.Request, plain string, v any) bool {
	c, err := r.Cookie(s.name(plain))
	if err != nil {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n {
		return false
	}
	b, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(s.name(plain)))
	return err == nil && json.Unmarshal(b, v) == nil
}

// setCookie sets (maxAge > 0) or clears (maxAge < 0) the cookie named plain.
func (s *sessions) setCookie(w http.ResponseWriter, plain, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: s.name(plain), Value: value, Path: Base, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if s.secure {
		c.Path = "/" // __Host- wants it
	}
	if maxAge < 0 {
		c.Value, c.MaxAge = "", -1
	} else {
		c.MaxAge = int(maxAge.Seconds())
		c.Expires = s.now().Add(maxAge)
	}
	http.SetCookie(w, c)
}

func (s *sessions) seal(v session) string { return s.sealAs(cookieName, v) }

var errNoSession = errors.New("no session")

// open reads the request's session: errNoSession when it has none, or one that does not
// decrypt, or one idle or old past its bounds.
func (s *sessions) open(r *http.Request) (session, error) {
	v, ok := s.lapsed(r)
	if !ok {
		return session{}, errNoSession
	}
	now := s.now()
	if now.Sub(time.Unix(v.SeenAt, 0)) > s.idle || now.Sub(time.Unix(v.IssuedAt, 0)) > s.max {
		return session{}, errNoSession
	}
	return v, nil
}

// lapsed reads the request's session whatever its age: whom a form sent after the session
// ended belongs to (kept.go).
func (s *sessions) lapsed(r *http.Request) (session, bool) {
	var v session
	if !s.openAs(r, cookieName, &v) || v.Person == "" {
		return session{}, false
	}
	return v, true
}

// lapseGrace is how long the browser keeps a session cookie past the session's absolute bound:
// the server no longer takes it as a session, but it still says whose answers a form sent then
// were (kept.go).
const lapseGrace = 24 * time.Hour

// write sets the cookie; the browser keeps it until the session's absolute bound plus
// lapseGrace (the server refuses it as a session from that bound on, in open).
func (s *sessions) write(w http.ResponseWriter, v session) {
	expires := time.Unix(v.IssuedAt, 0).Add(s.max + lapseGrace)
	s.setCookie(w, cookieName, s.seal(v), expires.Sub(s.now()))
}

func (s *sessions) start(w http.ResponseWriter, person string) {
	now := s.now()
	s.write(w, session{Person: person, IssuedAt: now.Unix(), IssuedUs: now.UnixMicro(), SeenAt: now.Unix()})
}

func (s *sessions) clear(w http.ResponseWriter) { s.setCookie(w, cookieName, "", -1) }

type actorKey struct{}

// actor is the person signed in (set by authed).
func actor(r *http.Request) catalog.Person {
	p, _ := r.Context().Value(actorKey{}).(catalog.Person)
	return p
}

// authed runs h for a signed-in person, loaded from the directory; anyone else is sent to sign
// in, and comes back to where they were going (a form sent without a session keeps its answers
// for that: kept.go). A session of someone no longer in the directory, or issued before they
// last signed out (Directory.SignedIn, read with the person: no extra query), is no session. A
// session seen more than a minute ago is renewed (its idle clock restarts).
func (p *Portal) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := p.sessions.open(r)
		if err != nil {
			p.toSignIn(w, r)
			return
		}
		person, after, err := p.dir.SignedIn(r.Context(), v.Person)
		if err != nil {
			// Gone from the directory (or the directory is down): no session.
			p.log.WarnContext(r.Context(), "portal session's person not loaded", "person", v.Person, "error", err)
			p.sessions.clear(w)
			p.toSignIn(w, r)
			return
		}
		if v.issued().Before(after) {
			// They signed out since (elsewhere, or this is a copy of the cookie).
			p.sessions.clear(w)
			p.toSignIn(w, r)
			return
		}
		if now := p.now().Unix(); now-v.SeenAt > 60 {
			v.SeenAt = now
			p.sessions.write(w, v)
		}
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, person)))
	})
}

// toSignIn sends the person to sign in, with next: the page asked for (a GET), or the page whose
// form was sent (a POST, its answers kept). An htmx request is told to load the sign-in as a
// whole page (HX-Redirect): the sign-in may leave for the identity provider, which a request
// made from JavaScript cannot follow.
func (p *Portal) toSignIn(w http.ResponseWriter, r *http.Request) {
	next := ""
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		next = r.URL.RequestURI()
	case http.MethodPost:
		next = p.keepForm(w, r)
	}
	to := Base + "/signin"
	if next != "" {
		to += "?next=" + queryEscape(next)
	}
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
