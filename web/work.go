package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// The work of approvers and fulfillers: the approvals inbox and a decision on a request, the
// queue of one's groups and a task's page (claim, complete with its outputs, fail). Each
// handler calls one desk method (the task's page two: the task and its outputs schema are read
// again when a completion is shown again); the desk says who may do what.

func (p *Portal) workRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+Base+"/inbox", p.authed(p.inbox))
	mux.Handle("POST "+Base+"/requests/{id}/decide", p.authed(p.decide))
	mux.Handle("GET "+Base+"/queue", p.authed(p.queue))
	mux.Handle("GET "+Base+"/tasks/{ref}", p.authed(p.task))
	mux.Handle("POST "+Base+"/tasks/{ref}/claim", p.authed(p.claim))
	mux.Handle("POST "+Base+"/tasks/{ref}/complete", p.authed(p.complete))
	mux.Handle("POST "+Base+"/tasks/{ref}/fail", p.authed(p.failTask))
}

// inbox: the approvals waiting on me or on whoever delegated to me, oldest first.
func (p *Portal) inbox(w http.ResponseWriter, r *http.Request) {
	page, err := p.desk.Approvals(r.Context(), actor(r), desk.ApprovalsInput{Cursor: r.URL.Query().Get("after"), Limit: 50})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	// Whom a delegated item is for, by name (the id when the directory does not answer).
	names := map[string]string{}
	for _, a := range page.Items {
		if a.OnBehalfOf != "" && names[a.OnBehalfOf] == "" {
			names[a.OnBehalfOf] = a.OnBehalfOf
			if who, err := p.dir.Person(r.Context(), a.OnBehalfOf); err == nil {
				names[a.OnBehalfOf] = who.Name
			}
		}
	}
	p.render(w, r, http.StatusOK, "inbox", map[string]any{"Items": page.Items, "Next": page.NextCursor, "Names": names})
}

// decisionForm is the approver's form on a request's page: approve, reject (a reason), ask for
// information (a question).
type decisionForm struct {
	ID      string
	Key     string // the form's idempotency key: a double click is one decision
	Comment string
	Error   string
	Errors  []string
}

// decisionFor is the decision form the request's page offers, or nil when the request does not
// wait on the person (mayDecide).
func (p *Portal) decisionFor(r *http.Request, id string) *decisionForm {
	if !p.mayDecide(r, id) {
		return nil
	}
	return &decisionForm{ID: id, Key: newKey()}
}

// onceFor gives a call one update id per form shown (its hidden key), person, action, target
// and what was sent: the same form sent twice (a double click) is one call.
func onceFor(r *http.Request, action, target string, sent ...string) context.Context {
	key := r.PostForm.Get("key")
	if key == "" {
		return r.Context()
	}
	h := sha256.New()
	for _, s := range append([]string{actor(r).ID, action, target, key}, sent...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return desk.WithUpdateID(r.Context(), "portal-"+action+"-"+hex.EncodeToString(h.Sum(nil))[:32])
}

// decide sends a decision; a refusal the approver can fix (no reason) shows the form again with
// the error beside the comment.
func (p *Portal) decide(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	id := r.PathValue("id")
	in := desk.DecideInput{ID: id, Decision: r.PostForm.Get("decision"), Comment: r.PostForm.Get("comment")}
	_, err := p.desk.Decide(onceFor(r, "decide", id, in.Decision, in.Comment), actor(r), in)
	var ve *desk.ValidationError
	if errors.As(err, &ve) {
		f := decisionForm{ID: id, Key: newKey(), Comment: in.Comment}
		f.Errors = placeErrors(nil, ve.Fields, map[string]*string{"comment": &f.Error, "decision": &f.Error})
		p.render(w, r, http.StatusUnprocessableEntity, "decide", map[string]any{"Form": f})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/requests/"+url.PathEscape(id)+"?decided=1", http.StatusSeeOther)
}

// queue: the open and claimed tasks of my groups, oldest first.
func (p *Portal) queue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := p.desk.Tasks(r.Context(), actor(r), desk.TasksInput{Group: q.Get("group"), State: q.Get("state"), Cursor: q.Get("after"), Limit: 50})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "queue", map[string]any{"Items": page.Items, "Next": page.NextCursor, "Groups": actor(r).Groups, "Group": q.Get("group")})
}

// taskPage is what a task's page shows: the task, its completion form (from its outputs
// schema) and what was typed in the fail form.
type taskPage struct {
	desk.TaskForm
	Ref     string
	Key     string // the forms' idempotency key: a double click is one call
	Fields  []field
	Errors  []string
	Reason  string
	FailErr string
}

// outputFields are the inputs of a task's outputs: its schema's, or one JSON text area when it
// declares none.
func outputFields(schema map[string]any) []field {
	if schema == nil {
		return []field{{Name: "outputs", ID: "f-outputs", Input: "outputs", Label: "Outputs (JSON object, optional)", Kind: "json"}}
	}
	return formFields(schema)
}

func (p *Portal) task(w http.ResponseWriter, r *http.Request) {
	tf, err := p.desk.Task(r.Context(), actor(r), r.PathValue("ref"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "task", map[string]any{"Page": taskPage{TaskForm: tf, Ref: r.PathValue("ref"), Key: newKey(), Fields: outputFields(tf.Outputs)}})
}

func (p *Portal) claim(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	ref := r.PathValue("ref")
	if _, err := p.desk.ClaimTask(onceFor(r, "claim", ref), actor(r), desk.TaskCall{Task: ref}); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/tasks/"+url.PathEscape(ref), http.StatusSeeOther)
}

// complete records the task done with the outputs typed in its form; outputs that break the
// schema show the form again with each error beside its field.
func (p *Portal) complete(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	ref := r.PathValue("ref")
	tf, err := p.desk.Task(r.Context(), actor(r), ref)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	fields := outputFields(tf.Outputs)
	outputs, ok := readForm(fields, r.PostForm)
	pg := taskPage{TaskForm: tf, Ref: ref, Key: newKey(), Fields: fields}
	if tf.Outputs == nil && ok {
		raw := outputs["outputs"]
		outputs, _ = raw.(map[string]any)
		if raw != nil && outputs == nil {
			fields[0].Error, ok = "Enter a JSON object: {\"name\": \"value\"}.", false
		}
	}
	if ok {
		sent, _ := json.Marshal(outputs)
		_, err = p.desk.CompleteTask(onceFor(r, "complete", ref, string(sent)), actor(r), desk.TaskCall{Task: ref, Outputs: outputs})
		if err == nil {
			http.Redirect(w, r, Base+"/requests/"+url.PathEscape(tf.Request)+"?completed=1", http.StatusSeeOther)
			return
		}
		var ve *desk.ValidationError
		if !errors.As(err, &ve) {
			p.fail(w, r, err)
			return
		}
		pg.Errors = placeErrors(fields, outputErrors(ve.Fields, tf.Outputs == nil), nil)
	}
	p.render(w, r, http.StatusUnprocessableEntity, "task", map[string]any{"Page": pg})
}

// outputErrors points the errors under /outputs at the form's fields (/form/...), or at the one
// JSON field when the task declares no schema.
func outputErrors(errs []catalog.FieldError, whole bool) []catalog.FieldError {
	out := slices.Clone(errs)
	for i, fe := range out {
		rest, ok := strings.CutPrefix(fe.Field, "/outputs")
		switch {
		case ok && whole:
			out[i].Field = "/form/outputs"
		case ok && rest != "":
			out[i].Field = "/form" + rest
		}
	}
	return out
}

// failTask says the task cannot be done; the reason is required.
func (p *Portal) failTask(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	ref := r.PathValue("ref")
	reason := r.PostForm.Get("reason")
	_, err := p.desk.FailTask(onceFor(r, "fail", ref, reason), actor(r), desk.TaskCall{Task: ref, Reason: reason})
	var ve *desk.ValidationError
	if errors.As(err, &ve) {
		tf, terr := p.desk.Task(r.Context(), actor(r), ref)
		if terr != nil {
			p.fail(w, r, terr)
			return
		}
		pg := taskPage{TaskForm: tf, Ref: ref, Key: newKey(), Fields: outputFields(tf.Outputs), Reason: reason}
		pg.Errors = placeErrors(nil, ve.Fields, map[string]*string{"reason": &pg.FailErr})
		p.render(w, r, http.StatusUnprocessableEntity, "task", map[string]any{"Page": pg})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/tasks/"+url.PathEscape(ref), http.StatusSeeOther)
}

// mayDecide says whether the request waits on the person's decision: it is in their inbox (the
// desk's answer, which hides what the decision validator would refuse). The request's page
// offers the decision form only then.
func (p *Portal) mayDecide(r *http.Request, id string) bool {
	for cursor := ""; ; {
		page, err := p.desk.Approvals(r.Context(), actor(r), desk.ApprovalsInput{Cursor: cursor, Limit: 200})
		if err != nil {
			return false
		}
		for _, a := range page.Items {
			if a.RequestID == id {
				return true
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			return false
		}
	}
}
