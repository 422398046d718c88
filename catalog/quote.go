package catalog

import (
	"fmt"
	"math"
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
// be valid against the definition's schema.
func (d Definition) Quote(form map[string]any, quantity int, requester Person) (Quote, error) {
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
			amount = Money(math.Round(float64(p.Amount) * n))
		}
		q.Parts = append(q.Parts, QuoteLine{Name: p.Name, Amount: amount})
		unit += amount
	}
	q.Total = unit * Money(quantity)
	return q, nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
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
