package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Eligibility says who may request a service: a CEL rule over `requester` and the sentence shown
// to someone it refuses.
type Eligibility struct {
	Rule    string `yaml:"rule" json:"rule"`
	Message string `yaml:"message" json:"message"`
}

// Limits are the service's limitations.
type Limits struct {
	// MaxQuantity is the most one request may ask for (default 1).
	MaxQuantity int `yaml:"max_quantity,omitempty" json:"max_quantity,omitempty"`
	// MaxOpen is the most requests of this service one requester may have open at once.
	MaxOpen int `yaml:"max_open,omitempty" json:"max_open,omitempty"`
	// PerPeriod limits how many requests one requester makes in a rolling period.
	PerPeriod *PeriodLimit `yaml:"per_period,omitempty" json:"per_period,omitempty"`
	// Windows, when set, are the only times the service can be requested.
	Windows []Window `yaml:"windows,omitempty" json:"windows,omitempty"`
}

// PeriodLimit: at most Max requests per requester in any rolling Period.
type PeriodLimit struct {
	Max    int      `yaml:"max" json:"max"`
	Period Duration `yaml:"period" json:"period"`
}

// Window is a time when a service can be requested: on some weekdays, between two times of day,
// in a time zone, optionally only between two dates (an open-enrolment period).
type Window struct {
	Days     []string `yaml:"days,omitempty" json:"days,omitempty"` // mon..sun; empty means every day
	Start    string   `yaml:"start,omitempty" json:"start,omitempty"`
	End      string   `yaml:"end,omitempty" json:"end,omitempty"`
	TimeZone string   `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	From     string   `yaml:"from,omitempty" json:"from,omitempty"`   // YYYY-MM-DD, inclusive
	Until    string   `yaml:"until,omitempty" json:"until,omitempty"` // YYYY-MM-DD, inclusive
}

// Cost is what a request costs and who pays.
type Cost struct {
	Currency   string      `yaml:"currency" json:"currency"`
	UnitPrice  Money       `yaml:"unit_price" json:"unit_price"`
	Recurrence string      `yaml:"recurrence,omitempty" json:"recurrence,omitempty"` // one_off (default) or monthly
	Parts      []PricePart `yaml:"parts,omitempty" json:"parts,omitempty"`
	// CostCentre is charged: "requester" (the requester's department, the default), "service"
	// (the providing department) or a fixed cost-centre code.
	CostCentre string `yaml:"cost_centre,omitempty" json:"cost_centre,omitempty"`
}

// PricePart adds Amount per unit when its condition (CEL over form, quantity, requester) holds.
// With PerField, the amount is multiplied by that numeric form field (per GB, per seat...).
type PricePart struct {
	Name     string `yaml:"name" json:"name"`
	When     string `yaml:"when,omitempty" json:"when,omitempty"`
	Amount   Money  `yaml:"amount" json:"amount"`
	PerField string `yaml:"per_field,omitempty" json:"per_field,omitempty"`
}

// Recurrences.
const (
	OneOff  = "one_off"
	Monthly = "monthly"
)

// SLAPolicy gives per-priority targets, warning thresholds and escalation levels. Targets
// count business time on the providing department's calendar.
type SLAPolicy struct {
	Targets  map[string]SLATarget `yaml:"targets,omitempty" json:"targets,omitempty"`
	Warnings []int                `yaml:"warnings,omitempty" json:"warnings,omitempty"` // percent of the target
	// Escalation levels run on the resolution clock, each once, in order.
	Escalation []EscalationLevel `yaml:"escalation,omitempty" json:"escalation,omitempty"`
	// ResponseStopsOn lists what stops the response clock, the first of them that happens
	// (ResponseStops; every one of them when empty).
	ResponseStopsOn []string `yaml:"response_stops_on,omitempty" json:"response_stops_on,omitempty"`
}

// What stops the response clock: the first reply to the requester, in whatever form.
const (
	StopDecision = "decision" // an approver approves or rejects
	StopQuestion = "question" // an approver asks for information, or a fulfiller asks the requester
	StopComment  = "comment"  // someone other than the requester comments on the request
	StopClaim    = "claim"    // a fulfiller claims a task
	StopComplete = "complete" // a fulfiller completes a task
)

// ResponseStops are what may stop the response clock; by default each of them does.
var ResponseStops = []string{StopDecision, StopQuestion, StopComment, StopClaim, StopComplete}

// StopsResponse reports whether what happened stops the response clock under the policy.
func (p SLAPolicy) StopsResponse(what string) bool {
	if len(p.ResponseStopsOn) == 0 {
		return slices.Contains(ResponseStops, what)
	}
	return slices.Contains(p.ResponseStopsOn, what)
}

// EscalationLevel acts At a point of the resolution clock: "75%", "breach" or "breach+4h".
type EscalationLevel struct {
	At            string         `yaml:"at" json:"at"`
	Notify        *NotifyTargets `yaml:"notify,omitempty" json:"notify,omitempty"`
	Reassign      string         `yaml:"reassign,omitempty" json:"reassign,omitempty"` // a group: open tasks move to it
	RaisePriority bool           `yaml:"raise_priority,omitempty" json:"raise_priority,omitempty"`
	// Urgent tells the level's people at once, outside their working hours too (and never
	// into a digest); without it the level's mails to people wait for their department to
	// open. Needs notify or reassign (something that tells someone).
	Urgent bool `yaml:"urgent,omitempty" json:"urgent,omitempty"`
}

// NotifyTargets are whom an escalation tells.
type NotifyTargets struct {
	People          []string `yaml:"people,omitempty" json:"people,omitempty"`
	Groups          []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	AssigneeManager bool     `yaml:"assignee_manager,omitempty" json:"assignee_manager,omitempty"`
}

// Point returns the business time into a clock of target t at which the level acts.
func (l EscalationLevel) Point(t Duration) (time.Duration, error) {
	at := strings.ReplaceAll(l.At, " ", "")
	switch {
	case strings.HasSuffix(at, "%"):
		var p int
		if _, err := fmt.Sscanf(at, "%d%%", &p); err != nil || p < 1 || p > 1000 {
			return 0, fmt.Errorf("%q: a percentage of the target, like 75%%", l.At)
		}
		return t.Std() * time.Duration(p) / 100, nil
	case at == "breach":
		return t.Std(), nil
	case strings.HasPrefix(at, "breach+"):
		d, err := ParseDuration(strings.TrimPrefix(at, "breach+"))
		if err != nil {
			return 0, fmt.Errorf("%q: %w", l.At, err)
		}
		return t.Std() + d.Std(), nil
	}
	return 0, fmt.Errorf("%q: at is a percentage (75%%), breach, or breach+<duration>", l.At)
}

// Target is the SLA target of a priority. A priority without one of its own takes the
// fallback priority's (the definition's default), and failing that the lowest priority's that
// has one, so a request of a service that promises clocks always runs them. It reports the
// priority whose target it is, and false when the policy has no targets at all.
func (p SLAPolicy) Target(priority, fallback string) (SLATarget, string, bool) {
	if t, ok := p.Targets[priority]; ok {
		return t, priority, true
	}
	if t, ok := p.Targets[fallback]; ok {
		return t, fallback, true
	}
	for _, q := range Priorities {
		if t, ok := p.Targets[q]; ok {
			return t, q, true
		}
	}
	return SLATarget{}, "", false
}

// SLATarget is a response and a resolution target in business time.
type SLATarget struct {
	Response   Duration `yaml:"response" json:"response"`
	Resolution Duration `yaml:"resolution" json:"resolution"`
}

// Priorities a request may have, lowest first.
var Priorities = []string{"low", "normal", "high", "critical"}

var (
	weekdays     = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	clockPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`)
	currencyPat  = regexp.MustCompile(`^[A-Z]{3}$`)
)

func (d Definition) validateTerms(e *errs) {
	if el := d.Eligibility; el != nil {
		if _, err := CompileEligibility(el.Rule); err != nil {
			e.add("eligibility.rule", "cel", "%v", err)
		}
		if strings.TrimSpace(el.Message) == "" {
			e.add("eligibility.message", "required", "say in a sentence who may request the service, for those the rule refuses")
		}
	}
	l := d.Limits
	if l.MaxQuantity < 0 {
		e.add("limits.max_quantity", "minimum", "must be at least 1 (or absent for 1)")
	} else if l.MaxQuantity > MaxCount {
		e.add("limits.max_quantity", "maximum", "may be at most %d", MaxCount)
	}
	if l.MaxOpen < 0 {
		e.add("limits.max_open", "minimum", "must be at least 1 (or absent for no limit)")
	} else if l.MaxOpen > MaxCount {
		e.add("limits.max_open", "maximum", "may be at most %d", MaxCount)
	}
	if p := l.PerPeriod; p != nil {
		if p.Max < 1 {
			e.add("limits.per_period.max", "minimum", "must be at least 1")
		} else if p.Max > MaxCount {
			e.add("limits.per_period.max", "maximum", "may be at most %d", MaxCount)
		}
		if p.Period <= 0 {
			e.add("limits.per_period.period", "required", "give the rolling period, like 365d")
		}
	}
	for i, w := range l.Windows {
		w.validate(e, fmt.Sprintf("limits.windows[%d]", i))
	}
	c := d.Cost
	free := c.UnitPrice == 0 && len(c.Parts) == 0
	if !currencyPat.MatchString(c.Currency) && !(free && c.Currency == "") {
		e.add("cost.currency", "pattern", "an ISO 4217 code like EUR or USD (%q)", c.Currency)
	}
	if c.UnitPrice < 0 {
		e.add("cost.unit_price", "minimum", "may not be negative")
	}
	switch c.Recurrence {
	case "", OneOff, Monthly:
	default:
		e.add("cost.recurrence", "enum", "must be %q or %q, not %q", OneOff, Monthly, c.Recurrence)
	}
	for i, p := range c.Parts {
		path := fmt.Sprintf("cost.parts[%d]", i)
		if p.Name == "" {
			e.add(path+".name", "required", "a price part needs a name")
		}
		if p.When != "" {
			if _, err := CompileCondition(p.When); err != nil {
				e.add(path+".when", "cel", "%v", err)
			}
		}
		if p.PerField != "" && !formHasNumber(d.Request.Form, p.PerField) {
			e.add(path+".per_field", "reference", "the form has no number or integer field %q", p.PerField)
		} else if p.PerField != "" {
			d.validatePricedField(e, path, p.PerField)
		}
	}
	if worst, err := d.worstTotal(); err != nil {
		e.add("cost", "maximum", "the largest request (every part at its field's maximum, limits.max_quantity units) is beyond %s: %v", MaxMoney, err)
	} else if worst > MaxMoney {
		e.add("cost", "maximum", "the largest request would cost %s, beyond %s", worst, MaxMoney)
	}
	for prio, t := range d.SLA.Targets {
		path := "sla.targets." + prio
		if !slices.Contains(Priorities, prio) {
			e.add(path, "enum", "priority must be one of %v", Priorities)
		}
		if t.Response <= 0 {
			e.add(path+".response", "required", "give a response target, like 4h")
		}
		if t.Resolution <= 0 {
			e.add(path+".resolution", "required", "give a resolution target, like 3d")
		} else if t.Response > t.Resolution {
			e.add(path+".response", "maximum", "the response target (%s) is after the resolution target (%s)", t.Response, t.Resolution)
		}
	}
	d.validatePriorities(e)
	for i, r := range d.SLA.ResponseStopsOn {
		if !slices.Contains(ResponseStops, r) {
			e.add(fmt.Sprintf("sla.response_stops_on[%d]", i), "enum", "what stops the response clock is one of %v, not %q", ResponseStops, r)
		}
	}
	prev := time.Duration(-1)
	for i, l := range d.SLA.Escalation {
		path := fmt.Sprintf("sla.escalation[%d]", i)
		p, err := l.Point(Duration(100 * time.Hour))
		if err != nil {
			e.add(path+".at", "format", "%v", err)
		} else if p <= prev {
			e.add(path+".at", "order", "levels come in the order they act")
		}
		prev = p
		if l.Notify == nil && l.Reassign == "" && !l.RaisePriority {
			e.add(path, "required", "a level does something: notify, reassign or raise_priority")
		}
		if l.Urgent && l.Notify == nil && l.Reassign == "" {
			e.add(path+".urgent", "requires", "urgent is about the level's mails: give notify or reassign")
		}
	}
	if len(d.SLA.Escalation) > 0 && len(d.SLA.Targets) == 0 {
		e.add("sla.targets", "required", "escalation levels run on the resolution target: give targets")
	}
	for i, w := range d.SLA.Warnings {
		if w < 1 || w > 99 || (i > 0 && w <= d.SLA.Warnings[i-1]) {
			e.add(fmt.Sprintf("sla.warnings[%d]", i), "range", "warnings are percentages from 1 to 99, rising")
		}
	}
}

// validatePriorities checks the default and offered priorities: known ones, each once, and,
// when the service promises SLA clocks, each with a target of its own, so that no request runs
// without the clocks its service promises.
func (d Definition) validatePriorities(e *errs) {
	if p := d.Request.Priority; p != "" && !slices.Contains(Priorities, p) {
		e.add("request.priority", "enum", "priority must be one of %v, not %q", Priorities, p)
	}
	for i, p := range d.Request.Priorities {
		path := fmt.Sprintf("request.priorities[%d]", i)
		if !slices.Contains(Priorities, p) {
			e.add(path, "enum", "priority must be one of %v, not %q", Priorities, p)
		} else if slices.Index(d.Request.Priorities, p) < i {
			e.add(path, "uniqueItems", "priority %q is offered twice", p)
		}
	}
	if len(d.SLA.Targets) == 0 {
		return
	}
	if p := d.DefaultPriority(); slices.Contains(Priorities, p) {
		if _, ok := d.SLA.Targets[p]; !ok {
			path := "request.priority"
			if d.Request.Priority == "" {
				path = "sla.targets"
			}
			e.add(path, "sla", "the default priority %q has no SLA target: give sla.targets.%s, or a default priority that has one", p, p)
		}
	}
	for i, p := range d.Request.Priorities {
		if _, ok := d.SLA.Targets[p]; !ok && slices.Contains(Priorities, p) {
			e.add(fmt.Sprintf("request.priorities[%d]", i), "sla", "priority %q is offered but has no SLA target: give sla.targets.%s", p, p)
		}
	}
}

func (w Window) validate(e *errs, path string) {
	for j, day := range w.Days {
		if !slices.Contains(weekdays, day) {
			e.add(fmt.Sprintf("%s.days[%d]", path, j), "enum", "a day is one of %v", weekdays)
		}
	}
	if (w.Start == "") != (w.End == "") {
		e.add(path, "required", "give both start and end, or neither")
	}
	for field, v := range map[string]string{"start": w.Start, "end": w.End} {
		if v != "" && !clockPattern.MatchString(v) {
			e.add(path+"."+field, "pattern", "a time of day is HH:MM (%q)", v)
		}
	}
	if w.Start != "" && w.End != "" && clockPattern.MatchString(w.Start) && clockPattern.MatchString(w.End) && w.Start >= w.End {
		e.add(path+".end", "minimum", "end (%s) must be after start (%s)", w.End, w.Start)
	}
	if _, err := time.LoadLocation(w.TimeZone); err != nil {
		e.add(path+".timezone", "timezone", "unknown time zone %q", w.TimeZone)
	}
	var from, until time.Time
	var err error
	if w.From != "" {
		if from, err = time.Parse(time.DateOnly, w.From); err != nil {
			e.add(path+".from", "format", "a date is YYYY-MM-DD (%q)", w.From)
		}
	}
	if w.Until != "" {
		if until, err = time.Parse(time.DateOnly, w.Until); err != nil {
			e.add(path+".until", "format", "a date is YYYY-MM-DD (%q)", w.Until)
		}
	}
	if !from.IsZero() && !until.IsZero() && until.Before(from) {
		e.add(path+".until", "minimum", "until (%s) is before from (%s)", w.Until, w.From)
	}
}

// MaxCount bounds the counts a definition sets: quantities and request limits.
const MaxCount = 100_000

// validatePricedField checks that a priced field is bounded in the form: a minimum of zero or
// more and a maximum, so that no submission prices below nothing or beyond any amount.
func (d Definition) validatePricedField(e *errs, path, field string) {
	lo, hasLo := fieldBound(d.Request.Form, field, "minimum", "exclusiveMinimum")
	hi, hasHi := fieldBound(d.Request.Form, field, "maximum", "exclusiveMaximum")
	switch {
	case !hasLo:
		e.add(path+".per_field", "minimum", "the priced field %q needs a minimum (0 or more) in the form", field)
	case lo < 0:
		e.add(path+".per_field", "minimum", "the priced field %q has minimum %s: a price may not go below nothing", field, FormatNumber(lo))
	}
	if !hasHi {
		e.add(path+".per_field", "maximum", "the priced field %q needs a maximum in the form", field)
	} else if hasLo && hi < lo {
		e.add(path+".per_field", "maximum", "the priced field %q has a maximum below its minimum", field)
	}
}

// worstTotal is the price of the largest request the definition allows: every part applies,
// each priced field at its maximum, limits.max_quantity units. Parts that reduce the price are
// left out, so it is an upper bound.
func (d Definition) worstTotal() (Money, error) {
	unit := max(d.Cost.UnitPrice, 0)
	for _, p := range d.Cost.Parts {
		amount := p.Amount
		if p.PerField != "" {
			hi, ok := fieldBound(d.Request.Form, p.PerField, "maximum", "exclusiveMaximum")
			if !ok {
				continue // refused on its own
			}
			var err error
			if amount, err = p.Amount.Times(hi); err != nil {
				return 0, err
			}
		}
		if amount > 0 {
			var err error
			if unit, err = unit.Plus(amount); err != nil {
				return 0, err
			}
		}
	}
	return unit.Times(float64(max(d.Limits.MaxQuantity, 1)))
}

// fieldBound reads a numeric keyword (the first of keys present) of a top-level form field.
func fieldBound(schema map[string]any, field string, keys ...string) (float64, bool) {
	props, _ := schema["properties"].(map[string]any)
	p, _ := props[field].(map[string]any)
	for _, k := range keys {
		if v, ok := number(p[k]); ok {
			return v, true
		}
		switch v := p[k].(type) {
		case int:
			return float64(v), true
		case uint64:
			return float64(v), true
		}
	}
	return 0, false
}

func formHasNumber(schema map[string]any, field string) bool {
	props, _ := schema["properties"].(map[string]any)
	p, _ := props[field].(map[string]any)
	t, _ := p["type"].(string)
	return t == "number" || t == "integer"
}
