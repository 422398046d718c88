package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/esmhq/esm/desk"
)

// Out of office: the delegations I gave (and may end) and the ones I hold, and a form to give
// one (desk.Delegate, desk.Delegations, desk.EndDelegation). Times are typed and shown in UTC,
// as every time in the portal.

// delegationForm is the form to give a delegation, as typed, with the errors beside its fields.
type delegationForm struct {
	Delegate, From, Until                string
	DelegateError, FromError, UntilError string
	Errors                               []string
}

// localTime is the layout of an <input type="datetime-local">.
const localTime = "2006-01-02T15:04"

// delegations: the page, with the form empty.
func (p *Portal) delegations(w http.ResponseWriter, r *http.Request) {
	notice := ""
	switch {
	case r.URL.Query().Has("created"):
		notice = "Your delegation is recorded: your delegate sees your approvals in their inbox while it lasts."
	case r.URL.Query().Has("ended"):
		notice = "The delegation is ended: your approvals are yours alone again."
	}
	p.showDelegations(w, r, http.StatusOK, delegationForm{}, notice)
}

func (p *Portal) showDelegations(w http.ResponseWriter, r *http.Request, status int, f delegationForm, notice string) {
	page, err := p.desk.OutOfOffice(r.Context(), actor(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, status, "delegations", map[string]any{"Gave": page.Gave, "Hold": page.Hold, "Names": page.Names,
		"People": page.People, "F": f, "Notice": notice, "Key": newKey()})
}

// delegate gives a delegation: the delegate (an id, or a name as the directory spells it, which
// the desk resolves: desk.DelegateInput), from (empty: now) and until, in UTC.
func (p *Portal) delegate(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	f := delegationForm{Delegate: strings.TrimSpace(r.PostForm.Get("delegate")), From: r.PostForm.Get("from"), Until: r.PostForm.Get("until")}
	in := desk.DelegateInput{Delegate: f.Delegate}
	var ok bool
	if in.StartsAt, ok = parseLocal(f.From); !ok {
		f.FromError = "Enter a date and time, or leave it empty for now."
	}
	if in.EndsAt, ok = parseLocal(f.Until); !ok {
		f.UntilError = "Enter a date and time."
	}
	if f.FromError != "" || f.UntilError != "" {
		p.showDelegations(w, r, http.StatusUnprocessableEntity, f, "")
		return
	}
	_, err := p.desk.Delegate(r.Context(), actor(r), in)
	var ve *desk.ValidationError
	if errors.As(err, &ve) {
		f.Errors = placeErrors(nil, ve.Fields, map[string]*string{"delegate": &f.DelegateError, "starts_at": &f.FromError, "ends_at": &f.UntilError})
		f.UntilError = strings.NewReplacer("Must be after starts_at", "Must be after the start").Replace(f.UntilError)
		f.UntilError = strings.ReplaceAll(f.UntilError, " (RFC 3339)", "")
		p.showDelegations(w, r, http.StatusUnprocessableEntity, f, "")
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/delegations?created=1", http.StatusSeeOther)
}

// endDelegation ends a delegation I gave; one that is not mine, or no more, is said on the page.
func (p *Portal) endDelegation(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	err := p.desk.EndDelegation(r.Context(), actor(r), r.PathValue("id"))
	if errors.Is(err, desk.ErrNotFound) {
		p.showDelegations(w, r, http.StatusNotFound, delegationForm{Errors: []string{"That delegation is not one of yours, or it has ended already."}}, "")
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/delegations?ended=1", http.StatusSeeOther)
}

// parseLocal reads a datetime-local input (or a date: its midnight) as UTC; "" is the zero time.
func parseLocal(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{localTime, localTime + ":05", time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
