package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// requests: my requests, newest first, a page at a time, narrowed by status and by words (a GET
// form: it works without JavaScript and its address can be kept).
func (p *Portal) requests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := map[string]any{"Status": q.Get("status"), "Q": q.Get("q"), "Statuses": catalog.Statuses}
	list, err := p.desk.Requests(r.Context(), actor(r), desk.RequestsInput{Status: q.Get("status"), Words: q.Get("q"), Cursor: q.Get("after")})
	var ve *desk.ValidationError
	if errors.As(err, &ve) {
		var statusErr, qErr string
		data["Errors"] = placeErrors(nil, ve.Fields, map[string]*string{"status": &statusErr, "q": &qErr})
		data["StatusError"], data["QError"] = statusErr, qErr
		p.render(w, r, http.StatusBadRequest, "requests", data)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	data["Requests"], data["Next"] = list.Items, list.NextCursor
	p.render(w, r, http.StatusOK, "requests", data)
}

// requestPage is what a request's page shows besides the request: what was typed in a form the
// desk refused, and why.
type requestPage struct {
	Comment      string
	CommentError string
	Error        string
	Notice       string
	// DecisionComment: what was typed in the decision form (kept across a sign-in).
	DecisionComment string
	// FileErrors: the desk's refusal of files added (attach), FilesSent the kinds of the files
	// it was given, in order; FilesAgain: a kept form had files, which are not kept.
	FileErrors []catalog.FieldError
	FilesSent  []string
	FilesAgain bool
}

// request: a request's page: status, approvals, tasks, SLA clocks, timeline; comment, withdraw.
func (p *Portal) request(w http.ResponseWriter, r *http.Request) {
	pg := requestPage{}
	switch {
	case r.URL.Query().Has("submitted"):
		pg.Notice = "Your request is submitted."
	case r.URL.Query().Has("commented"):
		pg.Notice = "Your comment is added."
	case r.URL.Query().Has("decided"):
		pg.Notice = "Your decision is recorded."
	case r.URL.Query().Has("completed"):
		pg.Notice = "The task is recorded done."
	case r.URL.Query().Has("withdrawn"):
		pg.Notice = "Your request is withdrawn."
	case r.URL.Query().Has("attached"):
		pg.Notice = "Your file is added."
	}
	if k := p.keptForm(w, r); k != nil { // a comment or decision sent as the session ended (kept.go)
		pg.Comment, pg.DecisionComment, pg.Notice = k.Get("text"), k.Get("comment"), keptNotice
		if k.Has(keptFiles) {
			pg.Notice = keptFilesNotice
		}
	}
	p.showRequest(w, r, http.StatusOK, pg)
}

func (p *Portal) showRequest(w http.ResponseWriter, r *http.Request, status int, pg requestPage) {
	v, err := p.desk.Request(r.Context(), actor(r), desk.RequestInput{ID: r.PathValue("id"), Files: true})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	add := attachPage{Inputs: fileInputs(v.MayAttach, false)}
	if len(pg.FileErrors) > 0 {
		if rest := placeFileErrors(add.Inputs, pg.FilesSent, pg.FileErrors); len(rest) > 0 {
			add.Error = sentence(rest[0].Detail)
		}
	}
	decide := p.decisionFor(r, v.State.ID)
	if decide != nil {
		decide.Comment = pg.DecisionComment
	}
	p.render(w, r, status, "request", map[string]any{"R": v.State, "V": v, "Stale": v.Stale, "P": pg, "Key": newKey(), "Decide": decide, "Add": add})
}

// live answers the live part of a request's page (the "request-live" partial), which asks for
// it every few seconds while the request is open (htmx). ?seq=N is the request's transition
// count the page shows: a request that has not moved past it, one that cannot be read now (its
// workflow did not answer, ESM is unavailable) or no longer shown to this person leaves the page
// as it is (HX-Reswap: none) with a note saying so, if any; one that may no longer be seen
// stops the polling (286, htmx's "stop polling"). Anything else is the partial again, without
// its polling attributes once the request is closed.
func (p *Portal) live(w http.ResponseWriter, r *http.Request) {
	v, err := p.desk.Request(r.Context(), actor(r), desk.RequestInput{ID: r.PathValue("id")})
	at := p.now().UTC().Format("15:04 UTC")
	switch {
	case errors.Is(err, desk.ErrNotFound):
		p.liveNote(w, r, 286, "This request can no longer be shown to you.")
	case err != nil:
		p.log.WarnContext(r.Context(), "portal live request", "request", r.PathValue("id"), "error", err)
		p.liveNote(w, r, http.StatusOK, "Could not refresh at "+at+": ESM did not answer. This is what it said before; it will try again.")
	case v.Stale:
		p.liveNote(w, r, http.StatusOK, "Could not refresh at "+at+": ESM's worker did not answer. This is what it said before; it will try again.")
	case r.URL.Query().Get("seq") == strconv.FormatInt(v.State.Seq, 10) && !catalog.Terminal(v.State.Status):
		p.liveNote(w, r, http.StatusOK, "")
	default:
		p.renderPartial(w, r, http.StatusOK, "request", "request-live", map[string]any{"R": v.State, "V": v})
	}
}

// liveNote leaves a live region as it is and sets its note.
func (p *Portal) liveNote(w http.ResponseWriter, r *http.Request, status int, note string) {
	w.Header().Set("HX-Reswap", "none")
	p.renderPartial(w, r, status, "request", "live-note", note)
}

// liveAuthed is authed for a live region: a poll whose session has ended is not sent to the
// sign-in page (htmx would swap that page into the region) but stops polling with a note.
func (p *Portal) liveAuthed(h http.HandlerFunc) http.Handler {
	next := p.authed(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := p.sessions.open(r); err != nil && r.Header.Get("HX-Request") == "true" {
			p.liveNote(w, r, 286, "Your session has ended: reload the page to sign in again and see what changed.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// renderPartial writes one template of a page's set (a partial: no layout); data that is a map
// gets Me, as render gives a page.
func (p *Portal) renderPartial(w http.ResponseWriter, r *http.Request, status int, page, name string, data any) {
	if m, ok := data.(map[string]any); ok {
		if me := actor(r); me.ID != "" {
			m["Me"] = me
		}
	}
	var buf bytes.Buffer
	if err := p.pages[page].ExecuteTemplate(&buf, name, data); err != nil {
		p.log.ErrorContext(r.Context(), "portal template", "page", page, "partial", name, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// comment adds a comment (or the requester's answer to a question).
func (p *Portal) comment(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	text := r.PostForm.Get("text")
	_, err := p.desk.Comment(p.once(r, "comment"), actor(r), desk.CommentInput{ID: r.PathValue("id"), Text: text})
	p.afterChange(w, r, err, "commented", requestPage{Comment: text})
}

// withdraw cancels the request (the requester's own).
func (p *Portal) withdraw(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	_, err := p.desk.Cancel(p.once(r, "withdraw"), actor(r), desk.CancelInput{ID: r.PathValue("id"), Reason: r.PostForm.Get("reason")})
	p.afterChange(w, r, err, "withdrawn", requestPage{})
}

// afterChange sends the person back to the request's page, saying what happened: a refusal is
// shown on the page, beside the comment box for a comment's.
func (p *Portal) afterChange(w http.ResponseWriter, r *http.Request, err error, done string, pg requestPage) {
	if err == nil {
		http.Redirect(w, r, Base+"/requests/"+r.PathValue("id")+"?"+done+"=1", http.StatusSeeOther)
		return
	}
	status, _ := statusOf(err)
	if status == http.StatusNotFound || status == http.StatusInternalServerError {
		p.fail(w, r, err)
		return
	}
	var ve *desk.ValidationError
	if errors.As(err, &ve) && done == "commented" {
		pg.CommentError = sentence(err.Error())
		if len(ve.Fields) > 0 {
			pg.CommentError = sentence(ve.Fields[0].Detail)
		}
	} else {
		pg.Error = said(r, err)
	}
	p.showRequest(w, r, status, pg)
}

// parse reads a posted form (at most maxForm bytes): one too large is a 413 page that says so,
// one that cannot be read (not form-encoded as a browser sends it: %zz, a bad content type) a
// 400 page that says that, not that it is too large.
func (p *Portal) parse(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.formUnread(w, r, err)
		return false
	}
	return true
}

// formUnread answers a form ParseForm could not read (parse).
func (p *Portal) formUnread(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		p.renderStatus(w, r, http.StatusRequestEntityTooLarge, "The form is too large", "Shorten what you typed and send it again.")
		return
	}
	p.renderStatus(w, r, http.StatusBadRequest, "The form could not be read",
		"What was sent is not a form as the portal's pages send it. Go back, reload the page and send it again.")
}

// once gives the change one update id per form shown (its hidden key), the person, the action,
// the request and what was sent: the same form sent twice (a double click) is one change.
func (p *Portal) once(r *http.Request, action string) context.Context {
	key := r.PostForm.Get("key")
	if key == "" {
		return r.Context()
	}
	h := sha256.New()
	for _, s := range []string{actor(r).ID, action, r.PathValue("id"), key, r.PostForm.Get("text"), r.PostForm.Get("reason")} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return desk.WithUpdateID(r.Context(), "portal-"+action+"-"+hex.EncodeToString(h.Sum(nil))[:32])
}
