package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/esmhq/esm/store"
	"golang.org/x/oauth2"
)

// The portal's production sign-in: OpenID Connect's authorization code flow with PKCE
// (RFC 7636, S256), against the identity provider whose tokens the API accepts. go-oidc
// discovers the provider and verifies its ID tokens (signature from its JWKS, issuer, audience
// = our client id, expiry); x/oauth2 builds the authorization URL and exchanges the code.
//
//	GET  /portal/signin?next=P    a fresh state, nonce and PKCE verifier, sealed in the
//	                              short-lived __Host-esm_signin cookie; 303 to the provider
//	GET  /portal/auth/callback    the provider's answer: state checked against the cookie (which
//	                              is cleared: a callback works once), the code exchanged with the
//	                              verifier, the ID token verified and its nonce checked; its
//	                              subject must be a person in the directory (the API's rule for
//	                              a bearer token's subject); then the session, and 303 to P
//	POST /portal/signout          the session cleared; 303 to /portal/signed-out
//
// Nothing the provider or a browser sends here makes a 500: a refusal at the provider
// (?error=access_denied), a stale or replayed callback, a code the provider will not exchange
// and a token that does not verify each get a page that says so and offers to sign in again.

// OIDCConfig is the production sign-in's configuration (cmd/esm reads it from ESM_OIDC_ISSUER,
// ESM_OIDC_CLIENT_ID, ESM_OIDC_CLIENT_SECRET and ESM_PORTAL_URL).
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; discovery reads <Issuer>/.well-known/openid-configuration.
	Issuer string
	// ClientID is the portal's client at the provider; ID tokens must name it as audience.
	ClientID string
	// ClientSecret is the client's secret; empty for a public client (PKCE alone).
	ClientSecret string
	// PortalURL is the portal's public base URL (scheme and host, no /portal): the redirect URI
	// registered at the provider is PortalURL + "/portal/auth/callback".
	PortalURL string
	// HTTPClient calls the provider (nil: a client with a 10-second timeout).
	HTTPClient *http.Client
}

// OIDC is a provider discovered, ready for New's Config.OIDC.
type OIDC struct {
	client      *http.Client
	oauth       oauth2.Config
	verifier    *oidc.IDTokenVerifier
	issuer      string
	endSession  string // the provider's end_session_endpoint, if it has one
	redirectURL string
}

// DiscoverOIDC reads the provider's discovery document. Errors: a PortalURL that is not an
// absolute http(s) URL, an empty Issuer or ClientID, a provider that does not answer, or whose
// document names another issuer.
func DiscoverOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("the issuer is empty")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("the client id is empty")
	}
	u, err := url.Parse(cfg.PortalURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("the portal URL %q is not an absolute http(s) URL", cfg.PortalURL)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover the OpenID provider %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		EndSession string   `json:"end_session_endpoint"`
		Methods    []string `json:"code_challenge_methods_supported"`
	}
	_ = provider.Claims(&meta)
	redirect := strings.TrimRight(cfg.PortalURL, "/") + Base + "/auth/callback"
	return &OIDC{
		client: client,
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}},
		verifier:    provider.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		issuer:      cfg.Issuer,
		endSession:  meta.EndSession,
		redirectURL: redirect,
	}, nil
}

// RedirectURL is the callback to register at the provider.
func (o *OIDC) RedirectURL() string { return o.redirectURL }

// signinFor is how long a sign-in may take at the provider.
const signinFor = 10 * time.Minute

// pending is a sign-in under way, sealed in the signin cookie.
type pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	At       int64  `json:"t"`
}

func (p *Portal) oidcRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"/signin", p.oidcStart)
	mux.HandleFunc("GET "+Base+"/auth/callback", p.oidcCallback)
	mux.HandleFunc("POST "+Base+"/signout", p.signOut)
	mux.HandleFunc("GET "+Base+"/signed-out", p.signedOut)
}

// oidcStart sends the browser to the provider, with what the callback will check sealed in the
// signin cookie.
func (p *Portal) oidcStart(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if r.Header.Get("HX-Request") != "" { // a whole page must go: see toSignIn
		w.Header().Set("HX-Redirect", Base+"/signin?next="+queryEscape(next))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	st := pending{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Next: next, At: p.now().Unix()}
	p.sessions.setCookie(w, signinName, p.sessions.sealAs(signinName, st), signinFor)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.oidc.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusSeeOther)
}

// oidcCallback completes a sign-in: see the flow above.
func (p *Portal) oidcCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var st pending
	ok := p.sessions.openAs(r, signinName, &st)
	p.sessions.setCookie(w, signinName, "", -1) // one callback per sign-in, whatever it brings
	if e := q.Get("error"); e != "" {
		detail := "Your organisation's sign-in answered: " + e
		if d := q.Get("error_description"); d != "" {
			detail += " (" + d + ")"
		}
		p.signInFailed(w, r, http.StatusForbidden, "You were not signed in", detail+".")
		return
	}
	if !ok || p.now().Sub(time.Unix(st.At, 0)) > signinFor {
		p.signInFailed(w, r, http.StatusBadRequest, "This sign-in has expired or was already used",
			"Sign-ins are good once, for "+signinFor.String()+", in the browser that began them.")
		return
	}
	if q.Get("state") == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		p.signInFailed(w, r, http.StatusBadRequest, "This sign-in does not match the one this browser began",
			"It may have been begun in another tab, or by someone else's link.")
		return
	}
	ctx := oidc.ClientContext(r.Context(), p.oidc.client)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.oidc.client)
	tok, err := p.oidc.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			p.log.WarnContext(r.Context(), "portal sign-in: the provider refused the code", "error", err)
			p.signInFailed(w, r, http.StatusBadRequest, "Your organisation's sign-in refused to complete", "The sign-in could not be completed ("+re.ErrorCode+").")
			return
		}
		p.log.ErrorContext(r.Context(), "portal sign-in: the provider did not answer", "error", err)
		p.signInFailed(w, r, http.StatusBadGateway, "Your organisation's sign-in did not answer", "Try again in a moment.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		p.signInFailed(w, r, http.StatusBadGateway, "Your organisation's sign-in sent no identity", "Its answer had no ID token.")
		return
	}
	id, err := p.oidc.verifier.Verify(ctx, raw)
	if err == nil && subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(st.Nonce)) != 1 {
		err = errors.New("the nonce does not match")
	}
	if err != nil {
		p.log.WarnContext(r.Context(), "portal sign-in: the ID token is not valid", "error", err)
		p.signInFailed(w, r, http.StatusBadRequest, "Your organisation's sign-in sent an identity ESM cannot accept", "Its ID token is not valid.")
		return
	}
	if _, err := p.dir.Person(r.Context(), id.Subject); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			p.log.InfoContext(r.Context(), "portal sign-in: subject not in the directory", "subject", id.Subject)
			p.signInFailed(w, r, http.StatusForbidden, "You are not in ESM's directory",
				fmt.Sprintf("You signed in as %q, and ESM's directory has no such person. Ask whoever runs ESM in your organisation to add you.", id.Subject))
			return
		}
		p.fail(w, r, err)
		return
	}
	p.sessions.start(w, id.Subject)
	http.Redirect(w, r, safeNext(st.Next), http.StatusSeeOther)
}

// signInFailed is a page that says why and offers to sign in again.
func (p *Portal) signInFailed(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	p.render(w, r, status, "status", map[string]any{"Title": title, "Detail": detail, "Status": status,
		"Link": Base + "/signin", "LinkText": "Sign in again"})
}

// signedOut: the page after sign out (never /signin itself, which would sign the person in
// again at once while the provider remembers them).
func (p *Portal) signedOut(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "You are signed out", "Status": http.StatusOK,
		"Detail": "You are signed out of ESM. Your organisation's sign-in may still remember you.",
		"Link":   Base + "/signin", "LinkText": "Sign in again"}
	if p.oidc.endSession != "" {
		data["Link2"] = p.oidc.endSession + "?client_id=" + url.QueryEscape(p.oidc.oauth.ClientID)
		data["Link2Text"] = "Sign out of your organisation's sign-in too"
	}
	p.render(w, r, http.StatusOK, "status", data)
}

// random is 32 random bytes, URL-safe.
func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
