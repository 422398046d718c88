package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/esmhq/esm/desk"
)

// Preferences: how I get reminders, as they come or one digest a day at opening time
// (desk.Preferences, desk.SetPreferences: a person reads and sets only their own, which the
// page does by never naming anyone: the desk takes the signed-in person).

// preferencesForm is the form as sent, with the error beside its field.
type preferencesForm struct {
	Reminders      string
	RemindersError string
	Errors         []string
}

// preferences: the page, with my current choice.
func (p *Portal) preferences(w http.ResponseWriter, r *http.Request) {
	got, err := p.desk.Preferences(r.Context(), actor(r), "")
	if err != nil {
		p.fail(w, r, err)
		return
	}
	notice := ""
	if r.URL.Query().Has("saved") {
		notice = "Your preferences are saved."
	}
	p.render(w, r, http.StatusOK, "preferences", map[string]any{"F": preferencesForm{Reminders: got.Reminders}, "Notice": notice})
}

// setPreferences saves my choice; a value the desk refuses is said beside the field.
func (p *Portal) setPreferences(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	f := preferencesForm{Reminders: strings.TrimSpace(r.PostForm.Get("reminders"))}
	_, err := p.desk.SetPreferences(r.Context(), actor(r), "", desk.Preferences{Reminders: f.Reminders})
	var ve *desk.ValidationError
	if errors.As(err, &ve) {
		f.Errors = placeErrors(nil, ve.Fields, map[string]*string{"reminders": &f.RemindersError})
		if f.RemindersError != "" {
			f.RemindersError = "Choose how reminders reach you: as they come, or one digest a day."
		}
		p.render(w, r, http.StatusUnprocessableEntity, "preferences", map[string]any{"F": f})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/preferences?saved=1", http.StatusSeeOther)
}
