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
	for i, s := range d.Approval.Steps {
		p := fmt.Sprintf("approval.steps[%d]", i)
		if s.Name == "" {
			e.add(p+".name", "required", "a step needs a name")
		}
		switch s.Mode {
		case "", ModeAny, ModeAll:
		default:
			e.add(p+".mode", "enum", "mode must be %q or %q, not %q", ModeAny, ModeAll, s.Mode)
		}
		a := s.Approvers
		if !a.Manager && a.Group == "" && len(a.People) == 0 {
			e.add(p+".approvers", "required", "a step needs approvers: manager, group or people")
		}
	}
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
