package web

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"golang.org/x/time/rate"
)

// Approval mails' links (issue 19, point 4): /portal/link/<token>. The token is the credential
// of the person it was made for, for one action, so these pages need no session. A GET shows
// what the link would decide and asks to confirm (mail scanners open links: a GET decides
// nothing); only the page's POST decides, through desk.DecideByLink, behind the portal's
// cross-origin protection like every POST. Tokens are in the path, so these pages send no
// Referer anywhere (Referrer-Policy: no-referrer), and the token is never logged.

// linkRoutes serves the links' pages; they work whether or not a sign-in is configured.
func (p *Portal) linkRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+Base+"/link/{token}", p.limited(p.linkPage))
	mux.Handle("POST "+Base+"/link/{token}", p.limited(p.linkDecide))
}

// Link pages are limited per client address: a burst of linkBurst, then linkRate a second.
// The tokens are 256 random bits, so guessing is hopeless anyway; the limit keeps a scanner of
// the address space from costing the database a lookup per try.
const (
	linkRate  = rate.Limit(0.5)
	linkBurst = 20
)

type limiter struct {
	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

func (l *limiter) allow(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil || len(l.clients) > 10000 {
		l.clients = map[string]*rate.Limiter{} // forget everyone rather than grow without end
	}
	c, ok := l.clients[host]
	if !ok {
		c = rate.NewLimiter(linkRate, linkBurst)
		l.clients[host] = c
	}
	return c.Allow()
}

// limited sets the links' headers and applies the rate limit.
func (p *Portal) limited(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Robots-Tag", "noindex")
		if !p.links.allow(r) {
			w.Header().Set("Retry-After", "60")
			p.renderStatus(w, r, http.StatusTooManyRequests, "Too many tries", "This address opened too many links in a short time. Wait a minute and try again.")
			return
		}
		next(w, r)
	})
}

// linkForm is the confirmation page's form.
type linkForm struct {
	Comment string
	Error   string
}

// linkPage shows what the link would decide, with a comment box and one button.
func (p *Portal) linkPage(w http.ResponseWriter, r *http.Request) {
	v, err := p.desk.OpenLink(r.Context(), r.PathValue("token"))
	if err != nil {
		p.linkFail(w, r, err)
		return
	}
	p.showLink(w, r, http.StatusOK, v, linkForm{})
}

func (p *Portal) showLink(w http.ResponseWriter, r *http.Request, status int, v desk.LinkView, f linkForm) {
	p.render(w, r, status, "link", map[string]any{"V": v, "R": v.Request, "F": f, "Token": r.PathValue("token"),
		"Reject": v.Decision == catalog.DecisionReject})
}

// linkDecide makes the decision the link proposes. The form must say which (the button's
// decision, the link's own): a POST without it, or for another decision, is refused, so that
// nothing but the confirmation page's button decides.
func (p *Portal) linkDecide(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	token := r.PathValue("token")
	v, err := p.desk.OpenLink(r.Context(), token)
	if err != nil {
		p.linkFail(w, r, err)
		return
	}
	f := linkForm{Comment: r.PostForm.Get("comment")}
	if sent := r.PostForm.Get("decision"); sent != v.Decision {
		f.Error = "Confirm with the button below."
		p.showLink(w, r, http.StatusBadRequest, v, f)
		return
	}
	out, err := p.desk.DecideByLink(r.Context(), token, desk.DecideByLinkInput{Comment: f.Comment})
	var ve *desk.ValidationError
	if errors.As(err, &ve) {
		errs := placeErrors(nil, ve.Fields, map[string]*string{"comment": &f.Error, "decision": &f.Error})
		if f.Error == "" && len(errs) > 0 {
			f.Error = errs[0]
		}
		p.showLink(w, r, http.StatusUnprocessableEntity, v, f)
		return
	}
	if err != nil {
		p.linkFail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "linkdone", map[string]any{"V": v, "R": v.Request, "Out": out,
		"Approved": v.Decision == catalog.DecisionApprove, "At": time.Now()})
}

// linkFail explains why a link does not decide, by the desk's reason. A token that does not
// resolve learns nothing of any request. No answer is a 500, and the address (the token) is
// never logged.
func (p *Portal) linkFail(w http.ResponseWriter, r *http.Request, err error) {
	var e *desk.Error
	if errors.As(err, &e) {
		status, title := http.StatusConflict, "This link does not decide any more"
		switch e.Reason {
		case desk.ReasonLinkUnknown:
			status, title = http.StatusNotFound, "This link does not work"
		case desk.ReasonLinkUsed:
			status, title = http.StatusGone, "This link was used"
		case desk.ReasonLinkExpired:
			status, title = http.StatusGone, "This link has expired"
		case desk.ReasonStepDecided:
			status, title = http.StatusConflict, "Already decided"
		case desk.ReasonNotApprover:
			status, title = http.StatusForbidden, "You are no longer asked to decide"
		case desk.ReasonDelegationEnded:
			status, title = http.StatusForbidden, "The delegation has ended"
		case desk.ReasonOwnPart:
			status, title = http.StatusForbidden, "You decide this step in your own name"
		default:
			if s, t := statusOf(err); s != http.StatusInternalServerError {
				status, title = s, t
			}
		}
		data := map[string]any{"Title": title, "Detail": e.Detail, "Status": status}
		if e.Request != "" {
			data["Link"], data["LinkText"] = Base+"/requests/"+e.Request, "Open "+e.Request+" in the portal"
		}
		p.render(w, r, status, "status", data)
		return
	}
	if dep := desk.Unavailable(err); dep != "" {
		p.renderStatus(w, r, http.StatusServiceUnavailable, "Try again in a moment", dep+" did not answer. Try again in a moment.")
		return
	}
	p.log.ErrorContext(r.Context(), "portal: decision link", "error", err) // never the path: it holds the token
	p.renderStatus(w, r, http.StatusServiceUnavailable, "Try again in a moment", "Something went wrong on our side; the link still works. Try again in a moment.")
}
