package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/esmhq/esm/desk"
)

// Nothing typed is lost when a session ends while a form is open (issue 18): a form sent
// without a valid session keeps its answers in a short-lived sealed cookie, bound to the page
// the form was on and to the person whose session lapsed, and the person is sent to sign in with
// next=<that page>. The page's GET handler, once the same person is signed in again, asks
// keptForm for the answers and shows them in its form with keptNotice; nothing is sent again by
// itself. The form's idempotency key comes back with the rest, so sending the form again after
// a double submit still makes one request.

// keptNotice is what a page says above a form filled with kept answers.
const keptNotice = "You were signed out; your answers are kept, check them and send again."

// keptFiles marks kept answers whose form had files: a file cannot be kept (nor put back in a
// file input), and the page says so (keptFilesNotice).
const keptFiles = "_files"

// keptFilesNotice is keptNotice for a form that had files.
const keptFilesNotice = "You were signed out; your answers are kept, but the files you chose are not: choose them again, check the answers and send again."

// keptFor is how long kept answers wait for the sign-in (an identity provider's sign-in, with
// a second factor, takes minutes).
const keptFor = 15 * time.Minute

// maxKept bounds the kept cookie's value, in bytes: browsers take about 4 KB a cookie. A form
// whose answers do not fit is not kept (and a warning is logged).
const maxKept = 3500

// kept is what the cookie carries.
type kept struct {
	Person string     `json:"p"` // whose session lapsed
	Path   string     `json:"u"` // the page the form was on
	At     int64      `json:"t"` // when it was sent (unix seconds)
	Form   url.Values `json:"f"`
}

// keepForm keeps the answers of a form r sent without a valid session and answers the page to
// come back to ("" when it cannot be known: then nothing is kept). The page is the Referer's
// path when the Referer is one of the portal's own pages (the portal's Referrer-Policy,
// same-origin, makes browsers send it on its own forms). Nothing is kept when the session's
// cookie does not say whose the answers are (no cookie, or one sealed under another secret),
// nor for a form over maxForm; fields that look secret (secretField) are never kept.
func (p *Portal) keepForm(w http.ResponseWriter, r *http.Request) string {
	page := formPage(r)
	if page == "" {
		return ""
	}
	lapsed, ok := p.sessions.lapsed(r)
	if !ok {
		return page
	}
	posted, hadFiles, ok := p.keptFields(w, r)
	if !ok {
		return page
	}
	form := url.Values{}
	for name, values := range posted {
		if !secretField(name) && name != keptFiles {
			form[name] = values
		}
	}
	if hadFiles {
		form.Set(keptFiles, "1")
	}
	path, _, _ := strings.Cut(page, "?")
	value := p.sessions.sealAs(keptName, kept{Person: lapsed.Person, Path: path, At: p.now().Unix(), Form: form})
	if len(value) > maxKept {
		p.log.WarnContext(r.Context(), "portal: a form sent after sign-out is too large to keep", "path", path, "bytes", len(value))
		return page
	}
	p.sessions.setCookie(w, keptName, value, keptFor)
	return page
}

// keptForm answers, once, the answers kept for this page (r's path) and the person signed in
// (actor), and clears them; nil when there are none, or they are older than keptFor, or kept
// for another page or person.
func (p *Portal) keptForm(w http.ResponseWriter, r *http.Request) url.Values {
	var k kept
	if !p.sessions.openAs(r, keptName, &k) {
		return nil
	}
	if k.Path != r.URL.Path || k.Person != actor(r).ID || p.now().Sub(time.Unix(k.At, 0)) > keptFor {
		return nil
	}
	p.sessions.setCookie(w, keptName, "", -1)
	if k.Form == nil {
		k.Form = url.Values{}
	}
	return k.Form
}

// formPage is the portal page r's form was sent from, from its Referer: "" unless the Referer
// is on r's own host and under Base.
func formPage(r *http.Request) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host || ref.Path == "" {
		return ""
	}
	page := ref.EscapedPath()
	if ref.RawQuery != "" {
		page += "?" + ref.RawQuery
	}
	if safeNext(page) != page {
		return ""
	}
	return page
}

// secretField says whether a field's name looks like a secret's (a password, a token, a PIN):
// such answers are never kept in a cookie.
func secretField(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"password", "passwd", "passphrase", "secret", "token", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	switch n {
	case "pin", "otp", "cvv", "cvc", "totp":
		return true
	}
	return false
}

// keptFields reads the fields of a form sent without a session (at most maxForm bytes) and
// whether it carried a file: a multipart form's fields before its files (desk.Parts), whose
// files are read no further.
func (p *Portal) keptFields(w http.ResponseWriter, r *http.Request) (url.Values, bool, bool) {
	if mr, ok := multipartBody(r); ok {
		parts := desk.NewParts(mr)
		values, err := parts.Fields(maxForm)
		if err != nil {
			return nil, false, false
		}
		up, _ := parts.Uploads(false)()
		return values, up != nil, true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return nil, false, false
	}
	return r.PostForm, false, true
}
