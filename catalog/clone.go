package catalog

import (
	"maps"
	"slices"
)

// Clone returns a deep copy of the state: no slice, map or pointer of the copy is shared with
// r. A workflow hands a clone to anything that may read it while the workflow goes on changing
// its own (a local activity runs on a goroutine of its own, and the workflow may take new
// updates before it finishes).
func (r RequestState) Clone() RequestState {
	r.Form = CloneMap(r.Form)
	if r.Quote != nil {
		q := *r.Quote
		q.Parts = slices.Clone(q.Parts)
		r.Quote = &q
	}
	r.ClosedAt, r.DueAt = clonePtr(r.ClosedAt), clonePtr(r.DueAt)
	r.Approvals = slices.Clone(r.Approvals)
	for i := range r.Approvals {
		r.Approvals[i] = r.Approvals[i].Clone()
	}
	r.Tasks = slices.Clone(r.Tasks)
	for i := range r.Tasks {
		t := &r.Tasks[i]
		t.Needs = slices.Clone(t.Needs)
		t.Outputs = CloneMap(t.Outputs)
		t.OpenedAt, t.ClosedAt = clonePtr(t.OpenedAt), clonePtr(t.ClosedAt)
	}
	r.SLA = slices.Clone(r.SLA)
	for i := range r.SLA {
		c := &r.SLA[i]
		c.RunningSince, c.DueAt, c.StoppedAt, c.Met = clonePtr(c.RunningSince), clonePtr(c.DueAt), clonePtr(c.StoppedAt), clonePtr(c.Met)
		c.Warned = slices.Clone(c.Warned)
	}
	r.Timeline = slices.Clone(r.Timeline)
	r.Barred, r.BarredOnBehalf = slices.Clone(r.Barred), slices.Clone(r.BarredOnBehalf)
	return r
}

// Clone returns a deep copy of the step.
func (a ApprovalState) Clone() ApprovalState {
	a.Approvers = slices.Clone(a.Approvers)
	for j := range a.Approvers {
		p := &a.Approvers[j]
		p.DecidedBy, p.DecidedAt = clonePtr(p.DecidedBy), clonePtr(p.DecidedAt)
	}
	a.Excluded = slices.Clone(a.Excluded)
	a.ClosedAt, a.RemindAt, a.EscalateAt, a.ExpireAt = clonePtr(a.ClosedAt), clonePtr(a.RemindAt), clonePtr(a.EscalateAt), clonePtr(a.ExpireAt)
	return a
}

// Clone returns a deep copy of the rendered call (its body may hold values of the form).
func (c Rendered) Clone() Rendered {
	c.Headers = maps.Clone(c.Headers)
	c.Body = CloneValue(c.Body)
	return c
}

// CloneMap deep-copies a JSON-like map (nil stays nil).
func CloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = CloneValue(v)
	}
	return out
}

// CloneValue deep-copies a JSON-like value: maps and slices are copied all the way down, other
// values (strings, numbers, booleans) are immutable and returned as they are.
func CloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return CloneMap(x)
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = CloneValue(e)
		}
		return out
	case []string:
		return slices.Clone(x)
	case map[string]string:
		return maps.Clone(x)
	}
	return v
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
