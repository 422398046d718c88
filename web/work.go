package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// The work of approvers and fulfillers: the approvals inbox and a decision on a request, the
// queue of one's groups (by group, state, mine or unassigned) and a task's page (claim, release,
// assign, complete with its outputs, fail, ask the requester: only what desk.TaskForm.May
// offers). Each handler calls one desk method (and reads the task again to show its page with
// what was typed when the desk refuses it); the desk says who may do what.

func (p *Portal) workRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+Base+"/inbox", p.authed(p.inbox))
	mux.Handle("POST "+Base+"/requests/{id}/decide", p.authed(p.decide))
	mux.Handle("GET "+Base+"/queue", p.authed(p.queue))
	mux.Handle("GET "+Base+"/tasks/{ref}", p.authed(p.task))
	mux.Handle("POST "+Base+"/tasks/{ref}/claim", p.authed(p.claim))
	mux.Handle("POST "+Base+"/tasks/{ref}/complete", p.authed(p.complete))
	mux.Handle("POST "+Base+"/tasks/{ref}/fail", p.authed(p.failTask))
	mux.Handle("POST "+Base+"/tasks/{ref}/release", p.authed(p.release))
	mux.Handle("POST "+Base+"/tasks/{ref}/assign", p.authed(p.assign))
	mux.Handle("POST "+Base+"/tasks/{ref}/ask", p.authed(p.ask))
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

// queue: the tasks of my groups, oldest first, narrowed by group, state and whose (a GET form
// that works without JavaScript); the next page keeps the filters.
func (p *Portal) queue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := desk.TasksInput{Group: q.Get("group"), State: q.Get("state"), Whose: q.Get("whose"), Cursor: q.Get("after"), Limit: 50}
	page, err := p.desk.Tasks(r.Context(), actor(r), in)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	next := ""
	if page.NextCursor != "" {
		v := url.Values{"after": {page.NextCursor}}
		for k, val := range map[string]string{"group": in.Group, "state": in.State, "whose": in.Whose} {
			if val != "" {
				v.Set(k, val)
			}
		}
		next = v.Encode()
	}
	p.render(w, r, http.StatusOK, "queue", map[string]any{"Items": page.Items, "Next": template.URL(next), "Groups": actor(r).Groups,
		"Group": in.Group, "State": in.State, "Whose": in.Whose, "States": desk.TaskStates,
		"Filtered": in.Group != "" || in.State != "" || in.Whose != ""})
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
	// What was typed in the question and assign forms, and their errors.
	Question  string
	AskErr    string
	Assignee  string
	AssignErr string
}

// taskPageFor reads the task again, for its page after a call the desk refused for what was sent.
func (p *Portal) taskPageFor(w http.ResponseWriter, r *http.Request, ref string) (taskPage, bool) {
	tf, err := p.desk.Task(r.Context(), actor(r), ref)
	if err != nil {
		p.fail(w, r, err)
		return taskPage{}, false
	}
	return taskPage{TaskForm: tf, Ref: ref, Key: newKey(), Fields: outputFields(tf.Outputs)}, true
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
	notice := map[string]string{"released": "The task is back in the queue.", "assigned": "The task is assigned.",
		"asked": "Your question is sent; the request waits on the requester's answer."}
	var said string
	for k, v := range notice {
		if r.URL.Query().Has(k) {
			said = v
		}
	}
	pg := taskPage{TaskForm: tf, Ref: r.PathValue("ref"), Key: newKey(), Fields: outputFields(tf.Outputs)}
	if k := p.keptForm(w, r); k != nil { // a form sent as the session ended (kept.go)
		readForm(pg.Fields, k)
		for i := range pg.Fields {
			pg.Fields[i].Error = "" // shown as typed, checked when sent again
		}
		pg.Reason, pg.Question, pg.Assignee, said = k.Get("reason"), k.Get("question"), k.Get("assignee"), keptNotice
	}
	p.render(w, r, http.StatusOK, "task", map[string]any{"Notice": said, "Page": pg})
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
	p.answerTaskCall(w, r, ref, err, "", func(pg *taskPage) map[string]*string {
		pg.Reason = reason
		return map[string]*string{"reason": &pg.FailErr}
	})
}

// answerTaskCall answers a task action the desk may refuse for what was sent (err, the desk's
// answer): a desk.ValidationError shows the task's page again (422) with what was sent and each
// error beside its input (refill puts the sent values back on the page and answers the fields'
// error slots, placeErrors' extra); any other error is the desk's refusal page (p.fail); success
// goes back to the task's page, with query (e.g. "?assigned=1", or "") for its notice.
func (p *Portal) answerTaskCall(w http.ResponseWriter, r *http.Request, ref string, err error, query string, refill func(*taskPage) map[string]*string) {
	var ve *desk.ValidationError
	if errors.As(err, &ve) {
		pg, ok := p.taskPageFor(w, r, ref)
		if !ok {
			return
		}
		pg.Errors = placeErrors(nil, ve.Fields, refill(&pg))
		p.render(w, r, http.StatusUnprocessableEntity, "task", map[string]any{"Page": pg})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/tasks/"+url.PathEscape(ref)+query, http.StatusSeeOther)
}

// release puts a claimed task back in the queue (whoever claimed it, or a lead).
func (p *Portal) release(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	ref := r.PathValue("ref")
	if _, err := p.desk.ReleaseTask(onceFor(r, "release", ref), actor(r), desk.TaskCall{Task: ref}); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/tasks/"+url.PathEscape(ref)+"?released=1", http.StatusSeeOther)
}

// assign gives the task to a member of its group (a lead's call); no one chosen, or someone who
// is not a member, shows the form again with the error beside the select.
func (p *Portal) assign(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	ref, who := r.PathValue("ref"), r.PostForm.Get("assignee")
	_, err := p.desk.AssignTask(onceFor(r, "assign", ref, who), actor(r), desk.TaskCall{Task: ref, Assignee: who})
	p.answerTaskCall(w, r, ref, err, "?assigned=1", func(pg *taskPage) map[string]*string {
		pg.Assignee = who
		return map[string]*string{"assignee": &pg.AssignErr}
	})
}

// ask puts a question to the requester; the request waits on their answer. An empty question
// shows the form again with the error beside it.
func (p *Portal) ask(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	ref, question := r.PathValue("ref"), r.PostForm.Get("question")
	_, err := p.desk.AskRequester(onceFor(r, "ask", ref, question), actor(r), desk.TaskCall{Task: ref, Question: question})
	p.answerTaskCall(w, r, ref, err, "?asked=1", func(pg *taskPage) map[string]*string {
		pg.Question = question
		return map[string]*string{"question": &pg.AskErr, "reason": &pg.AskErr}
	})
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
