package catalog

import (
	"slices"
	"time"
)

// Every instant ESM answers with is UTC, RFC 3339 ("2026-12-03T12:36:17Z"): deadlines are worked
// out on a department's calendar, in its zone, and would otherwise carry its offset. UTC
// returns a copy of the state with every instant in UTC; the state's own slices are not touched,
// so a workflow may answer a Query with it.
func (r RequestState) UTC() RequestState {
	r.SubmittedAt, r.UpdatedAt = r.SubmittedAt.UTC(), r.UpdatedAt.UTC()
	r.ClosedAt, r.DueAt = utc(r.ClosedAt), utc(r.DueAt)
	r.Approvals = slices.Clone(r.Approvals)
	for i := range r.Approvals {
		a := &r.Approvals[i]
		a.OpenedAt = a.OpenedAt.UTC()
		a.ClosedAt, a.RemindAt, a.EscalateAt, a.ExpireAt = utc(a.ClosedAt), utc(a.RemindAt), utc(a.EscalateAt), utc(a.ExpireAt)
		a.Approvers = slices.Clone(a.Approvers)
		for j := range a.Approvers {
			a.Approvers[j].DecidedAt = utc(a.Approvers[j].DecidedAt)
		}
	}
	r.Tasks = slices.Clone(r.Tasks)
	for i := range r.Tasks {
		t := &r.Tasks[i]
		t.OpenedAt, t.ClosedAt = utc(t.OpenedAt), utc(t.ClosedAt)
	}
	r.SLA = slices.Clone(r.SLA)
	for i := range r.SLA {
		c := &r.SLA[i]
		c.RunningSince, c.DueAt, c.StoppedAt = utc(c.RunningSince), utc(c.DueAt), utc(c.StoppedAt)
	}
	r.Timeline = slices.Clone(r.Timeline)
	for i := range r.Timeline {
		r.Timeline[i].At = r.Timeline[i].At.UTC()
	}
	return r
}

// utc is t in UTC, as a new pointer (nil stays nil).
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
