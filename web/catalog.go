package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// maxForm bounds a posted form, in bytes.
const maxForm = 256 << 10

// department is one department's services in the catalog, by category.
type department struct {
	Key        string
	Name       string
	Categories []category
}

// category is one category's services in a department ("" for those without one).
type category struct {
	Key      string
	Services []desk.ServiceSummary
}

// catalog: the services one may request, by department and category (in the order the catalog
// lists them), narrowed by a search, a department or a category.
func (p *Portal) catalog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := desk.CatalogQuery{Words: q.Get("q"), Department: q.Get("department"), Category: q.Get("category")}
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
		d := &deps[i]
		j := slices.IndexFunc(d.Categories, func(c category) bool { return c.Key == s.Category })
		if j < 0 {
			j = len(d.Categories)
			d.Categories = append(d.Categories, category{Key: s.Category})
		}
		d.Categories[j].Services = append(d.Categories[j].Services, s)
	}
	p.render(w, r, http.StatusOK, "catalog", map[string]any{"Departments": deps, "Query": q.Get("q"), "All": q.Get("all") != "", "Count": len(items),
		"Department": q.Get("department"), "Category": q.Get("category")})
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
	Notice         string // above the form: why it is filled (keptNotice)
	Quote          quoteView
	// Files are the file inputs (the service's kinds of file); FilesAgain says the files must be
	// chosen again (the form comes back, and a browser cannot keep a chosen file).
	Files      []fileInput
	FilesAgain bool
}

// quoteView is the price of the form as filled in so far, or why it cannot be given yet, in
// words (Problems: one sentence per field the price needs and does not have right).
type quoteView struct {
	Quote    *catalog.Quote
	Problems []string
	Note     string
}

// service: a service in plain words, and the form to request it.
func (p *Portal) service(w http.ResponseWriter, r *http.Request) {
	sv, err := p.desk.Service(r.Context(), actor(r), r.PathValue("key"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f := serviceForm{Service: sv, Fields: formFields(sv.Request.Form), Quantity: "1", Files: fileInputs(sv.Attachments, true)}
	if k := p.keptForm(w, r); k != nil { // answers sent as the session ended (kept.go)
		readForm(f.Fields, k)
		f.Quantity, f.Priority, f.IdempotencyKey, f.Notice = k.Get("quantity"), k.Get("priority"), k.Get("idempotency_key"), keptNotice
		if k.Has(keptFiles) {
			f.Notice, f.FilesAgain = keptFilesNotice, true
		}
	}
	// Priced as shown: the defaults, or what was kept.
	form, _ := readForm(slices.Clone(f.Fields), shownValues(f.Fields))
	f.Quote = p.quoteOf(r, sv, f.Fields, form, f.Quantity)
	p.showService(w, r, http.StatusOK, f)
}

// quote answers the "quote" partial for a form being filled in (htmx posts the whole form as it
// changes): the price so far, or in words what it still needs. Never an error page.
func (p *Portal) quote(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		// The quote answers its live region, never an error page; it says which it was.
		note := "The form could not be read to price it: reload the page and try again."
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			note = "The form is too large to price: shorten what you typed."
		}
		p.renderPartial(w, r, http.StatusOK, "service", "quote", quoteView{Note: note})
		return
	}
	sv, err := p.desk.Service(r.Context(), actor(r), r.PathValue("key"))
	if err != nil {
		p.renderPartial(w, r, http.StatusOK, "service", "quote", quoteView{Note: "The price cannot be shown now: " + sentence(err.Error())})
		return
	}
	fields := formFields(sv.Request.Form)
	form, _ := readForm(fields, r.PostForm)
	p.renderPartial(w, r, http.StatusOK, "service", "quote", p.quoteOf(r, sv, fields, form, r.PostForm.Get("quantity")))
}

// quoteOf prices the form as read (desk.Quote; fields as readForm left them): a field the portal
// could not read, or one the desk finds wrong for pricing, is named in words instead of a price.
func (p *Portal) quoteOf(r *http.Request, sv desk.ServiceView, fields []field, form map[string]any, quantity string) quoteView {
	var qv quoteView
	if !sv.Eligible {
		return qv
	}
	in := desk.QuoteInput{Service: sv.Key, Form: form}
	if quantity != "" {
		n, ok := atoi(quantity)
		if !ok {
			qv.Problems = append(qv.Problems, "How many: enter a whole number.")
			return qv
		}
		in.Quantity = &n
	}
	for _, f := range fields {
		if f.Error != "" { // readForm could not read it: the desk does not get it
			qv.Problems = append(qv.Problems, f.Label+": "+f.Error)
		}
	}
	out, err := p.desk.Quote(r.Context(), actor(r), in)
	var ve *desk.ValidationError
	switch {
	case errors.As(err, &ve):
		fs := slices.Clone(fields)
		for i := range fs {
			fs[i].Error = ""
		}
		var qErr string
		rest := placeErrors(fs, ve.Fields, map[string]*string{"quantity": &qErr})
		for _, f := range fs {
			if f.Error != "" {
				qv.Problems = append(qv.Problems, f.Label+": "+f.Error)
			}
		}
		if qErr != "" {
			qv.Problems = append(qv.Problems, "How many: "+qErr)
		}
		qv.Problems = append(qv.Problems, rest...)
	case err != nil:
		qv.Note = "The price cannot be shown now. Try again in a moment; you can still send the request."
		if status, _ := statusOf(err); status != http.StatusInternalServerError && status != http.StatusServiceUnavailable {
			qv.Note = "The price cannot be shown: " + sentence(err.Error())
		}
	case len(qv.Problems) == 0:
		qv.Quote = &out.Quote
	}
	return qv
}

// shownValues are the inputs a form shows, as the browser would post them.
func shownValues(fields []field) url.Values {
	v := url.Values{}
	for _, f := range fields {
		switch f.Kind {
		case "checkbox":
			if f.Checked {
				v.Set(f.Input, "true")
			}
		case "checkboxes":
			v[f.Input] = slices.Clone(f.Values)
		default:
			if f.Value != "" {
				v.Set(f.Input, f.Value)
			}
		}
	}
	return v
}

func (p *Portal) showService(w http.ResponseWriter, r *http.Request, status int, f serviceForm) {
	// Every form shown carries a key of its own (or the one it was sent with, kept across a
	// sign-in): sent twice (a double click, a reload), it makes one request.
	if f.IdempotencyKey == "" {
		f.IdempotencyKey = newKey()
	}
	p.render(w, r, status, "service", map[string]any{"F": f, "S": f.Service})
}

// submit requests the service: what the desk refuses is shown beside the fields it names, with
// what was typed.
func (p *Portal) submit(w http.ResponseWriter, r *http.Request) {
	me := actor(r)
	// A form with file inputs is multipart: its fields are read first, its files stream to the
	// desk after (desk.Parts).
	var parts *desk.Parts
	if mr, ok := multipartBody(r); ok {
		parts = desk.NewParts(mr)
		values, err := parts.Fields(maxForm)
		var ve *desk.ValidationError
		switch {
		case errors.As(err, &ve):
			p.renderStatus(w, r, http.StatusRequestEntityTooLarge, "The form is too large", "Shorten what you typed and send it again.")
			return
		case err != nil:
			p.formUnread(w, r, err)
			return
		}
		r.PostForm = values
	} else if !p.parse(w, r) {
		return
	}
	sv, err := p.desk.Service(r.Context(), me, r.PathValue("key"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f := serviceForm{Service: sv, Fields: formFields(sv.Request.Form), Quantity: r.PostForm.Get("quantity"), Priority: r.PostForm.Get("priority"),
		Files: fileInputs(sv.Attachments, true), FilesAgain: sv.Attachments != nil}
	form, readable := readForm(f.Fields, r.PostForm)
	in := desk.SubmitInput{Service: sv.Key, Form: form, Priority: f.Priority, IdempotencyKey: r.PostForm.Get("idempotency_key")}
	var sent sentKinds
	if parts != nil {
		in.Files = sent.track(parts.Uploads(false))
	}
	if f.Quantity != "" {
		n, ok := atoi(f.Quantity)
		if !ok {
			f.QuantityError, readable = "Enter a whole number.", false
		}
		in.Quantity = &n
	}
	f.Quote = p.quoteOf(r, sv, f.Fields, form, f.Quantity)
	if !readable {
		p.showService(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	out, err := p.desk.Submit(r.Context(), me, in)
	var ve *desk.ValidationError
	switch {
	case errors.Is(err, desk.ErrMalformed):
		p.formUnread(w, r, err)
		return
	case errors.As(err, &ve):
		rest := placeFileErrors(f.Files, sent.kinds, ve.Fields)
		f.Errors = placeErrors(f.Fields, rest, map[string]*string{"quantity": &f.QuantityError, "priority": &f.PriorityError})
		p.showService(w, r, http.StatusUnprocessableEntity, f)
		return
	case err != nil:
		status, _ := statusOf(err)
		if status == http.StatusInternalServerError {
			p.fail(w, r, err)
			return
		}
		f.Errors = []string{said(r, err)}
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
