package workflows

import (
	"fmt"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// People leaving and moving (issue 22). A change the identity provider (or the YAML) makes to
// a person is recorded once (store.RecordChange) and applied by a DirectoryChange workflow
// whose id is the change's key: it ends a leaver's delegations, flags the services they own to
// the department heads, and sends every request in flight that waits on the person the
// DirectoryChangeUpdate, whose update id derives from the key too, so that a retry (of the
// workflow's activity, or of the identity provider's call) changes nothing twice.

// DirectoryChangeUpdate tells a request that a person it waits on left or moved. The handler
// acts only when called; it changes no command sequence of a request that never receives it,
// so it needs no revision.
const DirectoryChangeUpdate = "directory_change"

// Kinds of directory change (as store.ChangeLeft and store.ChangeMoved spell them).
const (
	ChangeLeft  = "left"
	ChangeMoved = "moved"
)

// DirectoryChangeInput is the payload of DirectoryChangeUpdate: who changed (their id and
// name), how (ChangeLeft or ChangeMoved), why in words ("deactivated in the identity provider"),
// and where they sit now (manager and department ids, "" for none).
type DirectoryChangeInput struct {
	Key        string
	Kind       string
	Person     catalog.PersonRef
	Detail     string
	Manager    string
	Department string
}

// DirectoryChangeResult says what the request did: one line per change, and its status after.
type DirectoryChangeResult struct {
	Status  string
	Changes []string
}

// DirectoryChangeUpdateID is the update id a change sends each request under: the same for
// every retry of the change.
func DirectoryChangeUpdateID(key string) string { return "directory-change/" + key }

func (w *requestWorkflow) validateDirectoryChange(in DirectoryChangeInput) error {
	if in.Person.ID == "" {
		return temporal.NewApplicationError("a directory change names the person", ErrInvalid)
	}
	if in.Kind != ChangeLeft && in.Kind != ChangeMoved {
		return temporal.NewApplicationError(fmt.Sprintf("kind must be %q or %q", ChangeLeft, ChangeMoved), ErrInvalid)
	}
	if catalog.Terminal(w.state.Status) || w.closed {
		return temporal.NewApplicationError(fmt.Sprintf("the request is %s", w.state.Status), ErrConflict)
	}
	return nil
}

// directoryChange applies a change to the request: a leaver's pending approval on the open step
// goes to their manager (or the step's escalation, or up the organisation, as a step with too
// few approvers is filled), a task they hold goes back to its group's queue; a requester who
// moved has the steps not yet opened ask their new manager, and the open step too when it asks
// for the manager. Decisions made stay. The audit trail says why, each time.
func (w *requestWorkflow) directoryChange(ctx workflow.Context, in DirectoryChangeInput) (DirectoryChangeResult, error) {
	var did []string
	switch in.Kind {
	case ChangeLeft:
		did = append(did, w.leaverApproval(ctx, in)...)
		did = append(did, w.leaverTasks(ctx, in)...)
	case ChangeMoved:
		if in.Person.ID == w.state.Requester.ID {
			did = append(did, w.requesterMoved(ctx, in)...)
		}
	}
	w.awaitRest(ctx)
	return DirectoryChangeResult{Status: w.state.Status, Changes: did}, nil
}

// whoChanged says what happened to a person, for the audit trail: "Bob Ruiz was deactivated in
// the identity provider".
func whoChanged(in DirectoryChangeInput) string {
	name := in.Person.Name
	if name == "" {
		name = in.Person.ID
	}
	if in.Detail == "" {
		return name + " " + in.Kind
	}
	if in.Kind == ChangeLeft {
		return name + " was " + in.Detail
	}
	return name + " moved (" + in.Detail + ")"
}

// stepBars are who may not be added to the open step s: who took part in an earlier step
// (unless the policy allows repeat deciders), who decided s already, who is on s already. The
// requester is never added (the activities refuse them).
func (w *requestWorkflow) stepBars(s *catalog.ApprovalState) map[string]string {
	bars := map[string]string{}
	if !w.in.Definition.Approval.AllowRepeatDeciders {
		bars = w.tookPart()
	}
	for _, a := range s.Approvers {
		bars[a.ID] = "already an approver of the step"
	}
	for _, id := range s.Deciders() {
		bars[id] = fmt.Sprintf("decided step %q already", s.Name)
	}
	return bars
}

// pendingOn answers the index of id's undecided place on the open step s (-1: none).
func pendingOn(s *catalog.ApprovalState, id string) int {
	for i, a := range s.Approvers {
		if a.ID == id && a.Decision == "" {
			return i
		}
	}
	return -1
}

// leaverApproval re-resolves the leaver's undecided place on the open step: their manager
// first (the same resolver as an escalation to managers, with its bars), else the step's
// escalation and up the organisation (the resolver a step with too few approvers uses). The
// leaver's place goes to that person; when there is nobody the step keeps waiting on the
// leaver's place, the audit trail says so and the operators are told.
func (w *requestWorkflow) leaverApproval(ctx workflow.Context, in DirectoryChangeInput) []string {
	s := w.openStep()
	if s == nil || pendingOn(s, in.Person.ID) < 0 || s.Step >= len(w.in.Definition.Approval.Steps) {
		return nil
	}
	stepNo, spec := s.Step, w.in.Definition.Approval.Steps[s.Step]
	bars := w.stepBars(s)
	res, err := w.resolve(ctx, "the manager of "+in.Person.ID, activities.ResolveApproversInput{
		ManagersOf: []string{in.Person.ID}, Requester: w.in.Requester, Owner: w.in.Definition.Owner,
		Department: w.in.Definition.Department, Exclude: bars,
	})
	var repl *catalog.PersonRef
	why := ""
	switch {
	case err != nil:
		workflow.GetLogger(ctx).Warn("manager of a leaver", "person", in.Person.ID, "error", err)
	case len(res.Approvers) > 0:
		repl, why = &res.Approvers[0], possessive(in.Person)+" manager"
	}
	var operators []string
	if repl == nil {
		fill := activities.FillApproversInput{Need: 1, Requester: w.in.Requester, Department: w.in.Definition.Department,
			Escalate: spec.Escalate, Named: []string{in.Person.ID}, Exclude: bars}
		if spec.Approvers.Manager {
			fill.Levels = max(spec.Approvers.Levels, 1)
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, Summary: "replace " + in.Person.ID + " on " + spec.Name})
		var dir *activities.Directory
		var out activities.FillApproversResult
		if err := workflow.ExecuteActivity(actx, dir.FillApprovers, fill).Get(ctx, &out); err != nil {
			workflow.GetLogger(ctx).Warn("replace a leaver", "person", in.Person.ID, "error", err)
		}
		if len(out.Added) > 0 {
			repl, why = &out.Added[0].PersonRef, out.Added[0].Why
		}
		operators = out.Operators
	}
	// The activities yielded: a decision may have settled the step, or the leaver decided.
	s = w.openStep()
	if s == nil || s.Step != stepNo {
		return nil
	}
	i := pendingOn(s, in.Person.ID)
	if i < 0 {
		return nil
	}
	if repl == nil {
		detail := fmt.Sprintf("approver left: %s; nobody else may decide step %q in their place: it waits for its escalation or expiry (an admin must change the directory)", whoChanged(in), s.Name)
		w.event(ctx, "approval.approver_left", "", detail)
		w.tellOperators(ctx, operators, detail)
		return []string{detail}
	}
	if hasApprover(s, repl.ID) {
		s.Approvers = append(s.Approvers[:i], s.Approvers[i+1:]...)
	} else {
		s.Approvers[i] = catalog.Approver{PersonRef: *repl, AddedBy: "directory"}
	}
	detail := fmt.Sprintf("approver left: %s; step %q now waits on %s (%s)", whoChanged(in), s.Name, repl.Name, why)
	w.event(ctx, "approval.reassigned", "", detail)
	w.askNew(ctx, s, []string{repl.ID}, fmt.Sprintf("%s left", in.Person.Name))
	return []string{detail}
}

// askNew tells people added to the open step that it waits on them.
func (w *requestWorkflow) askNew(ctx workflow.Context, s *catalog.ApprovalState, to []string, cause string) {
	if w.revision >= 5 {
		w.tell(ctx, activities.Notification{Kind: "approval.requested", Category: activities.CategoryAction, To: to, Delegates: true,
			Subject: "Approval needed: " + w.state.Title(),
			Text:    fmt.Sprintf("%s asks for %s. Please decide step %q of %s (%s).", w.state.Requester.Name, w.state.Service.Name, s.Name, w.state.ID, cause),
			Facts:   w.requestFacts(), Why: fmt.Sprintf("you approve step %q of %s", s.Name, w.state.ID)})
		return
	}
	w.notify(ctx, to, "Approval needed: "+w.state.Title(), fmt.Sprintf("Please decide step %q of %s (%s).", s.Name, w.state.ID, cause))
}

func (w *requestWorkflow) tellOperators(ctx workflow.Context, to []string, detail string) {
	if len(to) == 0 {
		return
	}
	w.tell(ctx, activities.Notification{Kind: "approval.understaffed", Category: activities.CategoryAction, To: to,
		Subject: "Nobody may decide: " + w.state.Title(), Text: fmt.Sprintf("%s: %s.", w.state.ID, detail), Why: "you operate the service desk"})
}

func possessive(p catalog.PersonRef) string {
	name := p.Name
	if name == "" {
		name = p.ID
	}
	if strings.HasSuffix(name, "s") {
		return name + "'"
	}
	return name + "'s"
}

// leaverTasks puts the tasks the leaver holds back in their group's queue.
func (w *requestWorkflow) leaverTasks(ctx workflow.Context, in DirectoryChangeInput) []string {
	if w.revision < 4 {
		return nil // before revision 4 a task's state lives in its own child workflow
	}
	var did []string
	for i := range w.state.Tasks {
		t := &w.state.Tasks[i]
		if t.Assignee != in.Person.ID || t.State != catalog.TaskClaimed {
			continue
		}
		t.State, t.Assignee = catalog.TaskOpen, ""
		detail := fmt.Sprintf("assignee left: %s; %s is back in the %s queue", whoChanged(in), t.Name, t.Group)
		w.event(ctx, "task.unassigned", "", detail)
		did = append(did, detail)
		if w.revision >= 5 {
			w.tell(ctx, activities.Notification{Kind: "task.returned", Category: activities.CategoryAction, Groups: []string{t.Group},
				Subject: "Back in your queue: " + t.Name + " for " + w.state.ID,
				Text:    fmt.Sprintf("%s held %s of %s and left; the task is open for your group again.", in.Person.Name, t.Name, w.state.ID),
				Why:     "your group " + t.Group + " fulfils " + t.Name})
		} else {
			w.notify(ctx, []string{t.Group}, "Back in your queue: "+t.Name+" for "+w.state.ID,
				fmt.Sprintf("%s held %s of %s and left; the task is open again.", in.Person.Name, t.Name, w.state.ID))
		}
	}
	return did
}

// requesterMoved records the requester's new manager and department, which the steps not yet
// opened resolve from (they ask the directory at open time, from the requester's manager);
// the open step, when it asks for the requester's manager, is resolved again: its undecided
// approvers the new resolution does not name give their places to those it names. Decisions
// made stay, and nobody is added whom the separation of duties bars.
func (w *requestWorkflow) requesterMoved(ctx workflow.Context, in DirectoryChangeInput) []string {
	if w.in.Requester.Manager == in.Manager && w.in.Requester.Department == in.Department {
		return nil
	}
	w.in.Requester.Manager, w.in.Requester.Department = in.Manager, in.Department
	var did []string
	detail := fmt.Sprintf("requester moved: %s; steps not yet opened ask the new manager", whoChanged(in))
	w.event(ctx, "requester.moved", "", detail)
	did = append(did, detail)
	s := w.openStep()
	if s == nil || s.Step >= len(w.in.Definition.Approval.Steps) {
		return did
	}
	stepNo, spec := s.Step, w.in.Definition.Approval.Steps[s.Step]
	if !spec.Approvers.Manager {
		return did
	}
	bars := map[string]string{}
	if !w.in.Definition.Approval.AllowRepeatDeciders {
		bars = w.tookPart()
	}
	for _, id := range s.Deciders() {
		bars[id] = fmt.Sprintf("decided step %q already", s.Name)
	}
	res, err := w.resolve(ctx, "approvers of "+spec.Name+" after the requester moved", activities.ResolveApproversInput{
		Approvers: spec.Approvers, Requester: w.in.Requester, Owner: w.in.Definition.Owner,
		Department: w.in.Definition.Department, Exclude: bars,
	})
	if err != nil || len(res.Approvers) == 0 {
		if err != nil {
			workflow.GetLogger(ctx).Warn("re-resolve a step", "step", spec.Name, "error", err)
		}
		return did
	}
	s = w.openStep()
	if s == nil || s.Step != stepNo {
		return did
	}
	now := map[string]bool{}
	for _, p := range res.Approvers {
		now[p.ID] = true
	}
	var kept []catalog.Approver
	var dropped, added []string
	var addedIDs []string
	for _, a := range s.Approvers {
		if a.Decision == "" && a.AddedBy == "" && !now[a.ID] {
			dropped = append(dropped, a.Name)
			continue
		}
		kept = append(kept, a)
	}
	s.Approvers = kept
	for _, p := range res.Approvers {
		if hasApprover(s, p.ID) {
			continue
		}
		s.Approvers = append(s.Approvers, catalog.Approver{PersonRef: p, AddedBy: "directory"})
		added, addedIDs = append(added, p.Name), append(addedIDs, p.ID)
	}
	if len(dropped) == 0 && len(added) == 0 {
		return did
	}
	d := fmt.Sprintf("requester moved: %s; step %q now waits on %s", whoChanged(in), s.Name, strings.Join(pendingNames(s), ", "))
	if len(dropped) > 0 {
		d += fmt.Sprintf(" (no longer %s)", strings.Join(dropped, ", "))
	}
	w.event(ctx, "approval.reassigned", "", d)
	w.askNew(ctx, s, addedIDs, fmt.Sprintf("%s moved", w.state.Requester.Name))
	return append(did, d)
}

func pendingNames(s *catalog.ApprovalState) []string {
	var out []string
	for _, a := range s.Approvers {
		if a.Decision == "" {
			out = append(out, a.Name)
		}
	}
	return out
}

// directoryChanged answers a change applied in an earlier run: the current status.
func (w *requestWorkflow) directoryChanged(DirectoryChangeInput) DirectoryChangeResult {
	return DirectoryChangeResult{Status: w.state.Status}
}
