package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/esmhq/esm/store"
)

// The sign-in of `esm dev`: "sign in as" anyone in the directory. Production sign-in is OpenID
// Connect (oidc.go); with neither, the portal serves no sign-in at all (web.go, notConfigured).

func (p *Portal) signInPage(w http.ResponseWriter, r *http.Request) {
	people, err := p.dir.People(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "signin", map[string]any{"People": people, "Next": safeNext(r.URL.Query().Get("next"))})
}

func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("person")
	if _, err := p.dir.Person(r.Context(), id); err != nil {
		p.renderStatus(w, r, http.StatusBadRequest, "No such person", "Choose someone from the list to sign in as.")
		return
	}
	p.sessions.start(w, id)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// signOut ends the session and every other session of the same person issued before now (a
// copied cookie, another browser): Directory.EndSessions records the instant, which every page
// checks (authed). A cookie that no longer opens as a session but is still the person's (past
// its bounds, kept.go) signs them out too. When the instant cannot be recorded the cookie is
// kept and the page says to try again: a sign-out that ended only this browser's session would
// say it did more than it did.
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	if v, ok := p.sessions.lapsed(r); ok {
		if err := p.dir.EndSessions(r.Context(), v.Person, p.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
			p.log.ErrorContext(r.Context(), "portal: sign out", "person", v.Person, "error", err)
			p.renderStatus(w, r, http.StatusServiceUnavailable, "You are not signed out yet",
				"ESM could not record the sign-out just now, so your sessions are still open. Try again in a moment.")
			return
		}
	}
	p.sessions.clear(w)
	to := Base + "/signin"
	if p.oidc != nil {
		to = Base + "/signed-out" // not /signin: the provider would sign them in again at once
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// safeNext keeps a redirect inside the portal (never another site: //evil.example is not a
// path of ours).
func safeNext(next string) string {
	if !strings.HasPrefix(next, Base+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Base + "/"
	}
	return next
}

func queryEscape(s string) string { return url.QueryEscape(s) }
