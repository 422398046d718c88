// Package web is the portal: server-rendered pages for the people who will never use curl.
//
// It is a front door of the same kind as the JSON API (docs/DESIGN-NOTES.md, "Where a rule
// lives"): it authenticates the person (a session cookie), calls one desk method per page or
// action, and shows the answer. It holds no rule and never talks to a workflow or the read model
// for a use case; the directory is read only to know who is signed in (and, in development, to
// list whom one may sign in as).
//
// Pages and partials are html/template files embedded in the binary and parsed once, at New.
// Assets are embedded too and served under a URL carrying a hash of their content, with long
// cache headers. htmx (web/static/htmx.min.js, pinned) enhances a few interactions; every page
// and form works without JavaScript. Every POST passes Go's http.CrossOriginProtection.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// Base is the path the portal is served under.
const Base = "/portal"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Directory is what the portal reads of the directory: the person signed in and, in
// development, everyone one may sign in as. *store.Store is one.
type Directory interface {
	Person(ctx context.Context, id string) (catalog.Person, error)
	People(ctx context.Context) ([]catalog.PersonRef, error)
	// SignedIn is Person, with the instant before which the person's sessions ended (they
	// signed out then; zero if never), read in the same query: every page asks it.
	SignedIn(ctx context.Context, id string) (catalog.Person, time.Time, error)
	// EndSessions ends every session of the person issued before at (sign out).
	EndSessions(ctx context.Context, id string, at time.Time) error
}

// Config holds what the portal needs.
type Config struct {
	Desk      *desk.Desk
	Directory Directory
	// Secret keys the portal's cookies (they are encrypted and authenticated with a key derived
	// from it): at least 16 bytes in dev, 32 with OIDC (cmd/esm: ESM_SESSION_SECRET).
	Secret []byte
	// Dev: `esm dev`. Sign-in is "sign in as" anyone in the directory, and the cookies keep
	// their plain names and are not Secure (plain http on localhost).
	Dev bool
	// OIDC: the production sign-in (oidc.go), used without Dev. The cookies are then Secure,
	// HttpOnly, SameSite=Lax and __Host- named. With neither Dev nor OIDC the portal serves no
	// sign-in and says so ("Sign-in is not configured").
	OIDC   *OIDC
	Logger *slog.Logger
	// IdleTimeout and MaxAge bound a session: idle for longer, or older, and one signs in again
	// (0: 2 hours and 12 hours).
	IdleTimeout time.Duration
	MaxAge      time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Portal serves the portal's pages.
type Portal struct {
	desk     *desk.Desk
	dir      Directory
	dev      bool
	oidc     *OIDC // nil: no production sign-in
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	pages    map[string]*template.Template
	assets   *assets
	links    limiter // the approval links' pages, per client address
}

// New parses the templates and hashes the assets. Errors: a Secret too short for the mode
// (16 bytes in dev, 32 with OIDC); otherwise an error here is a bug in the binary.
func New(cfg Config) (*Portal, error) {
	switch {
	case cfg.Dev:
		cfg.OIDC = nil
	case cfg.OIDC != nil:
		if len(cfg.Secret) < 32 {
			return nil, errors.New("portal: the session secret must be at least 32 bytes with OIDC sign-in")
		}
	default:
		// No sign-in, so no session is ever issued: a key nobody knows, never one derived from
		// a development secret.
		cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(cfg.Secret)
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("portal: the session secret must be at least 16 bytes")
	}
	p := &Portal{desk: cfg.Desk, dir: cfg.Directory, dev: cfg.Dev, oidc: cfg.OIDC, log: cfg.Logger, now: cfg.Now}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	if p.assets, err = newAssets(static); err != nil {
		return nil, err
	}
	if p.pages, err = parsePages(p.funcs()); err != nil {
		return nil, err
	}
	p.sessions = newSessions(cfg.Secret, !cfg.Dev, cfg.IdleTimeout, cfg.MaxAge, p.now)
	return p, nil
}

// Handler serves the portal under Base. Every unsafe method passes CrossOriginProtection: a
// POST a browser sends from another origin is refused with 403.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Base+"/static/", http.StripPrefix(Base+"/static/", p.assets))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.renderStatus(w, r, http.StatusForbidden, "That form was sent from another site",
			"For your safety the portal only takes forms sent from its own pages. Go back, reload the page and try again.")
	}))
	// An approval mail's links need no sign-in: their token is the credential (links.go).
	p.linkRoutes(mux)
	if !p.dev && p.oidc == nil {
		mux.HandleFunc(Base+"/", p.notConfigured)
		return securityHeaders(cop.Handler(mux))
	}
	p.routes(mux)
	return securityHeaders(cop.Handler(mux))
}

// routes: one file of handlers per area registers its own.
func (p *Portal) routes(mux *http.ServeMux) {
	if p.oidc != nil {
		p.oidcRoutes(mux)
	} else {
		mux.HandleFunc("GET "+Base+"/signin", p.signInPage)
		mux.HandleFunc("POST "+Base+"/signin", p.signIn)
		mux.HandleFunc("POST "+Base+"/signout", p.signOut)
	}
	mux.Handle("GET "+Base+"/{$}", p.authed(p.home))
	p.requesterRoutes(mux)
	p.workRoutes(mux)
	p.lifecycleRoutes(mux)
	mux.HandleFunc(Base+"/", func(w http.ResponseWriter, r *http.Request) {
		p.renderStatus(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
}

// securityHeaders sets the headers every answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func (p *Portal) notConfigured(w http.ResponseWriter, r *http.Request) {
	p.renderStatus(w, r, http.StatusServiceUnavailable, "Sign-in is not configured",
		"This ESM serves its API only: the portal needs a sign-in (OpenID Connect: ESM_OIDC_CLIENT_ID, ESM_PORTAL_URL, ESM_SESSION_SECRET) that is not configured here. Use esm dev to try the portal.")
}
