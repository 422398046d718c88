package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/esmhq/esm/desk"
)

// maxForm bounds a posted form, in bytes.
const maxForm = 256 << 10

// department is one department's services in the catalog.
type department struct {
	Key      string
	Name     string
	Services []desk.ServiceSummary
}

// catalog: the services one may request, by department, narrowed by a search.
func (p *Portal) catalog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := desk.CatalogQuery{Words: q.Get("q"), Department: q.Get("department")}
	if q.Get("all") != "" {
		query.Include = desk.IncludeIneligible
	}
	items, err := p.desk.Catalog(r.Context(), actor(r), query)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var deps []department
	at := map[string]int{}
	for _, s := range items {
		i, ok := at[s.Department]
		if !ok {
			i = len(deps)
			at[s.Department] = i
			deps = append(deps, department{Key: s.Department, Name: departmentName(s.Department)})
		}
		deps[i].Services = append(deps[i].Services, s)
	}
	p.render(w, r, http.StatusOK, "catalog", map[string]any{"Departments": deps, "Query": q.Get("q"), "All": q.Get("all") != "", "Count": len(items)})
}

// departmentName: "it" -> "IT", "finance" -> "Finance".
func departmentName(key string) string {
	if len(key) <= 3 {
		return strings.ToUpper(key)
	}
	return humanize(key)
}

// serviceForm is a service's page: its words, and its form as typed so far.
type serviceForm struct {
	Service        desk.ServiceView
	Fields         []field
	Quantity       string
	QuantityError  string
	Priority       string
	PriorityError  string
	Errors         []string
	IdempotencyKey string
}

// service: a service in plain words, and the form to request it.
func (p *Portal) service(w http.ResponseWriter, r *http.Request) {
	sv, err := p.desk.Service(r.Context(), actor(r), r.PathValue("key"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.showService(w, r, http.StatusOK, serviceForm{Service: sv, Fields: formFields(sv.Request.Form), Quantity: "1"})
}

func (p *Portal) showService(w http.ResponseWriter, r *http.Request, status int, f serviceForm) {
	// Every form shown carries a key of its own: sent twice (a double click, a reload), it
	// makes one request.
	f.IdempotencyKey = newKey()
	p.render(w, r, status, "service", map[string]any{"F": f, "S": f.Service})
}

// submit requests the service: what the desk refuses is shown beside the fields it names, with
// what was typed.
func (p *Portal) submit(w http.ResponseWriter, r *http.Request) {
	me := actor(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.renderStatus(w, r, http.StatusRequestEntityTooLarge, "The form is too large", "Shorten what you typed and send it again.")
		return
	}
	sv, err := p.desk.Service(r.Context(), me, r.PathValue("key"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f := serviceForm{Service: sv, Fields: formFields(sv.Request.Form), Quantity: r.PostForm.Get("quantity"), Priority: r.PostForm.Get("priority")}
	form, readable := readForm(f.Fields, r.PostForm)
	in := desk.SubmitInput{Service: sv.Key, Form: form, Priority: f.Priority, IdempotencyKey: r.PostForm.Get("idempotency_key")}
	if f.Quantity != "" {
		n, ok := atoi(f.Quantity)
		if !ok {
			f.QuantityError, readable = "Enter a whole number.", false
		}
		in.Quantity = &n
	}
	if !readable {
		p.showService(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	out, err := p.desk.Submit(r.Context(), me, in)
	var ve *desk.ValidationError
	switch {
	case errors.As(err, &ve):
		f.Errors = placeErrors(f.Fields, ve.Fields, map[string]*string{"quantity": &f.QuantityError, "priority": &f.PriorityError})
		p.showService(w, r, http.StatusUnprocessableEntity, f)
		return
	case err != nil:
		status, _ := statusOf(err)
		if status == http.StatusInternalServerError {
			p.fail(w, r, err)
			return
		}
		f.Errors = []string{err.Error()}
		p.showService(w, r, status, f)
		return
	}
	http.Redirect(w, r, Base+"/requests/"+out.ID+"?submitted=1", http.StatusSeeOther)
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "portal-" + hex.EncodeToString(b)
}

func atoi(s string) (int, bool) {
	n := 0
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
