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

// cookieName is the session cookie's name; it is bound into the ciphertext too, so a value
// cannot be moved to another cookie.
const cookieName = "esm_session"

// session is what the cookie carries: who signed in, when, and when they were last seen.
type session struct {
	Person   string `json:"p"`
	IssuedAt int64  `json:"i"`
	SeenAt   int64  `json:"s"`
}

// sessions seals sessions into cookies with AES-256-GCM (encrypted and authenticated: a cookie
// changed by one bit is no session) under a key derived from the server's secret.
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

func (s *sessions) seal(v session) string {
	plain, _ := json.Marshal(v)
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(cookieName)))
}

var errNoSession = errors.New("no session")

// open reads the request's session: errNoSession when it has none, or one that does not
// decrypt, or one idle or old past its bounds.
func (s *sessions) open(r *http.Request) (session, error) {
	var v session
	c, err := r.Cookie(cookieName)
	if err != nil {
		return v, errNoSession
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n {
		return v, errNoSession
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(cookieName))
	if err != nil || json.Unmarshal(plain, &v) != nil || v.Person == "" {
		return session{}, errNoSession
	}
	now := s.now()
	if now.Sub(time.Unix(v.SeenAt, 0)) > s.idle || now.Sub(time.Unix(v.IssuedAt, 0)) > s.max {
		return session{}, errNoSession
	}
	return v, nil
}

// write sets the cookie; it lives no longer than the session's absolute bound.
func (s *sessions) write(w http.ResponseWriter, v session) {
	expires := time.Unix(v.IssuedAt, 0).Add(s.max)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.seal(v), Path: Base, Expires: expires,
		MaxAge: int(time.Until(expires).Seconds()), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

func (s *sessions) start(w http.ResponseWriter, person string) {
	now := s.now().Unix()
	s.write(w, session{Person: person, IssuedAt: now, SeenAt: now})
}

func (s *sessions) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Base, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

type actorKey struct{}

// actor is the person signed in (set by authed).
func actor(r *http.Request) catalog.Person {
	p, _ := r.Context().Value(actorKey{}).(catalog.Person)
	return p
}

// authed runs h for a signed-in person, loaded from the directory; anyone else is sent to sign
// in, and comes back to where they were going. A session seen more than a minute ago is
// renewed (its idle clock restarts).
func (p *Portal) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := p.sessions.open(r)
		if err != nil {
			p.toSignIn(w, r)
			return
		}
		person, err := p.dir.Person(r.Context(), v.Person)
		if err != nil {
			// Gone from the directory (or the directory is down): no session.
			p.log.WarnContext(r.Context(), "portal session's person not loaded", "person", v.Person, "error", err)
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

func (p *Portal) toSignIn(w http.ResponseWriter, r *http.Request) {
	next := ""
	if r.Method == http.MethodGet {
		next = "?next=" + queryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, Base+"/signin"+next, http.StatusSeeOther)
}
