package catalog

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"net/url"
	"regexp"
	"strings"
)

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// Validate checks a definition on its own (references to people and groups are checked by
// Bundle.Validate, which knows the directory). It compiles the form, so a definition that
// validates can be submitted against.
func (d Definition) Validate() error {
	e := &errs{}
	d.validate(e)
	return e.err()
}

func (d Definition) validate(e *errs) {
	if !keyPattern.MatchString(d.Key) {
		e.add("key", "pattern", "must be lowercase letters, digits and dashes, starting with a letter (%q)", d.Key)
	}
	if d.Name == "" {
		e.add("name", "required", "a service needs a name")
	}
	if d.Department == "" {
		e.add("department", "required", "a service belongs to a department")
	}
	if d.Owner == "" {
		e.add("owner", "required", "a service needs an owner (a person id)")
	}
	if d.Request.Form == nil {
		e.add("request.form", "required", "a service needs a request form (a JSON Schema; {type: object} for none)")
	} else if _, err := CompileForm(d.Request.Form); err != nil {
		field, detail := formSchemaError(err)
		e.add(field, "schema", "the form is not a valid JSON Schema: %s", detail)
	}
	d.validateApproval(e)
	d.validateTerms(e)
	if len(d.Fulfilment.Tasks) == 0 {
		e.add("fulfilment.tasks", "required", "a service needs at least one fulfilment task")
	}
	d.validateTasks(e)
	d.validateLife(e)
	d.validateAttachments(e)
}

func (d Definition) validateLife(e *errs) {
	if g := d.Governance; g != nil {
		if g.Approvers.Empty() {
			e.add("governance.approvers", "required", "say who reviews a new version")
		}
		g.validateMode(e, "governance")
	}
	if r := d.Review; r != nil {
		if _, err := cron.ParseStandard(r.Cron); err != nil {
			e.add("review.cron", "cron", "%q is not a cron expression (minute hour day month weekday): %v", r.Cron, err)
		}
		if r.EscalateAfter < 0 {
			e.add("review.escalate_after", "minimum", "must be positive")
		}
	}
	if r := d.Retirement; r != nil {
		if r.Policy != RetireDrain && r.Policy != RetireCancel {
			e.add("retirement.policy", "enum", "policy is %q or %q", RetireDrain, RetireCancel)
		}
		if r.Successor == d.Key && r.Successor != "" {
			e.add("retirement.successor", "not", "a service cannot succeed itself")
		}
		if r.Sunset != "" {
			if _, err := time.Parse(time.DateOnly, r.Sunset); err != nil {
				e.add("retirement.sunset", "format", "a date is YYYY-MM-DD (%q)", r.Sunset)
			}
		}
	}
}

// ValidateWith checks a definition and its references against a known directory (the API's
// drafts, which come without a directory of their own).
func ValidateWith(d Definition, known Known) error {
	b := newBundle()
	e := &errs{}
	d.Normalize()
	b.Services = []Definition{d}
	b.serviceAt[d.Key] = loc{file: "body", idx: 0}
	b.validate(e, known)
	for i := range e.list {
		e.list[i].File = ""
		e.list[i].Field = strings.TrimPrefix(e.list[i].Field, "services[0].")
	}
	return e.err()
}

// Normalize fills defaults, so that the stored definition says what it means.
func (d *Definition) Normalize() {
	for i := range d.Approval.Steps {
		if d.Approval.Steps[i].Mode == "" {
			d.Approval.Steps[i].Mode = ModeAny
		}
	}
	if d.Governance != nil {
		if d.Governance.Mode == "" {
			d.Governance.Mode = ModeAny
		}
		if d.Governance.Name == "" {
			d.Governance.Name = "review"
		}
	}
	for i := range d.Fulfilment.Tasks {
		t := &d.Fulfilment.Tasks[i]
		if t.Kind == "" {
			t.Kind = TaskManual
		}
		if t.OnFailure == "" {
			t.OnFailure = OnFailureFail
		}
		for _, c := range []*HTTPCall{t.HTTP, t.Compensate} {
			if c != nil && c.Method == "" {
				c.Method = "POST"
			}
		}
	}
}

// validateMode checks a step's mode and the number it needs (approval steps and governance
// reviews alike); p is the step's path.
func (s ApprovalStep) validateMode(e *errs, p string) {
	switch s.Mode {
	case "", ModeAny, ModeAll:
	case ModeQuorum:
		if s.Quorum < 1 {
			e.add(p+".quorum", "minimum", "a quorum needs quorum: N (at least 1)")
		}
	case ModePercent:
		if s.Percent < 1 || s.Percent > 100 {
			e.add(p+".percent", "range", "a percent mode needs percent: 1 to 100")
		}
	default:
		e.add(p+".mode", "enum", "mode must be one of any, all, quorum, percent, not %q", s.Mode)
	}
}

func (d Definition) validateApproval(e *errs) {
	if d.Approval.AutoApprove != "" {
		if _, err := CompileCondition(d.Approval.AutoApprove); err != nil {
			e.add("approval.auto_approve", "cel", "%v", err)
		}
	}
	for i, s := range d.Approval.Steps {
		p := fmt.Sprintf("approval.steps[%d]", i)
		if s.Name == "" {
			e.add(p+".name", "required", "a step needs a name")
		}
		if s.When != "" {
			if _, err := CompileCondition(s.When); err != nil {
				e.add(p+".when", "cel", "%v", err)
			}
		}
		s.validateMode(e, p)
		a := s.Approvers
		if a.Empty() {
			e.add(p+".approvers", "required", "a step needs approvers: manager, group, role, people, owner or department_head")
		}
		if a.Levels < 0 || a.Levels > 10 || (a.Levels > 0 && !a.Manager) {
			e.add(p+".approvers.levels", "range", "levels (1 to 10) goes with manager: true")
		}
		switch a.DepartmentHead {
		case "", "requester", "service":
		default:
			e.add(p+".approvers.department_head", "enum", "department_head is requester or service, not %q", a.DepartmentHead)
		}
		if x := s.Escalate; x != nil {
			if x.After <= 0 {
				e.add(p+".escalate.after", "required", "say when to escalate, like 2d")
			}
			switch {
			case x.To == "manager" && x.Group == "":
			case x.To == "group" && x.Group != "":
			default:
				e.add(p+".escalate.to", "enum", "escalate to manager, or to group with a group named")
			}
		}
		if x := s.Expire; x != nil {
			if x.After <= 0 {
				e.add(p+".expire.after", "required", "say when the step expires, like 5d")
			}
			switch x.Outcome {
			case OutcomeApprove, OutcomeReject, OutcomeCancel:
			default:
				e.add(p+".expire.outcome", "enum", "the outcome of an expired step is approve, reject or cancel")
			}
			if s.Escalate != nil && s.Escalate.After >= x.After {
				e.add(p+".escalate.after", "maximum", "escalation (%s) must come before expiry (%s)", s.Escalate.After, x.After)
			}
		}
		if s.RemindAfter < 0 {
			e.add(p+".remind_after", "minimum", "must be positive")
		}
		if s.RemindUrgent && s.RemindAfter <= 0 {
			e.add(p+".remind_urgent", "requires", "remind_urgent is about the step's reminder: give remind_after")
		}
	}
}

func (d Definition) validateTasks(e *errs) {
	index := map[string]int{}
	for i, t := range d.Fulfilment.Tasks {
		p := fmt.Sprintf("fulfilment.tasks[%d]", i)
		if !keyPattern.MatchString(t.ID) {
			e.add(p+".id", "pattern", "must be lowercase letters, digits and dashes, starting with a letter (%q)", t.ID)
		} else if _, dup := index[t.ID]; dup {
			e.add(p+".id", "unique", "task id %q is used twice", t.ID)
		} else {
			index[t.ID] = i
		}
		if t.Name == "" {
			e.add(p+".name", "required", "a task needs a name")
		}
		if t.Group == "" {
			e.add(p+".group", "required", "a task needs a fulfiller group")
		}
		switch t.Kind {
		case "", TaskManual:
			if t.HTTP != nil {
				e.add(p+".http", "kind", "only automated tasks make HTTP calls")
			}
		case TaskAutomated:
			if t.HTTP == nil {
				e.add(p+".http", "required", "an automated task needs its HTTP call")
			}
		default:
			e.add(p+".kind", "enum", "kind must be %q or %q, not %q", TaskManual, TaskAutomated, t.Kind)
		}
		for name, c := range map[string]*HTTPCall{"http": t.HTTP, "compensate": t.Compensate} {
			if c != nil {
				c.validate(e, p+"."+name)
			}
		}
		if t.Compensate != nil && t.Kind != TaskAutomated {
			e.add(p+".compensate", "kind", "only automated tasks are compensated")
		}
		switch t.Fallback {
		case "", TaskManual:
		default:
			e.add(p+".fallback", "enum", "fallback is %q or absent", TaskManual)
		}
		switch t.OnFailure {
		case "", OnFailureFail, OnFailureRollback:
		default:
			e.add(p+".on_failure", "enum", "on_failure is %q or %q", OnFailureFail, OnFailureRollback)
		}
		if t.When != "" {
			if _, err := CompileCondition(t.When); err != nil {
				e.add(p+".when", "cel", "%v", err)
			}
		}
		if t.Outputs != nil {
			if _, err := CompileForm(t.Outputs); err != nil {
				e.add(p+".outputs", "schema", "the outputs are not a valid JSON Schema: %v", err)
			}
		}
		if t.Target < 0 {
			e.add(p+".target", "minimum", "must be positive")
		}
	}
	for i, t := range d.Fulfilment.Tasks {
		for j, n := range t.Needs {
			if _, ok := index[n]; !ok {
				e.add(fmt.Sprintf("fulfilment.tasks[%d].needs[%d]", i, j), "reference", "no task %q in this plan", n)
			}
		}
	}
	if cycle := d.Fulfilment.cycle(); cycle != "" {
		e.add("fulfilment.tasks", "acyclic", "the tasks need each other in a circle: %s", cycle)
	}
}

// cycle returns a description of a dependency cycle, or "".
func (f Fulfilment) cycle() string {
	needs := map[string][]string{}
	for _, t := range f.Tasks {
		needs[t.ID] = t.Needs
	}
	state := map[string]int{} // 0 unseen, 1 on the path, 2 done
	var path []string
	var visit func(id string) string
	visit = func(id string) string {
		switch state[id] {
		case 1:
			return strings.Join(append(path, id), " -> ")
		case 2:
			return ""
		}
		state[id] = 1
		path = append(path, id)
		for _, n := range needs[id] {
			if _, ok := needs[n]; ok {
				if c := visit(n); c != "" {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[id] = 2
		return ""
	}
	for _, t := range f.Tasks {
		if c := visit(t.ID); c != "" {
			return c
		}
	}
	return ""
}

func (c HTTPCall) validate(e *errs, p string) {
	switch c.Method {
	case "", "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		e.add(p+".method", "enum", "method is GET, POST, PUT, PATCH or DELETE, not %q", c.Method)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.add(p+".url", "format", "an absolute http or https URL (%q)", c.URL)
	}
}
