package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/esmhq/esm/desk"
)

// requests: my requests, newest first, a page at a time.
func (p *Portal) requests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	list, err := p.desk.Requests(r.Context(), actor(r), desk.RequestsInput{Status: q.Get("status"), Cursor: q.Get("after")})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "requests", map[string]any{"Requests": list.Items, "Next": list.NextCursor, "Status": q.Get("status")})
}

// requestPage is what a request's page shows besides the request: what was typed in a form the
// desk refused, and why.
type requestPage struct {
	Comment      string
	CommentError string
	Error        string
	Notice       string
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
	}
	p.showRequest(w, r, http.StatusOK, pg)
}

func (p *Portal) showRequest(w http.ResponseWriter, r *http.Request, status int, pg requestPage) {
	v, err := p.desk.Request(r.Context(), actor(r), desk.RequestInput{ID: r.PathValue("id")})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, status, "request", map[string]any{"R": v.State, "Stale": v.Stale, "P": pg, "Key": newKey(), "Decide": p.decisionFor(r, v.State.ID)})
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
		pg.Error = err.Error()
	}
	p.showRequest(w, r, status, pg)
}

func (p *Portal) parse(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.renderStatus(w, r, http.StatusRequestEntityTooLarge, "The form is too large", "Shorten what you typed and send it again.")
		return false
	}
	return true
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
