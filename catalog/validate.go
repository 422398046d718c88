package catalog

import (
	"fmt"
	"regexp"
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
		e.add("request.form", "schema", "the form is not a valid JSON Schema: %v", err)
	}
	d.validateApproval(e)
	d.validateTerms(e)
	if len(d.Fulfilment.Tasks) == 0 {
		e.add("fulfilment.tasks", "required", "a service needs at least one fulfilment task")
	}
	seen := map[string]bool{}
	for i, t := range d.Fulfilment.Tasks {
		p := fmt.Sprintf("fulfilment.tasks[%d]", i)
		if !keyPattern.MatchString(t.ID) {
			e.add(p+".id", "pattern", "must be lowercase letters, digits and dashes, starting with a letter (%q)", t.ID)
		} else if seen[t.ID] {
			e.add(p+".id", "unique", "task id %q is used twice", t.ID)
		}
		seen[t.ID] = true
		if t.Name == "" {
			e.add(p+".name", "required", "a task needs a name")
		}
		if t.Group == "" {
			e.add(p+".group", "required", "a task needs a fulfiller group")
		}
		switch t.Kind {
		case "", TaskManual:
		default:
			e.add(p+".kind", "enum", "kind must be %q, not %q", TaskManual, t.Kind)
		}
	}
}

// Normalize fills defaults, so that the stored definition says what it means.
func (d *Definition) Normalize() {
	for i := range d.Approval.Steps {
		if d.Approval.Steps[i].Mode == "" {
			d.Approval.Steps[i].Mode = ModeAny
		}
	}
	for i := range d.Fulfilment.Tasks {
		if d.Fulfilment.Tasks[i].Kind == "" {
			d.Fulfilment.Tasks[i].Kind = TaskManual
		}
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
		switch s.Mode {
		case "", ModeAny, ModeAll:
		case ModeQuorum:
			if s.Quorum < 1 {
				e.add(p+".quorum", "minimum", "a quorum step needs quorum: N (at least 1)")
			}
		case ModePercent:
			if s.Percent < 1 || s.Percent > 100 {
				e.add(p+".percent", "range", "a percent step needs percent: 1 to 100")
			}
		default:
			e.add(p+".mode", "enum", "mode must be one of any, all, quorum, percent, not %q", s.Mode)
		}
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
	}
}
