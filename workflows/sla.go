package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/workflow"
)

// The SLA clocks run beside everything else, on durable timers: the workflow sleeps until the
// next warning, breach or escalation instant of a running clock, computed on the department's
// business calendar. Nothing polls.

// slaStart starts the response and resolution clocks for the request's priority.
func (w *requestWorkflow) slaStart(ctx workflow.Context) {
	target, ok := w.in.Definition.SLA.Targets[w.state.Priority]
	if !ok && w.revision >= 3 {
		// Revision 3: a request is never without the clocks its service promises. A priority
		// without a target of its own (a definition applied before the rule) counts on the
		// default priority's targets, and says so in the audit trail.
		var from string
		if target, from, ok = w.in.Definition.SLA.Target(w.state.Priority, w.in.Definition.DefaultPriority()); ok {
			w.event(ctx, "sla.fallback", "", fmt.Sprintf("priority %s has no SLA target; the clocks count on %s's", w.state.Priority, from))
		}
	}
	if !ok {
		return
	}
	now := w.state.SubmittedAt
	for _, c := range []struct {
		name   string
		target catalog.Duration
	}{{catalog.ClockResponse, target.Response}, {catalog.ClockResolution, target.Resolution}} {
		since := now
		w.state.SLA = append(w.state.SLA, catalog.SLAClock{Name: c.name, Target: c.target, RunningSince: &since})
	}
	w.slaRetarget()
}

// reach is the instant a running clock reaches x of business time; nil when it is not running.
func (w *requestWorkflow) reach(c *catalog.SLAClock, x time.Duration) *time.Time {
	if c.RunningSince == nil {
		return nil
	}
	left := x - c.Spent.Std()
	t := *c.RunningSince
	if left > 0 {
		t = w.in.Calendar.Add(*c.RunningSince, left)
	}
	return &t
}

// slaRetarget recomputes due instants and the request's summary of them.
func (w *requestWorkflow) slaRetarget() {
	w.state.DueAt = nil
	for i := range w.state.SLA {
		c := &w.state.SLA[i]
		if c.StoppedAt == nil { // a stopped clock keeps the instant it was due
			c.DueAt = w.reach(c, c.Target.Std())
		}
		if c.Name == catalog.ClockResolution {
			w.state.DueAt = c.DueAt
		}
	}
	w.slaChanges++
}

func (w *requestWorkflow) clock(name string) *catalog.SLAClock {
	for i := range w.state.SLA {
		if w.state.SLA[i].Name == name {
			return &w.state.SLA[i]
		}
	}
	return nil
}

// slaPause stops every running clock (the request waits on the requester), keeping what was spent.
func (w *requestWorkflow) slaPause(ctx workflow.Context) {
	now := workflow.Now(ctx).UTC()
	for i := range w.state.SLA {
		c := &w.state.SLA[i]
		if c.RunningSince != nil && c.StoppedAt == nil {
			c.Spent += catalog.Duration(w.in.Calendar.Between(*c.RunningSince, now))
			c.RunningSince, c.Paused = nil, true
		}
	}
	w.slaRetarget()
}

// slaResume restarts the paused clocks.
func (w *requestWorkflow) slaResume(ctx workflow.Context) {
	now := workflow.Now(ctx).UTC()
	for i := range w.state.SLA {
		if c := &w.state.SLA[i]; c.Paused && c.StoppedAt == nil {
			c.RunningSince, c.Paused = &now, false
		}
	}
	w.slaRetarget()
}

// responded records something that may be the first reply to the requester (catalog.StopDecision,
// StopQuestion...): it stops the response clock when the SLA policy says it does. Before revision
// 3 only decisions, claims and completions did, whatever the policy.
func (w *requestWorkflow) responded(ctx workflow.Context, what string) {
	if w.revision >= 3 {
		if w.in.Definition.SLA.StopsResponse(what) {
			w.slaStop(ctx, catalog.ClockResponse)
		}
		return
	}
	switch what {
	case catalog.StopDecision, catalog.StopClaim, catalog.StopComplete:
		w.slaStop(ctx, catalog.ClockResponse)
	}
}

// slaStop stops a clock for good: met if it had not breached.
func (w *requestWorkflow) slaStop(ctx workflow.Context, name string) {
	c := w.clock(name)
	if c == nil || c.StoppedAt != nil {
		return
	}
	now := workflow.Now(ctx).UTC()
	if c.RunningSince != nil {
		c.Spent += catalog.Duration(w.in.Calendar.Between(*c.RunningSince, now))
	}
	met := !c.Breached && c.Spent <= c.Target
	c.RunningSince, c.Paused, c.StoppedAt, c.Met = nil, false, &now, &met
	w.event(ctx, "sla."+name+"_stopped", "", fmt.Sprintf("%s clock stopped after %s of %s: %s", name, c.Spent, c.Target, map[bool]string{true: "met", false: "missed"}[met]))
	w.slaRetarget()
}

// slaEvent is the next thing a clock does.
type slaEvent struct {
	at    time.Time
	clock string
	kind  string // warning, breach, escalation
	value int    // the warning percent, or the escalation level index
}

func (e slaEvent) summary() string {
	switch e.kind {
	case "warning":
		return fmt.Sprintf("SLA %s %d%% warning", e.clock, e.value)
	case "escalation":
		return fmt.Sprintf("SLA escalation level %d", e.value+1)
	}
	return fmt.Sprintf("SLA %s due", e.clock)
}

// nextSLAEvent is the earliest unfired event of a running clock.
func (w *requestWorkflow) nextSLAEvent() *slaEvent {
	var next *slaEvent
	consider := func(at *time.Time, e slaEvent) {
		if at != nil && (next == nil || at.Before(next.at)) {
			e.at = *at
			next = &e
		}
	}
	for i := range w.state.SLA {
		c := &w.state.SLA[i]
		if c.RunningSince == nil {
			continue
		}
		for _, p := range w.in.Definition.SLA.Warnings {
			if !slices.Contains(c.Warned, p) {
				consider(w.reach(c, c.Target.Std()*time.Duration(p)/100), slaEvent{clock: c.Name, kind: "warning", value: p})
			}
		}
		if !c.Breached {
			consider(w.reach(c, c.Target.Std()), slaEvent{clock: c.Name, kind: "breach"})
		}
		if c.Name == catalog.ClockResolution {
			if lvl := w.state.EscalationLevel; lvl < len(w.in.Definition.SLA.Escalation) {
				if p, err := w.in.Definition.SLA.Escalation[lvl].Point(w.levelsTarget(c)); err == nil {
					consider(w.reach(c, p), slaEvent{clock: c.Name, kind: "escalation", value: lvl})
				}
			}
		}
	}
	return next
}

// levelsTarget is the target the escalation levels of clock c count on. From revision 4 it is
// the resolution target of the priority the request was submitted with (the clock the levels
// were defined on), so a level that raises the priority leaves the next levels at their
// instants: on a 40 h target, breach+8h stays at 48 h of business time after the raise to a
// 24 h priority, instead of firing at once. Before revision 4 the levels followed the current
// target.
func (w *requestWorkflow) levelsTarget(c *catalog.SLAClock) catalog.Duration {
	if w.revision < 4 {
		return c.Target
	}
	if t, _, ok := w.in.Definition.SLA.Target(w.in.Priority, w.in.Definition.DefaultPriority()); ok {
		return t.Resolution
	}
	return c.Target
}

// slaLoop sleeps on a durable timer until the next SLA event, fires it, and starts again
// whenever the clocks change (pause, resume, stop, a new priority).
func (w *requestWorkflow) slaLoop(ctx workflow.Context) {
	for !w.closed {
		seen := w.slaChanges
		next := w.nextSLAEvent()
		if next == nil {
			_ = workflow.Await(ctx, func() bool { return w.slaChanges != seen || w.closed })
			continue
		}
		if wait := next.at.Sub(workflow.Now(ctx)); wait > 0 {
			fired, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait,
				TimerOptions: workflow.TimerOptions{Summary: next.summary()}},
				func() bool { return w.slaChanges != seen || w.closed })
			if err != nil || fired {
				continue // the clocks changed: work out the next event again
			}
		}
		w.slaBusy = true // an escalation may call activities: no continue-as-new meanwhile
		w.fireSLA(ctx, *next)
		w.slaBusy = false
	}
}

func (w *requestWorkflow) fireSLA(ctx workflow.Context, e slaEvent) {
	c := w.clock(e.clock)
	switch e.kind {
	case "warning":
		c.Warned = append(c.Warned, e.value)
		w.event(ctx, "sla.warning", "", fmt.Sprintf("%s clock at %d%% of %s", e.clock, e.value, c.Target))
		w.notifyDept(ctx, w.watchers(), fmt.Sprintf("SLA warning: %s %s at %d%%", w.state.ID, e.clock, e.value), "sla.warning", false)
	case "breach":
		c.Breached = true
		if e.clock == catalog.ClockResolution {
			w.state.Breached = true
		}
		w.event(ctx, "sla.breached", "", fmt.Sprintf("%s target of %s missed", e.clock, c.Target))
		w.notifyDept(ctx, w.watchers(), fmt.Sprintf("SLA breached: %s %s target missed", w.state.ID, e.clock), "sla.breached", false)
	case "escalation":
		w.escalate(ctx, e.value)
	}
	w.slaChanges++
}

// watchers are told about SLA warnings and breaches: the assignees, or the open tasks' groups'
// members are reached through the department webhook; the log names the assignees.
func (w *requestWorkflow) watchers() []string {
	var out []string
	for _, t := range w.state.Tasks {
		if t.Assignee != "" && !catalog.TaskClosed(t.State) {
			out = append(out, t.Assignee)
		}
	}
	if len(out) == 0 {
		out = []string{w.in.Definition.Owner}
	}
	return out
}

// escalate runs level i: each of its actions, each recorded.
func (w *requestWorkflow) escalate(ctx workflow.Context, i int) {
	lvl := w.in.Definition.SLA.Escalation[i]
	w.state.EscalationLevel = i + 1
	w.event(ctx, "sla.escalation", "", fmt.Sprintf("level %d (at %s)", i+1, lvl.At))
	if n := lvl.Notify; n != nil {
		to := slices.Clone(n.People)
		in := activities.ResolveApproversInput{Requester: w.in.Requester}
		for _, g := range n.Groups {
			in.Approvers = catalog.Approvers{Group: g}
			if res, err := w.resolve(ctx, "escalation group "+g, in); err == nil {
				for _, p := range res.Approvers {
					to = append(to, p.ID)
				}
			}
		}
		if n.AssigneeManager {
			var assignees []string
			for _, t := range w.state.Tasks {
				if t.Assignee != "" && !catalog.TaskClosed(t.State) {
					assignees = append(assignees, t.Assignee)
				}
			}
			if len(assignees) > 0 {
				if res, err := w.resolve(ctx, "assignees' managers", activities.ResolveApproversInput{Requester: w.in.Requester, ManagersOf: assignees}); err == nil {
					for _, p := range res.Approvers {
						to = append(to, p.ID)
					}
				}
			}
		}
		slices.Sort(to)
		to = slices.Compact(to)
		w.event(ctx, "sla.escalation.notify", "", fmt.Sprintf("level %d told %s", i+1, strings.Join(to, ", ")))
		w.notifyDept(ctx, to, fmt.Sprintf("Escalation level %d: %s (%s)", i+1, w.state.ID, w.state.Title()), "sla.escalation", lvl.Urgent)
	}
	if g := lvl.Reassign; g != "" {
		var moved []string
		for j := range w.state.Tasks {
			if t := &w.state.Tasks[j]; t.State == catalog.TaskOpen || t.State == catalog.TaskClaimed {
				t.Group, t.State, t.Assignee = g, catalog.TaskOpen, ""
				moved = append(moved, t.ID)
			}
		}
		w.event(ctx, "sla.escalation.reassign", "", fmt.Sprintf("level %d moved %s to %s", i+1, strings.Join(moved, ", "), g))
		w.notifyDept(ctx, []string{g}, fmt.Sprintf("Escalation level %d: %s is now in the queue of %s", i+1, w.state.ID, g), "sla.escalation", lvl.Urgent)
	}
	if lvl.RaisePriority {
		from := w.state.Priority
		if k := slices.Index(catalog.Priorities, from); k >= 0 && k+1 < len(catalog.Priorities) {
			w.setPriority(ctx, catalog.Priorities[k+1])
		}
		w.event(ctx, "sla.escalation.priority", "", fmt.Sprintf("level %d raised the priority from %s to %s", i+1, from, w.state.Priority))
	}
}

// setPriority changes the priority and re-targets the clocks; time already spent is kept.
func (w *requestWorkflow) setPriority(ctx workflow.Context, p string) {
	w.state.Priority = p
	if t, ok := w.in.Definition.SLA.Targets[p]; ok {
		for i := range w.state.SLA {
			c := &w.state.SLA[i]
			switch c.Name {
			case catalog.ClockResponse:
				c.Target = t.Response
			case catalog.ClockResolution:
				c.Target = t.Resolution
			}
		}
	}
	w.slaRetarget()
}

// notifyDept notifies people through the log and the providing department's webhook; urgent
// (an escalation level's urgent) sends outside the people's working hours too (revision 5).
func (w *requestWorkflow) notifyDept(ctx workflow.Context, to []string, subject, kind string, urgent bool) {
	w.send(ctx, activities.Notification{To: to, Subject: subject, Text: fmt.Sprintf("%s: %s", kind, w.state.Title()), Kind: kind, Urgent: urgent}, w.in.Webhook)
}
