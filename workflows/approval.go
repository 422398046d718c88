package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Outcomes of the approval stage.
const (
	approved  = "approved"
	rejected  = "rejected"
	cancelled = "cancelled"
)

// approve runs the policy: auto-approval, then each step whose condition holds, in order. Each
// step waits for decisions in its mode, raced against its reminder, escalation and expiry
// timers; deadlines stop while the request waits on the requester.
func (w *requestWorkflow) approve(ctx workflow.Context) (string, error) {
	policy := w.in.Definition.Approval
	vars := catalog.ConditionVars(w.in.Form, w.in.Quantity, w.in.Requester, w.in.Quote)
	// A run continued as new (revision 4) waits on the step open when the last run ended; the
	// steps before it were decided or skipped, and who decided them counts as before.
	resume := w.resumeStep()
	deciders := map[string]string{}
	if resume != nil {
		for _, a := range w.state.Approvals {
			if a.Step < resume.Step {
				w.noteDeciders(deciders, a)
			}
		}
	}
	if policy.AutoApprove != "" && resume == nil {
		ok, err := catalog.Holds(policy.AutoApprove, vars)
		switch {
		case err != nil:
			// Fail safe: a rule that cannot be evaluated asks people instead.
			w.event(ctx, "approval.auto_failed", "", fmt.Sprintf("auto-approval rule %q: %v; asking the approvers", policy.AutoApprove, err))
		case ok:
			w.event(ctx, "approval.auto", "", fmt.Sprintf("auto-approved: %s", policy.AutoApprove))
			return approved, nil
		}
	}
	for i, step := range policy.Steps {
		if resume != nil {
			if i < resume.Step {
				continue
			}
			resume = nil
			outcome, err := w.awaitStep(ctx, step)
			if err != nil || outcome != approved {
				return outcome, err
			}
			w.noteDeciders(deciders, w.state.Approvals[len(w.state.Approvals)-1])
			continue
		}
		if w.cancelRequested {
			return cancelled, nil
		}
		if step.When != "" {
			ok, err := catalog.Holds(step.When, vars)
			if err != nil {
				w.event(ctx, "approval.condition_failed", "", fmt.Sprintf("step %q condition %q: %v; the step applies", step.Name, step.When, err))
			} else if !ok {
				w.event(ctx, "approval.skipped", "", fmt.Sprintf("step %q does not apply (%s)", step.Name, step.When))
				continue
			}
		}
		exclude := map[string]string{}
		if !policy.AllowRepeatDeciders {
			exclude = deciders
		}
		res, err := w.resolve(ctx, "approvers of "+step.Name, activities.ResolveApproversInput{
			Approvers: step.Approvers, Requester: w.in.Requester, Owner: w.in.Definition.Owner,
			Department: w.in.Definition.Department, Exclude: exclude,
		})
		if err != nil {
			return "", fmt.Errorf("resolve approvers of step %q: %w", step.Name, err)
		}
		required := step.Required(len(res.Approvers))
		var added []activities.Addition
		if w.revision >= 3 {
			// Revision 3: the bar counts from what the step names, and when fewer may decide
			// the step goes up the organisation instead of shrinking or failing.
			required = step.Needs(max(res.Named, len(res.Approvers)+len(res.Excluded)))
			if short := required - len(res.Approvers); short > 0 {
				if added, err = w.fill(ctx, step, res, exclude, required, short); err != nil {
					return "", fmt.Errorf("add approvers to step %q: %w", step.Name, err)
				}
			}
		} else if len(res.Approvers) == 0 {
			return "", temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("approval step %q has no one who may decide", step.Name), ErrNoOne, nil)
		}
		outcome, err := w.runStep(ctx, i, step, res, required, added)
		if err != nil || outcome != approved {
			return outcome, err
		}
		w.noteDeciders(deciders, w.state.Approvals[len(w.state.Approvals)-1])
	}
	return approved, nil
}

// noteDeciders records who decided step s, and why they may not decide a later one.
func (w *requestWorkflow) noteDeciders(deciders map[string]string, s catalog.ApprovalState) {
	for _, a := range s.Approvers {
		if a.Decision != "" {
			who := a.ID
			if a.DecidedBy != nil {
				who = a.DecidedBy.ID
				if w.revision >= 3 {
					// Revision 3: the person a delegate decided for took part too.
					deciders[a.ID] = fmt.Sprintf("%s decided step %q for them already", a.DecidedBy.Name, s.Name)
				}
			}
			deciders[who] = fmt.Sprintf("decided step %q already", s.Name)
		}
	}
}

// fill asks the directory for short more people who may decide step (revision 3): the step's
// escalation, the requester's managers above the step's levels, the service department's head
// and up the head's chain, the admins. The audit trail says whom and why, or that nobody is
// left.
func (w *requestWorkflow) fill(ctx workflow.Context, step catalog.ApprovalStep, res activities.ResolveApproversResult, exclude map[string]string, required, short int) ([]activities.Addition, error) {
	in := activities.FillApproversInput{Need: short, Requester: w.in.Requester, Department: w.in.Definition.Department,
		Escalate: step.Escalate, Exclude: map[string]string{}}
	if step.Approvers.Manager {
		in.Levels = max(step.Approvers.Levels, 1)
	}
	for id, why := range exclude {
		in.Exclude[id] = why
	}
	for _, p := range res.Approvers {
		in.Named = append(in.Named, p.ID)
		in.Exclude[p.ID] = "already an approver of the step"
	}
	for _, x := range res.Excluded {
		in.Named = append(in.Named, x.ID)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, Summary: "add approvers to " + step.Name})
	var dir *activities.Directory
	var out activities.FillApproversResult
	if err := workflow.ExecuteActivity(actx, dir.FillApprovers, in).Get(ctx, &out); err != nil {
		return nil, err
	}
	eligible := len(res.Approvers)
	detail := fmt.Sprintf("step %q needs %d approvals (%s) and %d of the people it names may decide", step.Name, required, step.Mode, eligible)
	var why []string
	for _, a := range out.Added {
		why = append(why, fmt.Sprintf("%s: %s", a.Name, a.Why))
	}
	if len(why) > 0 {
		detail += "; added " + strings.Join(why, "; ")
	}
	if len(out.Added) < short {
		detail += fmt.Sprintf("; nobody else may decide: the step waits with %d approvers (an admin must change the directory), for its escalation or its expiry", eligible+len(out.Added))
		w.event(ctx, "approval.understaffed", "", detail)
		if w.revision >= 4 {
			// Revision 4: the operators are told, so that a step nobody may decide is not
			// found only by reading the audit trail.
			if w.revision >= 5 {
				w.tell(ctx, activities.Notification{Kind: "approval.understaffed", Category: activities.CategoryAction, To: out.Operators,
					Subject: "Nobody may decide: " + w.state.Title(), Text: fmt.Sprintf("%s: %s.", w.state.ID, detail),
					Why: "you operate the service desk"})
			} else {
				w.notify(ctx, out.Operators, "Nobody may decide: "+w.state.Title(), fmt.Sprintf("%s: %s.", w.state.ID, detail))
			}
		}
	} else {
		w.event(ctx, "approval.topped_up", "", detail)
	}
	return out.Added, nil
}

func (w *requestWorkflow) resolve(ctx workflow.Context, summary string, in activities.ResolveApproversInput) (activities.ResolveApproversResult, error) {
	return resolveApprovers(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, Summary: "resolve " + summary}), in)
}

// resolveApprovers runs the ResolveApprovers activity with the options actx carries (requests
// and lifecycles retry differently).
func resolveApprovers(actx workflow.Context, in activities.ResolveApproversInput) (activities.ResolveApproversResult, error) {
	var dir *activities.Directory
	var res activities.ResolveApproversResult
	err := workflow.ExecuteActivity(actx, dir.ResolveApprovers, in).Get(actx, &res)
	return res, err
}

// runStep opens step i and waits until it settles, the request is cancelled, or it expires.
func (w *requestWorkflow) runStep(ctx workflow.Context, i int, step catalog.ApprovalStep, res activities.ResolveApproversResult, required int, added []activities.Addition) (string, error) {
	now := workflow.Now(ctx).UTC()
	a := catalog.ApprovalState{Step: i, Name: step.Name, Mode: step.Mode, Status: catalog.ApprovalPending,
		Required: required, Excluded: res.Excluded, OpenedAt: now, Approvers: []catalog.Approver{}}
	at := func(d catalog.Duration) *time.Time {
		if d <= 0 {
			return nil
		}
		t := w.in.Calendar.Add(now, d.Std()) // business time on the department's calendar
		return &t
	}
	a.RemindAt = at(step.RemindAfter)
	if step.Escalate != nil {
		a.EscalateAt = at(step.Escalate.After)
	}
	if step.Expire != nil {
		a.ExpireAt = at(step.Expire.After)
	}
	names := make([]string, 0, len(res.Approvers))
	for _, p := range res.Approvers {
		a.Approvers = append(a.Approvers, catalog.Approver{PersonRef: p})
		names = append(names, p.Name)
	}
	for _, p := range added {
		a.Approvers = append(a.Approvers, catalog.Approver{PersonRef: p.PersonRef, AddedBy: "fallback"})
		names = append(names, p.Name)
	}
	w.state.Approvals = append(w.state.Approvals, a)
	w.state.Stage = "approval: " + step.Name
	detail := fmt.Sprintf("step %q (%s, %d of %d) asks %s", step.Name, step.Mode, a.Required, len(names), strings.Join(names, ", "))
	for _, x := range res.Excluded {
		detail += fmt.Sprintf("; %s excluded: %s", x.ID, x.Why)
	}
	w.event(ctx, "approval.requested", "", detail)
	if w.revision >= 5 {
		// Revision 5: the approvers' delegates are told too (the activity finds them).
		w.tell(ctx, activities.Notification{Kind: "approval.requested", Category: activities.CategoryAction, To: pendingIDs(&a), Delegates: true,
			Subject: "Approval needed: " + w.state.Title(),
			Text:    fmt.Sprintf("%s asks for %s. Please decide step %q of %s.", w.state.Requester.Name, w.state.Service.Name, step.Name, w.state.ID),
			Facts:   w.requestFacts(), Why: fmt.Sprintf("you approve step %q of %s", step.Name, w.state.ID)})
	} else {
		w.notify(ctx, pendingIDs(&a), "Approval needed: "+w.state.Title(), fmt.Sprintf("Please decide step %q of %s.", step.Name, w.state.ID))
	}
	return w.awaitStep(ctx, step)
}

// awaitStep waits until the open step settles, the request is cancelled, or the step expires;
// it fires the step's deadlines as they come. A request of revision 4 whose history is long
// continues as new here, where it waits on people (continueDue).
func (w *requestWorkflow) awaitStep(ctx workflow.Context, step catalog.ApprovalStep) (string, error) {
	cur := func() *catalog.ApprovalState { return &w.state.Approvals[len(w.state.Approvals)-1] }
	for {
		s := cur()
		if w.cancelRequested {
			text := fmt.Sprintf("%s was withdrawn by the requester; no decision is needed.", w.state.ID)
			if w.revision >= 4 {
				// Revision 4: the notice says why (an operator's cancel, a retiring service).
				text = fmt.Sprintf("%s is cancelled (%s); no decision is needed.", w.state.ID, w.cancelReason)
			}
			if w.revision >= 5 {
				// Revision 5: the subject says the true cause too (a retirement is a retirement).
				w.tell(ctx, activities.Notification{Kind: "approval.cancelled", Category: activities.CategoryOutcome, To: pendingIDs(s),
					Subject: cancelSubject(w.cancelCause) + w.state.Title(), Text: text,
					Why: fmt.Sprintf("you approve step %q of %s", step.Name, w.state.ID)})
			} else {
				w.notify(ctx, pendingIDs(s), "Withdrawn: "+w.state.Title(), text)
			}
			return cancelled, nil
		}
		if s.Status == catalog.ApprovalApproved {
			return approved, nil
		}
		if s.Status == catalog.ApprovalRejected {
			return rejected, nil
		}
		if w.continueDue(ctx) {
			return "", w.continueAsNew(ctx)
		}
		if w.state.Status == catalog.StatusWaitingOnRequester {
			// Deadlines stop while the requester is asked; answering moves them on.
			if err := w.rest(ctx, func() bool {
				return w.state.Status != catalog.StatusWaitingOnRequester || w.cancelRequested || w.continueDue(ctx)
			}, 0, ""); err != nil {
				return "", err
			}
			continue
		}
		next, what := nextDeadline(s)
		wait := time.Duration(0)
		if next != nil {
			wait = next.Sub(workflow.Now(ctx))
			if wait <= 0 {
				w.fire(ctx, step, what)
				continue
			}
		}
		status, waiting := s.Status, w.state.Status
		if err := w.rest(ctx, func() bool {
			return cur().Status != status || w.state.Status != waiting || w.cancelRequested || w.continueDue(ctx)
		}, wait, fmt.Sprintf("approval %s: %s", what, step.Name)); err != nil {
			return "", err
		}
	}
}

// nextDeadline is the earliest deadline of the step that has not fired.
func nextDeadline(s *catalog.ApprovalState) (*time.Time, string) {
	var next *time.Time
	what := ""
	for _, d := range []struct {
		at   *time.Time
		done bool
		name string
	}{{s.RemindAt, s.Reminded, "reminder"}, {s.EscalateAt, s.Escalated, "escalation"}, {s.ExpireAt, false, "expiry"}} {
		if d.at != nil && !d.done && (next == nil || d.at.Before(*next)) {
			next, what = d.at, d.name
		}
	}
	return next, what
}

// fire acts on a deadline that has come.
func (w *requestWorkflow) fire(ctx workflow.Context, step catalog.ApprovalStep, what string) {
	s := &w.state.Approvals[len(w.state.Approvals)-1]
	switch what {
	case "reminder":
		s.Reminded = true
		w.event(ctx, "approval.reminded", "", fmt.Sprintf("step %q: reminded %s", step.Name, strings.Join(pendingIDs(s), ", ")))
		if w.revision >= 5 {
			w.tell(ctx, activities.Notification{Kind: "approval.reminded", Category: activities.CategoryReminder, To: pendingIDs(s), Delegates: true,
				Urgent: step.RemindUrgent, Step: len(w.state.Approvals),
				Subject: "Reminder: approval needed: " + w.state.Title(), Text: fmt.Sprintf("Step %q of %s is waiting for you.", step.Name, w.state.ID),
				Facts: w.requestFacts(), Why: fmt.Sprintf("you approve step %q of %s", step.Name, w.state.ID)})
		} else {
			w.notify(ctx, pendingIDs(s), "Reminder: approval needed: "+w.state.Title(), fmt.Sprintf("Step %q of %s is waiting for you.", step.Name, w.state.ID))
		}
	case "escalation":
		s.Escalated = true
		in := activities.ResolveApproversInput{Requester: w.in.Requester, Owner: w.in.Definition.Owner, Department: w.in.Definition.Department}
		if w.revision >= 3 {
			// Revision 3: an escalation adds nobody who may not decide: who took part in an
			// earlier step (unless repeats are allowed), nor who decided this one already as
			// someone's delegate (the validator answers them 409).
			in.Exclude = map[string]string{}
			if !w.in.Definition.Approval.AllowRepeatDeciders {
				in.Exclude = w.tookPart()
			}
			for _, id := range s.Deciders() {
				in.Exclude[id] = fmt.Sprintf("decided step %q already", step.Name)
			}
		}
		if step.Escalate.To == "manager" {
			in.ManagersOf = pendingIDs(s)
		} else {
			in.Approvers = catalog.Approvers{Group: step.Escalate.Group}
		}
		res, err := w.resolve(ctx, "escalation of "+step.Name, in)
		if err != nil {
			w.event(ctx, "approval.escalation_failed", "", fmt.Sprintf("step %q: %v", step.Name, err))
			return
		}
		s = &w.state.Approvals[len(w.state.Approvals)-1] // the activity yielded; decisions may have come in
		var added []string
		for _, p := range res.Approvers {
			if s.Status != catalog.ApprovalPending || hasApprover(s, p.ID) {
				continue
			}
			s.Approvers = append(s.Approvers, catalog.Approver{PersonRef: p, AddedBy: "escalation"})
			added = append(added, p.ID)
		}
		w.event(ctx, "approval.escalated", "", fmt.Sprintf("step %q escalated to %s: added %s", step.Name, escalationTarget(step.Escalate), strings.Join(added, ", ")))
		if w.revision >= 5 {
			w.tell(ctx, activities.Notification{Kind: "approval.escalated", Category: activities.CategoryReminder, To: added, Delegates: true,
				Urgent: step.Escalate.Urgent, Step: len(w.state.Approvals),
				Subject: "Escalated to you: " + w.state.Title(), Text: fmt.Sprintf("Step %q of %s was escalated to you.", step.Name, w.state.ID),
				Facts: w.requestFacts(), Why: fmt.Sprintf("step %q of %s was escalated to %s", step.Name, w.state.ID, escalationTarget(step.Escalate))})
		} else {
			w.notify(ctx, added, "Escalated to you: "+w.state.Title(), fmt.Sprintf("Step %q of %s was escalated to you.", step.Name, w.state.ID))
		}
	case "expiry":
		now := workflow.Now(ctx).UTC()
		outcome := step.Expire.Outcome
		s.ClosedAt = &now
		s.Outcome = "expired: " + outcome
		switch outcome {
		case catalog.OutcomeApprove:
			s.Status = catalog.ApprovalApproved
		case catalog.OutcomeReject:
			s.Status = catalog.ApprovalRejected
			w.state.Reason = fmt.Sprintf("approval step %q expired undecided and its default is to reject", step.Name)
		case catalog.OutcomeCancel:
			s.Status = catalog.ApprovalRejected
			w.cancelRequested = true
			w.cancelReason = fmt.Sprintf("approval step %q expired undecided and its default is to cancel", step.Name)
			w.cancelCause = causeExpired
		}
		w.event(ctx, "approval.expired", "", fmt.Sprintf("step %q expired: %s", step.Name, outcome))
		if w.revision >= 5 {
			w.tell(ctx, activities.Notification{Kind: "approval.expired", Category: activities.CategoryOutcome, To: pendingIDs(s),
				Subject: "Expired: " + w.state.Title(), Text: fmt.Sprintf("Step %q of %s expired undecided; its default applies: %s.", step.Name, w.state.ID, outcome),
				Why: fmt.Sprintf("you approve step %q of %s", step.Name, w.state.ID)})
		} else {
			w.notify(ctx, pendingIDs(s), "Expired: "+w.state.Title(), fmt.Sprintf("Step %q of %s expired: %s.", step.Name, w.state.ID, outcome))
		}
	}
}

func escalationTarget(x *catalog.Escalation) string {
	if x.To == "group" {
		return "group " + x.Group
	}
	return "the approvers' managers"
}

func hasApprover(s *catalog.ApprovalState, id string) bool {
	for _, a := range s.Approvers {
		if a.ID == id {
			return true
		}
	}
	return false
}

// pendingIDs lists the approvers of a step who have not decided.
func pendingIDs(s *catalog.ApprovalState) []string {
	var out []string
	for _, a := range s.Approvers {
		if a.Decision == "" {
			out = append(out, a.ID)
		}
	}
	return out
}

// notify sends a notification in the background of the workflow; a notification never holds up
// a request (revision 4 and before; revision 5 calls tell).
func (w *requestWorkflow) notify(ctx workflow.Context, to []string, subject, text string) {
	w.notifyWith(ctx, to, subject, text, nil, "")
}

// notifyWith notifies through the log and, when given, a webhook.
func (w *requestWorkflow) notifyWith(ctx workflow.Context, to []string, subject, text string, hook *catalog.Webhook, kind string) {
	w.send(ctx, activities.Notification{To: to, Subject: subject, Text: text, Kind: kind}, hook)
}

// tell sends a notification of revision 5: its kind, category, recipients (people, their
// delegates, groups), texts and facts (docs/NOTIFICATIONS.md has the table).
func (w *requestWorkflow) tell(ctx workflow.Context, n activities.Notification) {
	w.send(ctx, n, nil)
}

// send runs the notify activity in the background of the workflow: the request moves on at
// once; only closing (and continuing as new) waits for notifications in flight (pending), so
// that a mail server that is down delays mail, never a request. Revision 5 gives the
// notification its stable id (the request, its number in the request, its kind) and retries
// with backoff for up to a day; before, ten attempts.
func (w *requestWorkflow) send(ctx workflow.Context, n activities.Notification, hook *catalog.Webhook) {
	if len(n.To) == 0 && len(n.Groups) == 0 {
		return
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10},
		Summary:             "notify " + strings.Join(slices.Concat(n.To, n.Groups), ", "),
	}
	w.pending++
	w.notices++
	n.Request, n.Seq, n.At, n.Department = w.state.ID, w.notices, workflow.Now(ctx).UTC(), w.state.Service.Department
	if w.revision >= 5 {
		n.ID = activities.NotificationID(w.state.ID, w.notices, n.Kind)
		if n.Category == "" {
			n.Category = activities.CategoryReminder // the SLA notices
		}
		opts.RetryPolicy = notifyRetry
		opts.ScheduleToCloseTimeout = notifyBudget
	}
	to := slices.Concat(n.To, n.Groups)
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), (*activities.Notifications).Notify, activities.NotifyInput{Notification: n, Webhook: hook})
	workflow.Go(ctx, func(ctx workflow.Context) {
		var res activities.NotifyResult
		err := f.Get(ctx, &res)
		if err != nil {
			workflow.GetLogger(ctx).Warn("notification failed", "to", to, "error", err)
		}
		w.pending--
		if err == nil && res.Later != nil && w.revision >= 5 {
			w.deferNote(ctx, n, *res.Later)
		}
	})
}

// deferNote sends a notification the notify activity held back for its recipients' working
// hours (revision 5): it sleeps on a durable timer until at, then calls the activity again
// with the workflow's time (recipients mailed already are in the sent-log), as often as it
// answers a later opening. It never holds up the request: a waiting notification is not
// pending (closing and continuing as new do not wait for it); the request closing drops it,
// continuing as new hands it to the next run (Continued.Deferred); a reminder about an
// approval step settled meanwhile is dropped.
func (w *requestWorkflow) deferNote(ctx workflow.Context, n activities.Notification, at time.Time) {
	if w.deferred == nil {
		w.deferred = map[string]DeferredNote{}
	}
	defer delete(w.deferred, n.ID)
	for {
		w.deferred[n.ID] = DeferredNote{Notification: n, At: at}
		if d := at.Sub(workflow.Now(ctx)); d > 0 {
			aw := workflow.AwaitOptions{Timeout: d, TimerOptions: workflow.TimerOptions{Summary: "working hours: " + n.ID}}
			if closed, _ := workflow.AwaitWithOptions(ctx, aw, func() bool { return w.closed }); closed {
				return
			}
		}
		if w.closed || w.settled(n) {
			return
		}
		opts := workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: notifyRetry, ScheduleToCloseTimeout: notifyBudget,
			Summary: "notify in working hours " + strings.Join(slices.Concat(n.To, n.Groups), ", ")}
		w.pending++
		var res activities.NotifyResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), (*activities.Notifications).Notify,
			activities.NotifyInput{Notification: w.stillWaitingOn(n), Now: workflow.Now(ctx).UTC()}).Get(ctx, &res)
		w.pending--
		if err != nil {
			workflow.GetLogger(ctx).Warn("notification failed", "id", n.ID, "error", err)
			return
		}
		if res.Later == nil {
			return
		}
		at = *res.Later
	}
}

// stillWaitingOn is a held reminder or escalation as it goes at opening: to the approvers of its
// step who have still not decided, not to one who decided while it was held (a step of mode all
// or with several approvals required stays open after their decision) nor to one no longer on
// the step (a leaver replaced). Their delegates follow them. With nobody left, the activity
// finds nobody to tell and answers at once. The same activity is scheduled as before, only its
// input differs, so recorded histories replay unchanged (the SDK matches an activity by id and
// type) and requests of revision 5 and 6 in flight get the fix without a revision.
func (w *requestWorkflow) stillWaitingOn(n activities.Notification) activities.Notification {
	if n.Step < 1 || n.Step > len(w.state.Approvals) {
		return n
	}
	pending := pendingIDs(&w.state.Approvals[n.Step-1])
	n.To = slices.DeleteFunc(slices.Clone(n.To), func(id string) bool { return !slices.Contains(pending, id) })
	return n
}

// settled says a reminder or escalation is about an approval step no longer open.
func (w *requestWorkflow) settled(n activities.Notification) bool {
	if n.Step < 1 || n.Step > len(w.state.Approvals) {
		return false
	}
	return w.state.Approvals[n.Step-1].Status != catalog.ApprovalPending
}

// notifyRetry and notifyBudget: a revision 5 notification is retried with backoff (2s, 4s, ...
// at most 5 minutes apart) for up to a day: a mail server that is down for hours still gets
// the mail once it is back.
var notifyRetry = &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute}

const notifyBudget = 24 * time.Hour

// --- decisions ---

// openStep is the step waiting for decisions, if any.
func (w *requestWorkflow) openStep() *catalog.ApprovalState { return w.state.OpenStep() }

// tookPart lists who took part in the request's decided steps (all but the open one), with
// why (catalog.RequestState.TookPart).
func (w *requestWorkflow) tookPart() map[string]string { return w.state.TookPart() }

// setBarred fills the state's Barred and BarredOnBehalf, for the read model's inbox, with the
// rules approverFor applies to a decision.
func (w *requestWorkflow) setBarred() {
	w.state.SetBarred(w.in.Definition.Approval.AllowRepeatDeciders)
}

// approverFor finds whom the actor decides for: themselves, or someone who delegated to them.
// It refuses anyone else, and anyone who already decided this step. When strict (validators
// always; handlers of revision 3 and later), it also refuses the requester, directly or as
// anyone's delegate, and (unless the policy allows repeat deciders) anyone who took part in an
// earlier step, or a delegate deciding for such a person.
func (w *requestWorkflow) approverFor(in DecisionInput, strict bool) (*catalog.ApprovalState, int, error) {
	step := w.openStep()
	if step == nil {
		return nil, 0, temporal.NewApplicationError(fmt.Sprintf("no approval step is open: the request is %s", w.state.Status), ErrConflict)
	}
	if strict && in.Actor.ID == w.state.Requester.ID {
		return nil, 0, temporal.NewApplicationError("nobody decides their own request, neither directly nor as someone's delegate", ErrForbidden)
	}
	if slices.Contains(step.Deciders(), in.Actor.ID) {
		return nil, 0, temporal.NewApplicationError(fmt.Sprintf("%s already decided step %q", in.Actor.ID, step.Name), ErrConflict)
	}
	// The same rules fill the state's Barred and BarredOnBehalf (setBarred), so that the inbox
	// lists a step only to whom this lets decide it.
	barred := map[string]string{}
	if strict {
		barred = w.state.Bars(w.in.Definition.Approval.AllowRepeatDeciders)
		if why, ok := barred[in.Actor.ID]; ok {
			return nil, 0, temporal.NewApplicationError(fmt.Sprintf("%s may not decide step %q: %s (separation of duties)", in.Actor.ID, step.Name, why), ErrForbidden)
		}
	}
	match := -1
	for i, a := range step.Approvers {
		if a.ID == in.Actor.ID {
			match = i
			break
		}
	}
	refused := ""
	if match < 0 {
		for i, a := range step.Approvers {
			for _, principal := range in.OnBehalfOf {
				if a.ID != principal || a.Decision != "" || match >= 0 {
					continue
				}
				if why, ok := barred[principal]; ok {
					refused = fmt.Sprintf("%s may not decide step %q on behalf of %s: %s (separation of duties)", in.Actor.ID, step.Name, principal, why)
					continue
				}
				match = i
			}
		}
	}
	if match < 0 && refused != "" {
		return nil, 0, temporal.NewApplicationError(refused, ErrForbidden)
	}
	if match < 0 {
		return nil, 0, temporal.NewApplicationError(fmt.Sprintf("%s is not an approver of step %q, nor anyone's delegate on it", in.Actor.ID, step.Name), ErrForbidden)
	}
	if step.Approvers[match].Decision != "" {
		return nil, 0, temporal.NewApplicationError(fmt.Sprintf("%s's decision on step %q is made", step.Approvers[match].ID, step.Name), ErrConflict)
	}
	return step, match, nil
}

func (w *requestWorkflow) validateDecision(in DecisionInput) error {
	switch in.Decision {
	case catalog.DecisionApprove:
	case catalog.DecisionReject, catalog.DecisionRequestInfo:
		if isBlank(in.Comment) {
			return temporal.NewApplicationError(fmt.Sprintf("%s needs a comment: the reason, or the question", in.Decision), ErrInvalid)
		}
	default:
		return temporal.NewApplicationError(fmt.Sprintf("decision must be %q, %q or %q", catalog.DecisionApprove, catalog.DecisionReject, catalog.DecisionRequestInfo), ErrInvalid)
	}
	if tooLong(in.Comment) {
		return temporal.NewApplicationError(fmt.Sprintf("the comment may be at most %d characters", maxText), ErrInvalid)
	}
	if in.Decision == catalog.DecisionRequestInfo && w.state.Status == catalog.StatusWaitingOnRequester {
		return temporal.NewApplicationError("the requester has already been asked and has not answered yet", ErrConflict)
	}
	_, _, err := w.approverFor(in, true)
	return err
}

func (w *requestWorkflow) decide(ctx workflow.Context, in DecisionInput) (DecisionResult, error) {
	// The validator refused whom the rules refuse; the handler re-checks against the state as
	// it is now with the rules its revision ran (histories of revision 2 replay as they ran).
	step, i, err := w.approverFor(in, w.revision >= 3)
	if err != nil {
		return DecisionResult{}, err // the state moved on between validation and now
	}
	a := &step.Approvers[i]
	onBehalf := ""
	if a.ID != in.Actor.ID {
		onBehalf = " on behalf of " + a.Name
	}
	if in.Decision == catalog.DecisionRequestInfo {
		w.resumeTo = catalog.StatusPendingApproval
		w.state.Status = catalog.StatusWaitingOnRequester
		w.pausedAt = workflow.Now(ctx).UTC()
		w.responded(ctx, catalog.StopQuestion)
		w.slaPause(ctx)
		w.event(ctx, "approval.info_requested", in.Actor.ID, fmt.Sprintf("step %q%s asks: %s", step.Name, onBehalf, in.Comment))
		w.question(ctx, fmt.Sprintf("%s%s, who approves step %q, asks", in.Actor.Name, onBehalf, step.Name), in.Comment)
		w.awaitRest(ctx)
		return DecisionResult{Status: w.state.Status, Step: step.Step}, nil
	}
	now := workflow.Now(ctx).UTC()
	w.responded(ctx, catalog.StopDecision)
	a.Decision, a.Comment, a.DecidedAt = in.Decision, in.Comment, &now
	if a.ID != in.Actor.ID {
		actor := in.Actor
		a.DecidedBy = &actor
	}
	settleStep(step)
	if step.Status == catalog.ApprovalRejected {
		w.state.Reason = fmt.Sprintf("step %q rejected by %s%s: %s", step.Name, in.Actor.Name, onBehalf, in.Comment)
	}
	if step.Status != catalog.ApprovalPending {
		step.ClosedAt = &now
		if w.state.Status == catalog.StatusWaitingOnRequester {
			w.state.Status = catalog.StatusPendingApproval // a decision settles the step; the question is moot
			w.slaResume(ctx)
		}
	}
	w.event(ctx, "approval."+in.Decision, in.Actor.ID, fmt.Sprintf("step %q%s: %s", step.Name, onBehalf, in.Comment))
	w.awaitRest(ctx)
	return DecisionResult{Status: w.state.Status, Step: step.Step}, nil
}

// settleStep applies the step's mode to its decisions.
func settleStep(s *catalog.ApprovalState) {
	approvals, rejections, pending := 0, 0, 0
	for _, a := range s.Approvers {
		switch a.Decision {
		case catalog.DecisionApprove:
			approvals++
		case catalog.DecisionReject:
			rejections++
		default:
			pending++
		}
	}
	switch {
	case approvals >= s.Required:
		s.Status = catalog.ApprovalApproved
	case s.Mode == catalog.ModeAny && rejections > 0:
		s.Status = catalog.ApprovalRejected
	case rejections > 0 && approvals+pending < s.Required:
		// The required approvals are out of reach. A step with fewer approvers than it needs
		// (nobody else may decide) is not rejected for that alone: it waits for people.
		s.Status = catalog.ApprovalRejected
	}
}
