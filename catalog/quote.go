package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"
)

// Quote is what a request would cost.
type Quote struct {
	Currency   string      `json:"currency,omitempty"`
	UnitPrice  Money       `json:"unit_price"`
	Parts      []QuoteLine `json:"parts"`
	Quantity   int         `json:"quantity"`
	Total      Money       `json:"total"`
	Recurrence string      `json:"recurrence"`
	CostCentre string      `json:"cost_centre"`
}

// QuoteLine is one price part that applies, per unit.
type QuoteLine struct {
	Name   string `json:"name"`
	Amount Money  `json:"amount"`
}

// MaxQuantity is the most one request may ask for.
func (d Definition) MaxQuantity() int {
	if d.Limits.MaxQuantity > 0 {
		return d.Limits.MaxQuantity
	}
	return 1
}

// Quote prices a request: (unit price + the parts that apply) x quantity. The form must already
// be valid against the definition's schema. A value that cannot be priced (a priced field below
// zero, a total beyond MaxMoney) is a *ValidationError naming the field (/form/hours, /quantity).
func (d Definition) Quote(form map[string]any, quantity int, requester Person) (Quote, error) {
	return d.quote(form, quantity, requester, false)
}

// QuotePartial prices a form that is still being filled in: a part whose condition reads a
// field not given yet does not apply, and a priced field not given adds nothing.
func (d Definition) QuotePartial(form map[string]any, quantity int, requester Person) (Quote, error) {
	return d.quote(form, quantity, requester, true)
}

func (d Definition) quote(form map[string]any, quantity int, requester Person, partial bool) (Quote, error) {
	c := d.Cost
	q := Quote{Currency: c.Currency, UnitPrice: c.UnitPrice, Parts: []QuoteLine{}, Quantity: quantity, Recurrence: c.Recurrence}
	if q.Recurrence == "" {
		q.Recurrence = OneOff
	}
	switch c.CostCentre {
	case "", "requester":
		q.CostCentre = requester.Department
	case "service":
		q.CostCentre = d.Department
	default:
		q.CostCentre = c.CostCentre
	}
	vars := ConditionVars(form, quantity, requester, nil)
	unit := c.UnitPrice
	for i, p := range c.Parts {
		if p.When != "" {
			if partial && !hasFields(form, conditionFields(p.When)) {
				continue // not filled in yet
			}
			expr, err := CompileCondition(p.When)
			if err != nil {
				return q, fmt.Errorf("cost.parts[%d].when: %w", i, err)
			}
			ok, err := expr.Eval(vars)
			if err != nil {
				return q, fmt.Errorf("cost.parts[%d].when: %w", i, err)
			}
			if !ok {
				continue
			}
		}
		amount := p.Amount
		if p.PerField != "" {
			n, ok := number(form[p.PerField])
			if !ok {
				continue // an optional field left out adds nothing
			}
			field := PointerTo("form", p.PerField)
			if n < 0 {
				return q, invalid(field, "minimum", "a priced field may not be negative")
			}
			var err error
			if amount, err = p.Amount.Times(n); err != nil {
				return q, invalid(field, "maximum", "%s x %s: %v", p.Amount, FormatNumber(n), err)
			}
		}
		q.Parts = append(q.Parts, QuoteLine{Name: p.Name, Amount: amount})
		var err error
		if unit, err = unit.Plus(amount); err != nil {
			return q, invalid(d.priceField(), "maximum", "the price of one unit: %v", err)
		}
	}
	if unit < 0 {
		return q, invalid(d.priceField(), "minimum", "the price of one unit would be %s: less than nothing", unit)
	}
	total, err := unit.Times(float64(quantity))
	if err != nil {
		return q, invalid("/quantity", "maximum", "%s x %d: %v", unit, quantity, err)
	}
	q.Total = total
	return q, nil
}

// priceField is the field to blame for a unit price out of bounds: the first priced field, or
// the form.
func (d Definition) priceField() string {
	for _, p := range d.Cost.Parts {
		if p.PerField != "" {
			return PointerTo("form", p.PerField)
		}
	}
	return "/form"
}

func invalid(field, rule, format string, args ...any) error {
	return &ValidationError{Errors: []FieldError{{Field: field, Rule: rule, Detail: fmt.Sprintf(format, args...)}}}
}

// PricingFields are the form fields the price depends on: every priced field (per_field) and
// every field a part's condition reads. all says a condition reads the form as a whole, so
// every field prices the request.
func (d Definition) PricingFields() (fields []string, all bool) {
	for _, p := range d.Cost.Parts {
		if p.PerField != "" && !slices.Contains(fields, p.PerField) {
			fields = append(fields, p.PerField)
		}
		if p.When == "" {
			continue
		}
		if formWhole.MatchString(formFieldRef.ReplaceAllString(p.When, "")) {
			all = true
		}
		for _, f := range conditionFields(p.When) {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
	}
	return fields, all
}

var (
	// formFieldRef is a condition reading one field: form.x, has(form.x), form["x"].
	formFieldRef = regexp.MustCompile(`\bform\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"([^"]*)"|'([^']*)')\s*\])`)
	// formWhole is the form read as a whole, once the single-field reads are taken out.
	formWhole = regexp.MustCompile(`\bform\b`)
)

// conditionFields are the form fields a condition reads by name.
func conditionFields(src string) []string {
	var out []string
	for _, m := range formFieldRef.FindAllStringSubmatch(src, -1) {
		for _, g := range m[1:] {
			if g != "" && !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	return out
}

func hasFields(form map[string]any, fields []string) bool {
	for _, f := range fields {
		if _, ok := form[f]; !ok {
			return false
		}
	}
	return true
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n)
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// Eligible evaluates the eligibility rule for a person. It fails closed: a rule that cannot be
// evaluated for this person (a missing attribute, say) refuses, with the definition's message.
func (d Definition) Eligible(p Person) (bool, string) {
	if d.Eligibility == nil {
		return true, ""
	}
	expr, err := CompileEligibility(d.Eligibility.Rule)
	if err != nil {
		return false, d.Eligibility.Message
	}
	ok, err := expr.Eval(map[string]any{"requester": RequesterVars(p)})
	if err != nil || !ok {
		return false, d.Eligibility.Message
	}
	return true, ""
}

// OpenAt reports whether the service can be requested at t under its windows, and if not, when
// it next can (zero if never again).
func (l Limits) OpenAt(t time.Time) (bool, time.Time) {
	if len(l.Windows) == 0 {
		return true, time.Time{}
	}
	var next time.Time
	for _, w := range l.Windows {
		if w.contains(t) {
			return true, time.Time{}
		}
		if n := w.nextOpening(t); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return false, next
}

func (w Window) location() *time.Location {
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// contains reports whether t is inside the window.
func (w Window) contains(t time.Time) bool {
	lt := t.In(w.location())
	day := lt.Format(time.DateOnly)
	if w.From != "" && day < w.From || w.Until != "" && day > w.Until {
		return false
	}
	if len(w.Days) > 0 && !slices.Contains(w.Days, weekdays[lt.Weekday()]) {
		return false
	}
	if w.Start == "" {
		return true
	}
	clock := lt.Format("15:04")
	return clock >= w.Start && clock < w.End
}

// nextOpening is the first instant after t when the window opens, searching a little over a
// year ahead; zero if none.
func (w Window) nextOpening(t time.Time) time.Time {
	loc := w.location()
	lt := t.In(loc)
	start := w.Start
	if start == "" {
		start = "00:00"
	}
	var hh, mm int
	fmt.Sscanf(start, "%d:%d", &hh, &mm)
	// Search from the later of t and the window's first date.
	first := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	if from, err := time.ParseInLocation(time.DateOnly, w.From, loc); err == nil && from.After(first) {
		first = from
	}
	for i := 0; i <= 400; i++ {
		d := time.Date(first.Year(), first.Month(), first.Day()+i, hh, mm, 0, 0, loc)
		if d.After(t) && w.contains(d) {
			return d
		}
	}
	return time.Time{}
}
