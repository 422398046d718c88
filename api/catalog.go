package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
)

// serviceSummary is one entry of the catalog list.
type serviceSummary struct {
	Key        string        `json:"key"`
	Name       string        `json:"name"`
	Department string        `json:"department"`
	Category   string        `json:"category,omitempty"`
	Summary    string        `json:"summary,omitempty"`
	Tags       []string      `json:"tags,omitempty"`
	Version    int           `json:"version"`
	Stage      string        `json:"stage"`
	Cost       catalog.Cost  `json:"cost"`
	Eligible   bool          `json:"eligible"`
	Ineligible string        `json:"ineligible_reason,omitempty"`
	Help       *catalog.Help `json:"help,omitempty"`
}

// listServices lists the services the caller may request (?department=, ?category=, ?q= over
// key, name, summary, description and tags). With ?include=ineligible the others are listed
// too, each saying why the caller may not request it.
func (s *Server) listServices(c *gin.Context) {
	me := principal(c)
	include := c.Query("include")
	if include != "" && include != "ineligible" {
		writeProblem(c, errValidation("a query parameter is not valid", catalog.FieldError{
			Field: "include", Rule: "enum", Detail: "the only value is ineligible"}))
		return
	}
	all, err := s.store.ListServices(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	dept, cat, q := c.Query("department"), c.Query("category"), strings.ToLower(strings.TrimSpace(c.Query("q")))
	items := []serviceSummary{}
	for _, sv := range all {
		d := sv.Definition
		if sv.Stage == catalog.StageRetiring || sv.Stage == catalog.StageRetired {
			continue
		}
		if dept != "" && d.Department != dept || cat != "" && d.Category != cat {
			continue
		}
		if q != "" && !matches(d, q) {
			continue
		}
		ok, why := d.Eligible(me)
		if !ok && include != "ineligible" {
			continue
		}
		items = append(items, serviceSummary{Key: d.Key, Name: d.Name, Department: d.Department,
			Category: d.Category, Summary: d.Summary, Tags: d.Tags, Version: sv.Version, Stage: sv.Stage, Cost: d.Cost,
			Eligible: ok, Ineligible: why})
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// matches reports whether every word of q appears in the service's text.
func matches(d catalog.Definition, q string) bool {
	hay := strings.ToLower(strings.Join(append([]string{d.Key, d.Name, d.Summary, d.Description, d.Category}, d.Tags...), " "))
	for _, word := range strings.Fields(q) {
		if !strings.Contains(hay, word) {
			return false
		}
	}
	return true
}

// serviceView is a service as the API shows it: the customer-facing parts for everyone, the
// internal processes for the owning department's staff, the owner and operators.
type serviceView struct {
	catalog.CustomerView
	Version  int                `json:"version"`
	Stage    string             `json:"stage"`
	Eligible bool               `json:"eligible"`
	Why      string             `json:"ineligible_reason,omitempty"`
	Internal *catalog.Processes `json:"internal,omitempty"`
	Owner    *catalog.PersonRef `json:"owner,omitempty"`
}

// mayManage: the owning department's staff, the service owner and operators see internals.
func mayManage(p catalog.Person, d catalog.Definition) bool {
	return p.Department == d.Department || p.ID == d.Owner || p.HasRole(catalog.RoleOperator)
}

func (s *Server) service(c *gin.Context) (store.ServiceVersion, bool) {
	sv, err := s.store.CurrentService(c.Request.Context(), c.Param("key"))
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(c, errNotFound(fmt.Sprintf("there is no service %q in the catalog", c.Param("key"))))
		return sv, false
	}
	if err != nil {
		s.fail(c, err)
		return sv, false
	}
	return sv, true
}

// getService returns a service at its current version.
func (s *Server) getService(c *gin.Context) {
	sv, ok := s.service(c)
	if !ok {
		return
	}
	me := principal(c)
	d := sv.Definition
	v := serviceView{CustomerView: d.Customer(), Version: sv.Version, Stage: sv.Stage}
	v.Eligible, v.Why = d.Eligible(me)
	if mayManage(me, d) {
		p := d.Processes()
		v.Internal = &p
		if owner, err := s.store.Person(c.Request.Context(), d.Owner); err == nil {
			r := ref(owner)
			v.Owner = &r
		}
	}
	c.JSON(http.StatusOK, v)
}

type quoteBody struct {
	Form     map[string]any `json:"form"`
	Quantity *int           `json:"quantity"`
}

// quoteService prices {form, quantity} without submitting anything.
func (s *Server) quoteService(c *gin.Context) {
	sv, ok := s.service(c)
	if !ok {
		return
	}
	var body quoteBody
	if p := decodeBody(c, &body); p != nil {
		writeProblem(c, p)
		return
	}
	d := sv.Definition
	quantity := 1
	var fields []catalog.FieldError
	if body.Quantity != nil {
		quantity = *body.Quantity
	}
	if quantity < 1 || quantity > d.MaxQuantity() {
		fields = append(fields, catalog.FieldError{Field: "/quantity", Rule: "range",
			Detail: fmt.Sprintf("from 1 to %d per request (the service's limits.max_quantity)", d.MaxQuantity())})
	}
	if body.Form == nil {
		body.Form = map[string]any{}
	}
	form, err := catalog.CompileForm(d.Request.Form)
	if err != nil {
		s.fail(c, err)
		return
	}
	// A quote prices a form while it is being filled in: only the fields that price the
	// request are checked (with their bounds), and those not given yet add nothing.
	pricing, all := d.PricingFields()
	errs := form.ValidateFields(body.Form, pricing)
	if all {
		errs = form.Validate(body.Form)
	}
	for _, fe := range errs {
		fe.Field = "/form" + fe.Field
		fields = append(fields, fe)
	}
	if len(fields) > 0 {
		writeProblem(c, errValidation("the quote request is not valid", fields...))
		return
	}
	q, err := d.QuotePartial(body.Form, quantity, principal(c))
	if all {
		q, err = d.Quote(body.Form, quantity, principal(c))
	}
	if err != nil {
		writeProblem(c, quoteProblem(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"service": d.Key, "version": sv.Version, "quote": q})
}

// quoteProblem is a 422 naming what could not be priced: the field a quote's bounds refused
// (/form/hours, /quantity), or the form when a price part's condition could not be evaluated.
func quoteProblem(err error) *Problem {
	var ve *catalog.ValidationError
	if errors.As(err, &ve) {
		return errValidation("the price could not be worked out for this request", ve.Errors...)
	}
	return errValidation("the price could not be worked out for this form", catalog.FieldError{
		Field: "/form", Rule: "cost", Detail: err.Error()})
}
