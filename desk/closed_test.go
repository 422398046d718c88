package desk

import (
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
)

// TestClosedNotes: how a closed request's unfinished step and task read, by how it closed; an
// open request's, and a settled step's or closed task's, have no note.
func TestClosedNotes(t *testing.T) {
	closedAt := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	view := func(status string, events ...catalog.Event) RequestView {
		return RequestView{State: catalog.RequestState{Status: status, Requester: catalog.PersonRef{ID: "alice"}, Timeline: events}}
	}
	open := catalog.ApprovalState{Status: catalog.ApprovalPending}
	settled := catalog.ApprovalState{Status: catalog.ApprovalRejected, ClosedAt: &closedAt}
	waiting := catalog.TaskState{State: catalog.TaskWaiting}
	done := catalog.TaskState{State: catalog.TaskCancelled}
	for _, c := range []struct {
		v               RequestView
		how, step, task string
	}{
		{view(catalog.StatusPendingApproval), "", "", ""},
		{view(catalog.StatusCancelled, catalog.Event{Type: "cancel.requested", Actor: "alice"}), "withdrawn",
			"not decided: the request was withdrawn", "not done: the request was withdrawn"},
		{view(catalog.StatusCancelled, catalog.Event{Type: "cancel.operator"}), "cancelled",
			"not decided: the request was cancelled", "not done: the request was cancelled"},
		{view(catalog.StatusRejected), "rejected", "not decided: the request was rejected", "not done: the request was rejected"},
		{view(catalog.StatusFailed), "failed", "not decided: the request failed", "not done: the request failed"},
	} {
		if got := c.v.ClosedAs(); got != c.how {
			t.Errorf("%s: ClosedAs = %q, want %q", c.v.State.Status, got, c.how)
		}
		if got := c.v.StepNote(open); got != c.step {
			t.Errorf("%s (%s): StepNote = %q, want %q", c.v.State.Status, c.how, got, c.step)
		}
		if got := c.v.TaskNote(waiting); got != c.task {
			t.Errorf("%s (%s): TaskNote = %q, want %q", c.v.State.Status, c.how, got, c.task)
		}
		if c.v.StepNote(settled) != "" || c.v.TaskNote(done) != "" {
			t.Errorf("%s: a note on a settled step or a closed task", c.v.State.Status)
		}
	}
}
