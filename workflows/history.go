package workflows

import (
	"maps"
	"slices"

	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/workflow"
)

// A request's history stays bounded (revision 4). The state keeps the latest events of its
// timeline once the read model holds them (trimTimeline), comments are bounded (Bounds.Comments),
// and a request that lives long continues as new at a point of rest (continueDue), carrying its
// state into the next run. docs/DESIGN-NOTES.md says why.

// continuing is fulfilPlan's answer when the request continues as new.
const continuing = "continuing"

// bounds are the request's bounds, the defaults where its input sets none.
func (w *requestWorkflow) bounds() Bounds {
	b := Bounds{ContinueAfter: defaultContinueAfter, Kept: defaultKept, Comments: defaultComments}
	if o := w.in.Bounds; o != nil {
		if o.ContinueAfter > 0 {
			b.ContinueAfter = o.ContinueAfter
		}
		if o.Kept > 0 {
			b.Kept = o.Kept
		}
		if o.Comments > 0 {
			b.Comments = o.Comments
		}
	}
	return b
}

// resumeRequest builds the workflow of a run continued from an earlier one: the state and what
// the workflow kept beside it, as that run handed them over at a point of rest (everything
// projected, no call, handler or notification in flight).
func resumeRequest(in RequestInput, c *Continued) *requestWorkflow {
	w := &requestWorkflow{in: in, resumed: c, state: c.State.Clone()}
	in.Continued = nil // the next run gets a fresh one; the state is not carried twice
	w.in = in
	w.projected = w.state.Seq
	w.opened = true
	w.pausedAt, w.resumeTo = c.PausedAt, c.ResumeTo
	w.completedAutomated = slices.Clone(c.Completed)
	for _, id := range c.Undos {
		if w.undos == nil {
			w.undos = map[string]bool{}
		}
		w.undos[id] = true
	}
	w.notices, w.comments = c.Notices, c.Comments
	w.updates = slices.Clone(c.Updates)
	w.fulfilling = w.state.OpenStep() == nil
	return w
}

// resumeStep is the approval step a continued run waits on (the step was open when the last
// run continued as new), nil when the run continued during fulfilment or is a first run.
func (w *requestWorkflow) resumeStep() *catalog.ApprovalState {
	if w.resumed == nil {
		return nil
	}
	return w.state.OpenStep()
}

// continueDue says the request should continue as new now (revision 4): its history is long
// (the server suggests it, or it passed Bounds.ContinueAfter events) and it is at a point of
// rest: everything projected, no automated call, notification, SLA escalation or handler under
// way, no signal waiting to be read, not cancelled. The main loop checks it where it waits on a
// person (an approval step, the fulfilment plan) and wakes up for it.
func (w *requestWorkflow) continueDue(ctx workflow.Context) bool {
	if w.revision < 4 || w.cancelRequested || w.closed || (w.root != nil && w.root.Err() != nil) {
		return false
	}
	info := workflow.GetInfo(ctx)
	if !info.GetContinueAsNewSuggested() && info.GetCurrentHistoryLength() < w.bounds().ContinueAfter {
		return false
	}
	return w.projected == w.state.Seq && w.pending == 0 && w.running == 0 && !w.slaBusy &&
		workflow.GetSignalChannel(ctx, RetireSignal).Len() == 0 && workflow.AllHandlersFinished(ctx)
}

// continueAsNew hands the request to a new run of its workflow (same id: updates, queries and
// signals find it; the search attributes go with it). The timers start again from the instants
// in the state: SLA clocks, approval deadlines.
func (w *requestWorkflow) continueAsNew(ctx workflow.Context) error {
	in := w.in
	runs := 0
	if w.resumed != nil {
		runs = w.resumed.Runs + 1
	}
	c := &Continued{Revision: int(w.revision), State: w.state.Clone(), PausedAt: w.pausedAt, ResumeTo: w.resumeTo,
		Completed: slices.Clone(w.completedAutomated), Notices: w.notices, Comments: w.comments, Runs: runs,
		Updates: slices.Clone(w.updates)}
	for _, id := range slices.Sorted(maps.Keys(w.deferred)) {
		c.Deferred = append(c.Deferred, w.deferred[id])
	}
	for id := range w.undos {
		c.Undos = append(c.Undos, id)
	}
	slices.Sort(c.Undos)
	in.Continued = c
	info := workflow.GetInfo(ctx)
	workflow.GetLogger(ctx).Info("request continues as new", "request", w.state.ID, "events", info.GetCurrentHistoryLength(),
		"suggested", info.GetContinueAsNewSuggested(), "runs", runs+1)
	return workflow.NewContinueAsNewError(ctx, ServiceRequest, in)
}

// applied says the request applied the update id in this run or an earlier one (revision 4).
func (w *requestWorkflow) applied(id string) bool {
	return id != "" && slices.Contains(w.updates, id)
}

// keepUpdate remembers an update id the request applies, the latest Bounds.Comments of them.
func (w *requestWorkflow) keepUpdate(id string) {
	if id == "" {
		return
	}
	w.updates = append(w.updates, id)
	if most := w.bounds().Comments; len(w.updates) > most {
		w.updates = slices.Clone(w.updates[len(w.updates)-most:])
	}
}

// trimTimeline drops from the state's timeline its oldest events beyond Bounds.Kept, but none
// after upto, the last event the read model is known to hold: a trimmed event is always in the
// audit trail (GET merges it back from there).
func (w *requestWorkflow) trimTimeline(upto int) {
	tl := w.state.Timeline
	k := len(tl) - w.bounds().Kept
	for k > 0 && tl[k-1].Seq > upto {
		k--
	}
	if k > 0 {
		w.state.Timeline = slices.Clone(tl[k:])
	}
}
