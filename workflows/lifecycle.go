package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/calendar"
	"github.com/esmhq/esm/catalog"
	"github.com/robfig/cron/v3"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the ServiceLifecycle workflow.
const (
	LifecycleUpdate = "lifecycle"
	LifecycleQuery  = "lifecycle"
	// RequestClosedSignal tells a service's lifecycle that one of its requests closed.
	RequestClosedSignal = "request_closed"
	// RetireSignal tells a request that its service retired with the cancel policy.
	RetireSignal = "service_retired"
)

// LifecycleRevision is the ServiceLifecycle workflow's workflow.GetVersion change id, read once
// when a run starts (a run keeps the behaviour it started with; continue-as-new moves a service
// on to the newest). Each version changes the workflow's commands:
//
//  1. Issue 15: periodic reviews fall due on the cron in the time zone of the department's
//     calendar, not UTC; when the governance policy names nobody but the draft's author, the
//     review goes to the department head (or, when the head wrote it, the head's manager).
//  2. Issue 15: the review never lowers the bar and never fails for the org chart. Its required
//     approvals count from what the governance policy names before the author is excluded
//     (catalog.ApprovalStep.Needs), and when fewer reviewers remain, the FillApprovers activity
//     adds people (the policy's escalation, the department head and up the head's chain, the
//     admins; never the author), recorded as review.topped_up; with nobody at all, the review
//     waits (review.understaffed) instead of refusing the submission. The review follows the
//     live version's governance policy (a draft never chooses its own reviewers or lowers its
//     own bar); an overdue periodic review without a head to tell, or whose head is the late
//     owner, goes up the chain (FillApprovers) instead of to nobody.
//  3. Issue 16: retirement never hangs. A request_closed signal that arrives before the listing
//     of the requests in flight (or the final check) has answered is remembered, and the
//     request is not waited for; the service is recorded retired by the Retire activity, which
//     checks in the same transaction that the store has no open request of it, and otherwise
//     lists those (a submission written after the listing) for the lifecycle to drain or cancel.
//  4. Issue 16: four eyes holds against every author. Everyone who saved the draft under review
//     (every save since the last published version: DraftAuthors) is its author: the review
//     opened for it excludes them all, not only the last saver, and a new service's first
//     version, reviewed by its own governance policy, goes to the department head and up the
//     chain (FillApprovers, without the draft's own escalation) when that policy names nobody
//     but its authors. (The approve and reject validator refuses every author in every
//     revision: validators are not in history. A run of an earlier revision may thus have opened
//     a review whose only reviewer is a co-author, who is refused; such a review waits until an
//     operator's catalog apply replaces the draft.)
//  5. Issue 16 (task K): a request that signalled request_closed is never waited for again, even
//     when the signal came while it was in InFlight and its row is still open in the store (a
//     request of revision 0 signals, then projects): the final check leaves it out of the late
//     submissions and looks again after a durable timer that backs off (1 s doubling, at most
//     recheckMax) until its row is closed. Before, it joined InFlight again and the service
//     stayed retiring for ever.
//
// Independently of the revision, a save_draft that carries its Definition is stored by the
// lifecycle itself (an activity after the update is accepted): no recorded history holds such an
// update, so the branch replays, and a run started before revision 1 takes drafts the new way
// too. A run of revision 1 or later refuses a save_draft without its Definition.
const LifecycleRevision = "lifecycle-revision"

// lifecycleRevision is the version new lifecycle runs take.
const lifecycleRevision = 5

// recheckMax bounds the wait between two final checks of a retirement whose store still has open
// rows of requests that signalled closed (revision 5): 1 s, 2 s, 4 s... then once a minute.
const recheckMax = time.Minute

// ServiceWorkflowID is the workflow id of a service's lifecycle: service/laptop.
func ServiceWorkflowID(key string) string { return "service/" + key }

// Draft states.
const (
	DraftEditing  = "editing"
	DraftInReview = "in_review"
	DraftApproved = "approved"
)

// Lifecycle actions.
const (
	ActionSaveDraft = "save_draft" // a new draft version: the lifecycle stores it once accepted
	ActionSubmit    = "submit"
	ActionApprove   = "approve"
	ActionReject    = "reject"
	ActionPublish   = "publish"
	ActionDeprecate = "deprecate"
	ActionRetire    = "retire"
	ActionReview    = "review" // the periodic review's outcome
	// ActionApplied records a version published from catalog files (esm catalog apply): an
	// operator's act outside the API, so only a System caller may send it.
	ActionApplied = "applied"
)

// Review outcomes.
const (
	ReviewKeep      = "keep"
	ReviewRevise    = "revise"
	ReviewDeprecate = "deprecate"
	ReviewRetire    = "retire"
)

// LifecycleState is a service's life: its stage, its live version, the draft under way, the
// periodic review, the retirement.
type LifecycleState struct {
	Key         string                 `json:"key"`
	Stage       string                 `json:"stage"`
	Live        int                    `json:"live_version"`
	Draft       int                    `json:"draft_version,omitempty"`
	DraftStatus string                 `json:"draft_status,omitempty"`
	DraftAuthor string                 `json:"draft_author,omitempty"` // saved the draft last: never its reviewer (four eyes)
	Review      *catalog.ApprovalState `json:"review,omitempty"`
	NextReview  *time.Time             `json:"next_review,omitempty"`
	ReviewDue   bool                   `json:"review_due"`
	Escalated   bool                   `json:"review_escalated"`
	Successor   string                 `json:"successor,omitempty"`
	Policy      string                 `json:"retirement_policy,omitempty"`
	InFlight    []string               `json:"in_flight,omitempty"`
	History     []catalog.Event        `json:"history"`
	// DraftAuthors saved the draft under way (DraftAuthor last), each once, in order: every save
	// since the last published version. Each is its author: never its reviewer (four eyes).
	DraftAuthors []string `json:"draft_authors,omitempty"`
	// Runs counts continue-as-new generations.
	Runs int `json:"runs"`
}

// clone is a deep copy of the state, for what leaves the workflow.
func (s LifecycleState) clone() LifecycleState {
	if s.Review != nil {
		r := s.Review.Clone()
		s.Review = &r
	}
	if s.NextReview != nil {
		t := *s.NextReview
		s.NextReview = &t
	}
	s.InFlight, s.History, s.DraftAuthors = slices.Clone(s.InFlight), slices.Clone(s.History), slices.Clone(s.DraftAuthors)
	return s
}

// authors are everyone who saved the draft under way (a state carried over from before
// DraftAuthors knows only the last saver).
func (s LifecycleState) authors() []string {
	if s.DraftAuthor != "" && !slices.Contains(s.DraftAuthors, s.DraftAuthor) {
		return append(slices.Clone(s.DraftAuthors), s.DraftAuthor)
	}
	return s.DraftAuthors
}

// LifecycleInput starts (or continues) a service's lifecycle workflow.
type LifecycleInput struct {
	Key   string
	Stage string // draft for a new service, published for one applied from files
	Live  int
	Draft int
	// State carries everything over when the workflow continues as new.
	State *LifecycleState
	// MaxEvents bounds a run's history events before it continues as new (0: 2000).
	MaxEvents int
}

// LifecycleAction is a transition asked of the lifecycle. The API sets who the actor is to the
// service (owner, department head, in the department, operator, admin) from the stored
// definition that governs the service and the directory, never from a body.
type LifecycleAction struct {
	Actor     catalog.PersonRef
	Owner     bool
	Head      bool
	Staff     bool
	Admin     bool
	System    bool
	Action    string
	Comment   string
	Outcome   string // for review
	Version   int    // for save_draft before lifecycle revision 1: the version the API stored
	Successor string // for retire, overriding the definition's
	// Definition is the draft to store (save_draft): the lifecycle stores it only once it has
	// accepted the change, so a refusal leaves nothing in the store.
	Definition *catalog.Definition `json:",omitempty"`
	// Create marks a new service's first draft: refused when the service has any version.
	Create bool `json:",omitempty"`
}

// LifecycleResult is the state after the action.
type LifecycleResult struct {
	State LifecycleState
}

type lifecycle struct {
	in    LifecycleInput
	st    LifecycleState
	def   catalog.Definition // the live version's definition (or the draft's, before first publish)
	head  string
	zone  string           // the time zone of the department's calendar
	rev   workflow.Version // the LifecycleRevision this run takes
	dirty int              // moves on with every change, to wake the main loop
	// mu serializes the transitions: each one calls activities.
	mu workflow.Mutex
	// estimate counts this run's history events from what it did (the test environment does
	// not count them), as a floor for the server's count.
	estimate int
	// closedEarly holds the requests whose request_closed signal came while they were not in
	// InFlight: a listing under way may still name them (revision 3 leaves them out). From
	// revision 5 it holds every request that signalled closed: one is never waited for again.
	closedEarly map[string]bool
	// rechecks counts the final checks that found only requests which had signalled closed
	// (revision 5: the wait between them backs off, up to recheckMax).
	rechecks int
}

// ServiceLifecycle runs one service's life, for years: drafts and their reviews, publishing,
// periodic reviews on a cron cadence, deprecation and retirement. It continues as new before
// its history grows large.
func ServiceLifecycle(ctx workflow.Context, in LifecycleInput) (LifecycleState, error) {
	l := &lifecycle{in: in, mu: workflow.NewMutex(ctx), closedEarly: map[string]bool{}}
	l.rev = workflow.GetVersion(ctx, LifecycleRevision, workflow.DefaultVersion, lifecycleRevision)
	if in.State != nil {
		l.st = *in.State
		l.st.Runs++
	} else {
		l.st = LifecycleState{Key: in.Key, Stage: in.Stage, Live: in.Live, Draft: in.Draft, History: []catalog.Event{}}
		if in.Draft > 0 {
			l.st.DraftStatus = DraftEditing
		}
	}
	if err := l.setup(ctx); err != nil {
		return l.st, err
	}
	return l.run(ctx)
}

func (l *lifecycle) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, LifecycleQuery, func() (LifecycleState, error) { return l.st.clone(), nil }); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, LifecycleUpdate, l.act, workflow.UpdateHandlerOptions{Validator: l.validate})
}

func (l *lifecycle) actx(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, Summary: summary,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}})
}

// load reads the definition that governs the service now: the live version, else the draft.
func (l *lifecycle) load(ctx workflow.Context) {
	v := l.st.Live
	if v == 0 {
		v = l.st.Draft
	}
	if v == 0 {
		return
	}
	var c *activities.Catalog
	var res activities.DefinitionResult
	if err := workflow.ExecuteActivity(l.actx(ctx, fmt.Sprintf("load %s v%d", l.st.Key, v)), c.Definition,
		activities.DefinitionInput{Key: l.st.Key, Version: v}).Get(ctx, &res); err == nil {
		l.def, l.head, l.zone = res.Definition, res.Head, res.TimeZone
	}
}

// history appends an event to the state's history.
func (l *lifecycle) history(ctx workflow.Context, typ, actor, detail string) {
	now := workflow.Now(ctx).UTC()
	l.st.History = append(l.st.History, catalog.Event{Seq: len(l.st.History) + 1, At: now, Type: typ, Actor: actor, Detail: detail})
	l.estimate += 10 // the update or timer, the activity's three events, the workflow tasks
	l.dirty++
}

// record writes the stage to the store and the event to the history.
func (l *lifecycle) record(ctx workflow.Context, typ, actor, detail string) {
	l.history(ctx, typ, actor, detail)
	now := workflow.Now(ctx).UTC()
	var c *activities.Catalog
	_ = workflow.ExecuteActivity(l.actx(ctx, "record stage "+l.st.Stage), c.SetStage, activities.StageInput{
		Key: l.st.Key, Stage: l.st.Stage, Live: l.st.Live, Draft: l.st.Draft, Successor: l.st.Successor, At: now}).Get(ctx, nil)
}

func (l *lifecycle) run(ctx workflow.Context) (LifecycleState, error) {
	l.load(ctx)
	closed := workflow.GetSignalChannel(ctx, RequestClosedSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var id string
			closed.Receive(ctx, &id)
			if i := slices.Index(l.st.InFlight, id); i >= 0 {
				l.st.InFlight = slices.Delete(l.st.InFlight, i, i+1)
				l.dirty++
				if l.rev >= 5 {
					// Its row may still be open in the store (a request of revision 0 signals,
					// then projects): the final check must not take it for a late submission.
					l.closedEarly[id] = true
				}
			} else {
				l.closedEarly[id] = true
			}
		}
	})
	maxEvents := l.in.MaxEvents
	if maxEvents == 0 {
		maxEvents = 2000
	}
	for {
		if l.st.Stage == catalog.StageRetiring && len(l.st.InFlight) == 0 {
			if l.rev < 3 {
				l.st.Stage = catalog.StageRetired
				l.record(ctx, "retired", "", "no request is left in flight")
			} else if done, err := l.retired(ctx); err != nil {
				return l.cancelled(ctx, err)
			} else if !done {
				continue
			}
		}
		if l.st.Stage == catalog.StageRetired {
			_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
			return l.st, nil
		}
		info := workflow.GetInfo(ctx)
		if max(info.GetCurrentHistoryLength(), l.estimate) > maxEvents || info.GetContinueAsNewSuggested() {
			_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
			next := l.in
			st := l.st
			next.State = &st
			return l.st, workflow.NewContinueAsNewError(ctx, ServiceLifecycle, next)
		}
		seen := l.dirty
		wait, summary := l.nextReviewEvent(ctx)
		if wait < 0 {
			if err := workflow.Await(ctx, func() bool { return l.dirty != seen }); err != nil {
				return l.cancelled(ctx, err)
			}
			continue
		}
		fired, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: max(wait, time.Millisecond),
			TimerOptions: workflow.TimerOptions{Summary: summary}}, func() bool { return l.dirty != seen })
		if err != nil {
			return l.cancelled(ctx, err)
		}
		if fired {
			continue
		}
		l.reviewEvent(ctx)
	}
}

// cancelled ends a run an operator cancelled: once cancelled, Await returns at once, and a loop
// that ignored it would spin until the deadlock detector failed the task. The transitions under
// way finish (their activities see the cancellation) and the run ends cancelled; the store keeps
// the stage last recorded.
func (l *lifecycle) cancelled(ctx workflow.Context, err error) (LifecycleState, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) })
	return l.st, err
}

// nextReviewEvent is how long until the next periodic review event (the review falling due, or
// its escalation), or -1 when none is scheduled.
func (l *lifecycle) nextReviewEvent(ctx workflow.Context) (time.Duration, string) {
	r := l.def.Review
	if r == nil || (l.st.Stage != catalog.StagePublished && l.st.Stage != catalog.StageDeprecated) {
		return -1, ""
	}
	now := workflow.Now(ctx)
	if l.st.NextReview == nil {
		sched, err := cron.ParseStandard(r.Cron)
		if err != nil {
			return -1, ""
		}
		from := now
		if l.rev >= 1 {
			// The cron reads in the department's calendar time (a schedule with its own CRON_TZ
			// keeps it).
			from = now.In(l.location())
		}
		next := sched.Next(from).UTC()
		l.st.NextReview = &next
	}
	if !l.st.ReviewDue {
		return l.st.NextReview.Sub(now), "periodic review due"
	}
	if !l.st.Escalated && r.EscalateAfter > 0 {
		return l.st.NextReview.Add(r.EscalateAfter.Std()).Sub(now), "periodic review overdue"
	}
	return -1, ""
}

// location is the department calendar's time zone (UTC when it has none; an unknown zone,
// which catalog apply refuses, reads as UTC rather than stopping the reviews).
func (l *lifecycle) location() *time.Location {
	loc, err := calendar.Calendar{TimeZone: l.zone}.Location()
	if err != nil {
		return time.UTC
	}
	return loc
}

// reviewEvent fires the due review event: the review falls due (the owner is told), or it is
// overdue (the department head is told).
func (l *lifecycle) reviewEvent(ctx workflow.Context) {
	if !l.st.ReviewDue {
		l.st.ReviewDue = true
		l.record(ctx, "review.due", "", fmt.Sprintf("periodic review of %s is due; the owner %s reviews", l.st.Key, l.def.Owner))
		l.notify(ctx, []string{l.def.Owner}, "Review due: "+l.def.Name, "Keep, revise, deprecate or retire the service.")
		return
	}
	l.st.Escalated = true
	if l.rev >= 2 && (l.head == "" || l.head == l.def.Owner) {
		// Revision 2: no head, or the head is the owner who is late: the next person up (the
		// head's manager, an admin) is told, never nobody and never the owner again.
		var dir *activities.Directory
		var out activities.FillApproversResult
		err := workflow.ExecuteActivity(l.actx(ctx, "find whom to tell"), dir.FillApprovers, activities.FillApproversInput{Need: 1,
			Department: l.def.Department, Exclude: map[string]string{l.def.Owner: "the owner, whose review is overdue"}}).Get(ctx, &out)
		if err != nil || len(out.Added) == 0 {
			l.record(ctx, "review.overdue", "", fmt.Sprintf("periodic review overdue; nobody above the owner %s to tell", l.def.Owner))
			return
		}
		to := out.Added[0]
		l.record(ctx, "review.overdue", "", fmt.Sprintf("periodic review overdue; escalated to %s: %s", to.ID, to.Why))
		l.notify(ctx, []string{to.ID}, "Review overdue: "+l.def.Name, "The owner has not reviewed the service in time.")
		return
	}
	l.record(ctx, "review.overdue", "", fmt.Sprintf("periodic review overdue; escalated to the department head %s", l.head))
	l.notify(ctx, []string{l.head}, "Review overdue: "+l.def.Name, "The owner has not reviewed the service in time.")
}

func (l *lifecycle) notify(ctx workflow.Context, to []string, subject, text string) {
	var n *activities.Notifications
	_ = workflow.ExecuteActivity(l.actx(ctx, "notify"), n.Notify, activities.NotifyInput{Notification: activities.Notification{
		Request: ServiceWorkflowID(l.st.Key), To: to, Subject: subject, Text: text, At: workflow.Now(ctx).UTC()}}).Get(ctx, nil)
}

// --- transitions ---

func refuse(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrConflict)
}

func forbid(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrForbidden)
}

// validate is the transition table: what may happen in which stage, and who may do it.
func (l *lifecycle) validate(a LifecycleAction) error {
	st := l.st
	owner := a.Owner || a.Admin
	ownerOrHead := a.Owner || a.Head || a.Admin
	switch a.Action {
	case ActionApplied:
		if !a.System {
			return forbid("only catalog apply records an applied version")
		}
		if a.Version <= st.Live {
			return refuse("version %d is live already", st.Live)
		}
	case ActionSaveDraft:
		if !(owner || a.Staff) {
			return forbid("only the owner or the department's staff edit a draft")
		}
		if st.Stage == catalog.StageRetiring || st.Stage == catalog.StageRetired {
			return refuse("the service is %s", st.Stage)
		}
		if st.DraftStatus == DraftInReview && !understaffed(st.Review) {
			return refuse("version %d is in review; approve or reject it first", st.Draft)
		}
		if a.Definition == nil {
			if l.rev >= 1 {
				return temporal.NewApplicationError("a draft carries its definition; the lifecycle stores it", ErrInvalid)
			}
			if a.Version <= st.Live || a.Version < st.Draft {
				return temporal.NewApplicationError(fmt.Sprintf("version %d is not newer than %d", a.Version, max(st.Live, st.Draft)), ErrInvalid)
			}
			return nil
		}
		return l.validateDraft(a)
	case ActionSubmit:
		if !owner {
			return forbid("only the owner submits a draft for review")
		}
		if st.Draft == 0 || !(st.DraftStatus == DraftEditing || st.DraftStatus == DraftInReview && understaffed(st.Review)) {
			return refuse("there is no draft being edited")
		}
	case ActionApprove, ActionReject:
		if st.DraftStatus != DraftInReview || st.Review == nil {
			return refuse("no draft is in review")
		}
		// Every revision: whoever saved the draft under review, last or before, is its author.
		if slices.Contains(st.authors(), a.Actor.ID) {
			return forbid("%s saved version %d or an earlier save of it: a draft's author never reviews it (four eyes)", a.Actor.ID, st.Draft)
		}
		if !hasApprover(st.Review, a.Actor.ID) {
			return forbid("%s is not a reviewer of version %d", a.Actor.ID, st.Draft)
		}
		for _, r := range st.Review.Approvers {
			if r.ID == a.Actor.ID && r.Decision != "" {
				return refuse("%s already decided", a.Actor.ID)
			}
		}
		if a.Action == ActionReject && isBlank(a.Comment) {
			return temporal.NewApplicationError("a rejection needs a comment", ErrInvalid)
		}
	case ActionPublish:
		if !ownerOrHead {
			return forbid("only the owner or the department head publishes")
		}
		if st.DraftStatus != DraftApproved {
			return refuse("only an approved draft is published (the draft is %q)", st.DraftStatus)
		}
		if st.Stage == catalog.StageRetiring || st.Stage == catalog.StageRetired {
			return refuse("the service is %s", st.Stage)
		}
	case ActionDeprecate:
		if !ownerOrHead {
			return forbid("only the owner or the department head deprecates")
		}
		if st.Stage != catalog.StagePublished {
			return refuse("only a published service is deprecated (it is %s)", st.Stage)
		}
	case ActionRetire:
		if !(a.Head || a.Admin) {
			return forbid("only the department head retires a service")
		}
		if st.Stage != catalog.StagePublished && st.Stage != catalog.StageDeprecated {
			return refuse("only a published or deprecated service is retired (it is %s)", st.Stage)
		}
	case ActionReview:
		if !ownerOrHead {
			return forbid("only the owner or the department head reviews")
		}
		if !st.ReviewDue {
			return refuse("no review is due")
		}
		switch a.Outcome {
		case ReviewKeep, ReviewRevise, ReviewDeprecate, ReviewRetire:
		default:
			return temporal.NewApplicationError("outcome is keep, revise, deprecate or retire", ErrInvalid)
		}
		if a.Outcome == ReviewRetire && !(a.Head || a.Admin) {
			return forbid("only the department head retires a service")
		}
	default:
		return temporal.NewApplicationError(fmt.Sprintf("unknown action %q", a.Action), ErrInvalid)
	}
	return nil
}

// validateDraft checks a draft that carries its definition: it is this service's, a new
// service's first draft is the first version, and it hands the service to another owner or
// department only when the caller may.
func (l *lifecycle) validateDraft(a LifecycleAction) error {
	d, st := a.Definition, l.st
	if d.Key != st.Key {
		return temporal.NewApplicationError(fmt.Sprintf("the draft is of %q, not %q", d.Key, st.Key), ErrInvalid)
	}
	if a.Create {
		if st.Live > 0 || st.Draft > 0 {
			return refuse("service %q exists; edit its draft instead", st.Key)
		}
		if !(a.Staff || a.Admin) {
			return forbid("only %s's staff create its services", d.Department)
		}
		return nil
	}
	cur := l.def
	if cur.Key == "" {
		return nil // nothing governs yet (the definition could not be loaded)
	}
	if d.Department != cur.Department {
		return temporal.NewApplicationError("the department of a service does not change", ErrInvalid)
	}
	if d.Owner != cur.Owner && !(a.Owner || a.Head || a.Admin) {
		return forbid("only the owner, the department head or an admin gives %s another owner (%s owns it)", st.Key, cur.Owner)
	}
	return nil
}

func (l *lifecycle) act(ctx workflow.Context, a LifecycleAction) (LifecycleResult, error) {
	if err := l.mu.Lock(ctx); err != nil {
		return LifecycleResult{State: l.st}, err
	}
	defer l.mu.Unlock()
	// Another transition may have run while this one waited for the lock.
	if err := l.validate(a); err != nil {
		return LifecycleResult{State: l.st}, err
	}
	who := a.Actor.ID
	switch a.Action {
	case ActionApplied:
		l.st.Live = a.Version
		if l.st.Draft <= a.Version {
			l.st.Draft, l.st.DraftStatus, l.st.Review, l.st.DraftAuthor, l.st.DraftAuthors = 0, "", nil, "", nil
		}
		if l.st.Stage == catalog.StageDraft || l.st.Stage == catalog.StageReview {
			l.st.Stage = catalog.StagePublished
		}
		l.record(ctx, "published", "catalog-apply", fmt.Sprintf("version %d applied from catalog files", a.Version))
		l.load(ctx)
	case ActionSaveDraft:
		v := a.Version
		if a.Definition != nil {
			// Accepted: now the draft is stored (not before, so a refusal leaves no trace).
			var c *activities.Catalog
			var res activities.SaveDraftResult
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, Summary: "save draft",
				RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 5}})
			if err := workflow.ExecuteActivity(actx, c.SaveDraft, activities.SaveDraftInput{Definition: *a.Definition, Known: l.st.Draft,
				At: workflow.Now(ctx).UTC()}).Get(ctx, &res); err != nil {
				return LifecycleResult{State: l.st}, err
			}
			v = res.Version
			if l.st.Live == 0 {
				l.def = *a.Definition // before the first publish, the draft governs
			}
		}
		if l.st.DraftStatus == DraftInReview && l.st.Live == 0 {
			l.st.Stage = catalog.StageDraft // a new draft replaces one whose review was understaffed
		}
		// A save after the last published version adds its author to the draft's; the first
		// save of a new draft starts them afresh.
		authors := l.st.authors()
		if l.st.Draft == 0 {
			authors = nil
		}
		if !slices.Contains(authors, who) {
			authors = append(slices.Clone(authors), who)
		}
		l.st.Draft, l.st.DraftStatus, l.st.Review, l.st.DraftAuthor, l.st.DraftAuthors = v, DraftEditing, nil, who, authors
		what := "version %d"
		if a.Create {
			what = "version %d: the service is created"
		}
		l.record(ctx, "draft.saved", who, fmt.Sprintf(what, v))
	case ActionSubmit:
		if err := l.openReview(ctx); err != nil {
			return LifecycleResult{State: l.st}, err
		}
		l.st.DraftStatus = DraftInReview
		if l.st.Live == 0 {
			l.st.Stage = catalog.StageReview
		}
		names := ""
		for _, r := range l.st.Review.Approvers {
			names += r.ID + " "
		}
		if names == "" {
			names = "nobody yet (review.understaffed says why)"
		}
		l.record(ctx, "draft.submitted", who, fmt.Sprintf("version %d for review by %s", l.st.Draft, names))
		if ids := pendingIDs(l.st.Review); len(ids) > 0 { // nobody only from revision 2 on
			l.notify(ctx, ids, "Review: "+l.st.Key, fmt.Sprintf("Version %d waits for your review.", l.st.Draft))
		}
		if l.rev >= 2 && understaffed(l.st.Review) {
			l.notify(ctx, []string{l.def.Owner}, "Review short of reviewers: "+l.st.Key, fmt.Sprintf(
				"Version %d needs %d approvals and has %d reviewers: nobody else in the directory may review it. Submit it again once the directory has someone, or save a new draft.",
				l.st.Draft, l.st.Review.Required, len(l.st.Review.Approvers)))
		}
	case ActionApprove, ActionReject:
		now := workflow.Now(ctx).UTC()
		for i := range l.st.Review.Approvers {
			if r := &l.st.Review.Approvers[i]; r.ID == who {
				r.Decision, r.Comment, r.DecidedAt = a.Action, a.Comment, &now
			}
		}
		settleStep(l.st.Review)
		switch l.st.Review.Status {
		case catalog.ApprovalApproved:
			l.st.DraftStatus = DraftApproved
		case catalog.ApprovalRejected:
			l.st.DraftStatus = DraftEditing
			if l.st.Live == 0 {
				l.st.Stage = catalog.StageDraft
			}
		}
		l.record(ctx, "review."+a.Action, who, fmt.Sprintf("version %d: %s", l.st.Draft, a.Comment))
	case ActionPublish:
		l.st.Live, l.st.Draft, l.st.DraftStatus, l.st.Review, l.st.DraftAuthor, l.st.DraftAuthors = l.st.Draft, 0, "", nil, "", nil
		if l.st.Stage == catalog.StageDraft || l.st.Stage == catalog.StageReview {
			l.st.Stage = catalog.StagePublished
		}
		l.record(ctx, "published", who, fmt.Sprintf("version %d is live; requests in flight keep the version they pinned", l.st.Live))
		l.load(ctx)
		l.st.NextReview = nil
	case ActionDeprecate:
		l.st.Stage = catalog.StageDeprecated
		l.record(ctx, "deprecated", who, a.Comment)
	case ActionRetire:
		l.retire(ctx, who, a.Successor)
	case ActionReview:
		l.st.ReviewDue, l.st.Escalated, l.st.NextReview = false, false, nil
		l.record(ctx, "review."+a.Outcome, who, a.Comment)
		switch a.Outcome {
		case ReviewDeprecate:
			if l.st.Stage == catalog.StagePublished {
				l.st.Stage = catalog.StageDeprecated
				l.record(ctx, "deprecated", who, "after review")
			}
		case ReviewRetire:
			l.retire(ctx, who, a.Successor)
		}
	}
	l.dirty++
	return LifecycleResult{State: l.st}, nil
}

// openReview resolves the governance reviewers of the draft (the department head by default).
func (l *lifecycle) openReview(ctx workflow.Context) error {
	var c *activities.Catalog
	var draft activities.DefinitionResult
	if err := workflow.ExecuteActivity(l.actx(ctx, "load the draft"), c.Definition,
		activities.DefinitionInput{Key: l.st.Key, Version: l.st.Draft}).Get(ctx, &draft); err != nil {
		return err
	}
	// The policy that governs: the draft's own before revision 2; since, the live version's
	// (a draft never chooses its own reviewers or lowers its own bar), the draft's only for a new
	// service's first version.
	governing := draft.Definition
	if l.rev >= 2 && l.st.Live > 0 && l.def.Key != "" {
		governing = l.def
	}
	step := catalog.ApprovalStep{Name: "review", Mode: catalog.ModeAny, Approvers: catalog.Approvers{DepartmentHead: "service"}}
	if g := governing.Governance; g != nil {
		step = *g
	}
	// Four eyes: whoever saved the draft never reviews it; since revision 4, everyone who saved
	// it since the last published version.
	author := l.st.DraftAuthor
	var exclude map[string]string
	if author != "" {
		exclude = map[string]string{author: fmt.Sprintf("saved version %d: a draft's author never reviews it (four eyes)", l.st.Draft)}
	}
	if l.rev >= 4 {
		for _, id := range l.st.authors() {
			if exclude == nil {
				exclude = map[string]string{}
			}
			if _, ok := exclude[id]; !ok {
				exclude[id] = fmt.Sprintf("saved an earlier save of version %d: a draft's authors never review it (four eyes)", l.st.Draft)
			}
		}
	}
	res, err := resolveApprovers(l.actx(ctx, "resolve reviewers"), activities.ResolveApproversInput{
		Approvers: step.Approvers, Owner: governing.Owner, Department: governing.Department, Exclude: exclude,
	})
	if err != nil {
		return err
	}
	if l.rev >= 4 && l.st.Live == 0 && len(res.Approvers) == 0 {
		// A new service's first version, whose own policy names nobody but its authors (or
		// nobody): the department head and up the chain review it, not whom the draft's own
		// escalation would name.
		step.Escalate = nil
	}
	if l.rev >= 2 {
		return l.staffReview(ctx, step, governing, res, exclude)
	}
	fallback := ""
	if len(res.Approvers) == 0 && author != "" && l.rev >= 1 {
		// Nobody but the author: the review goes up, to the department head, or to the head's
		// manager when the head wrote it.
		up := activities.ResolveApproversInput{Department: draft.Definition.Department, Exclude: exclude}
		if draft.Head != "" && draft.Head != author {
			up.Approvers = catalog.Approvers{DepartmentHead: "service"}
		} else if draft.Head != "" {
			up.ManagersOf = []string{draft.Head}
		}
		if !up.Approvers.Empty() || len(up.ManagersOf) > 0 {
			more, err := resolveApprovers(l.actx(ctx, "resolve reviewers above the author"), up)
			if err != nil {
				return err
			}
			if len(more.Approvers) > 0 {
				res.Approvers, step.Mode = more.Approvers, catalog.ModeAny
				fallback = fmt.Sprintf("the governance policy names nobody but the author %s; the review goes up to %s", author, more.Approvers[0].ID)
			}
		}
	}
	if len(res.Approvers) == 0 {
		if author != "" {
			return refuse("nobody but the author %s may review version %d: the governance policy needs another reviewer", author, l.st.Draft)
		}
		return temporal.NewApplicationError("the governance policy names no reviewer", ErrNoOne)
	}
	a := &catalog.ApprovalState{Name: step.Name, Mode: step.Mode, Status: catalog.ApprovalPending,
		Required: step.Required(len(res.Approvers)), Excluded: res.Excluded, OpenedAt: workflow.Now(ctx).UTC()}
	if fallback != "" {
		l.history(ctx, "review.escalated", "", fallback)
	}
	for _, p := range res.Approvers {
		a.Approvers = append(a.Approvers, catalog.Approver{PersonRef: p})
	}
	l.st.Review = a
	return nil
}

// staffReview opens the review (revision 2) without lowering the bar: the required approvals
// count from what the policy names before the author is excluded, and when fewer reviewers
// remain, FillApprovers adds people (the policy's escalation, the department head and up the
// head's chain, the admins), never the author. With nobody at all, the review waits and the
// audit trail says why; the owner submits again once the directory has someone.
func (l *lifecycle) staffReview(ctx workflow.Context, step catalog.ApprovalStep, draft catalog.Definition, res activities.ResolveApproversResult, exclude map[string]string) error {
	required := step.Needs(max(res.Named, len(res.Approvers)+len(res.Excluded)))
	a := &catalog.ApprovalState{Name: step.Name, Mode: step.Mode, Status: catalog.ApprovalPending,
		Required: required, Excluded: res.Excluded, OpenedAt: workflow.Now(ctx).UTC(), Approvers: []catalog.Approver{}}
	for _, p := range res.Approvers {
		a.Approvers = append(a.Approvers, catalog.Approver{PersonRef: p})
	}
	if short := required - len(res.Approvers); short > 0 {
		in := activities.FillApproversInput{Need: short, Department: draft.Department, Escalate: step.Escalate, Exclude: map[string]string{}}
		for id, why := range exclude {
			in.Exclude[id] = why
		}
		for _, p := range res.Approvers {
			in.Named = append(in.Named, p.ID)
			in.Exclude[p.ID] = "already a reviewer"
		}
		for _, x := range res.Excluded {
			in.Named = append(in.Named, x.ID)
		}
		var dir *activities.Directory
		var out activities.FillApproversResult
		if err := workflow.ExecuteActivity(l.actx(ctx, "add reviewers"), dir.FillApprovers, in).Get(ctx, &out); err != nil {
			return err
		}
		detail := fmt.Sprintf("review %q of version %d needs %d approvals (%s) and %d of the people it names may review", step.Name, l.st.Draft, required, step.Mode, len(res.Approvers))
		for _, x := range res.Excluded {
			detail += fmt.Sprintf("; %s excluded: %s", x.ID, x.Why)
		}
		var why []string
		for _, p := range out.Added {
			a.Approvers = append(a.Approvers, catalog.Approver{PersonRef: p.PersonRef, AddedBy: "fallback"})
			why = append(why, fmt.Sprintf("%s: %s", p.Name, p.Why))
		}
		if len(why) > 0 {
			detail += "; added " + strings.Join(why, "; ")
		}
		if len(out.Added) < short {
			detail += fmt.Sprintf("; nobody else may review: the review waits with %d reviewers until the directory has more and the owner submits again", len(a.Approvers))
			l.history(ctx, "review.understaffed", "", detail)
		} else {
			l.history(ctx, "review.topped_up", "", detail)
		}
	}
	l.st.Review = a
	return nil
}

// understaffed says whether a review in progress cannot reach the approvals it requires with
// the reviewers it has (revision 2 leaves such a review waiting rather than lower its bar).
func understaffed(r *catalog.ApprovalState) bool {
	if r == nil || r.Status != catalog.ApprovalPending {
		return false
	}
	n := 0
	for _, a := range r.Approvers {
		if a.Decision != catalog.DecisionReject {
			n++
		}
	}
	return n < r.Required
}

// retire stops new requests at once and drains or cancels those in flight.
func (l *lifecycle) retire(ctx workflow.Context, who, successor string) {
	policy := catalog.RetireDrain
	if r := l.def.Retirement; r != nil {
		policy = r.Policy
		if successor == "" {
			successor = r.Successor
		}
	}
	// First the store refuses new requests, then the requests in flight are listed (so none is
	// missed), and only then does the state say retiring (so the main loop never sees a
	// retiring service with nothing listed yet).
	var c *activities.Catalog
	_ = workflow.ExecuteActivity(l.actx(ctx, "record stage retiring"), c.SetStage, activities.StageInput{
		Key: l.st.Key, Stage: catalog.StageRetiring, Live: l.st.Live, Draft: l.st.Draft, Successor: successor, At: workflow.Now(ctx).UTC()}).Get(ctx, nil)
	var open activities.OpenRequestsResult
	_ = workflow.ExecuteActivity(l.actx(ctx, "requests in flight"), c.OpenRequests, activities.OpenRequestsInput{Key: l.st.Key}).Get(ctx, &open)
	if l.rev >= 3 {
		open.IDs = l.stillOpen(open.IDs)
	}
	l.st.Stage, l.st.Policy, l.st.Successor, l.st.InFlight = catalog.StageRetiring, policy, successor, open.IDs
	l.history(ctx, "retiring", who, fmt.Sprintf("policy %s; successor %q; in flight: %v", policy, successor, open.IDs))
	if policy == catalog.RetireCancel {
		for _, id := range open.IDs {
			_ = workflow.SignalExternalWorkflow(ctx, RequestWorkflowID(id), "", RetireSignal, "the service "+l.st.Key+" retired").Get(ctx, nil)
		}
	}
}

// stillOpen is ids without the requests that have told the lifecycle they closed (revision 3):
// their signal may come before the answer of the listing that names them.
func (l *lifecycle) stillOpen(ids []string) []string {
	return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return l.closedEarly[id] })
}

// retired records the service retired once the store, in the same transaction, has no open
// request of it (revision 3), and says whether it did. Otherwise the requests it has open were
// written after the lifecycle listed those in flight: they join InFlight, and the cancel policy
// tells them to cancel, as it told the others.
func (l *lifecycle) retired(ctx workflow.Context) (bool, error) {
	var c *activities.Catalog
	var res activities.RetireResult
	if err := workflow.ExecuteActivity(l.actx(ctx, "record stage retired"), c.Retire, activities.RetireInput{
		Key: l.st.Key, Live: l.st.Live, Draft: l.st.Draft, Successor: l.st.Successor, At: workflow.Now(ctx).UTC()}).Get(ctx, &res); err != nil {
		return false, err // the activity retries for ever: the run was cancelled
	}
	if res.Retired {
		l.st.Stage = catalog.StageRetired
		l.closedEarly = map[string]bool{}
		l.history(ctx, "retired", "", "no request is left in flight")
		return true, nil
	}
	late := l.stillOpen(res.Open)
	if len(late) == 0 {
		// Each has told the lifecycle it closed, and its closed state is on its way to the
		// store (a request of revision 0 signals before it projects): look again shortly.
		wait := time.Second
		if l.rev >= 5 {
			wait = min(time.Second<<min(l.rechecks, 6), recheckMax)
			l.rechecks++
		}
		return false, workflow.Sleep(ctx, wait)
	}
	l.st.InFlight = append(l.st.InFlight, late...)
	l.history(ctx, "retiring.late", "", fmt.Sprintf("in flight, written after the listing: %v", late))
	if l.st.Policy == catalog.RetireCancel {
		for _, id := range late {
			_ = workflow.SignalExternalWorkflow(ctx, RequestWorkflowID(id), "", RetireSignal, "the service "+l.st.Key+" retired").Get(ctx, nil)
		}
	}
	return false, nil
}
