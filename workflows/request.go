package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/esmhq/esm/calendar"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RequestInput starts a ServiceRequest: everything the workflow needs is pinned here, so later
// changes to the catalog or the directory never reach a request in flight.
type RequestInput struct {
	Number     int64
	Version    int
	Definition catalog.Definition
	Requester  catalog.Person
	Form       map[string]any
	Quantity   int
	Priority   string
	Quote      *catalog.Quote
	// Calendar is the providing department's business calendar; Webhook its notification
	// endpoint. Both are pinned at submission.
	Calendar calendar.Calendar
	Webhook  *catalog.Webhook
	// Bounds override the bounds of a request's history (tests; nil: the defaults).
	Bounds *Bounds `json:",omitempty"`
	// Continued carries a request of revision 4 into the next run of its workflow, which
	// continues as new where the request lives long (see continueDue).
	Continued *Continued `json:",omitempty"`
}

// Bounds bound what a request's history holds. Zero fields take the defaults.
type Bounds struct {
	// ContinueAfter is the history length, in events, past which a request of revision 4
	// continues as new at its next point of rest (default 4000; the server may suggest it
	// earlier, by its own count or size).
	ContinueAfter int `json:",omitempty"`
	// Kept is how many of its latest events the state's timeline keeps once they are in the
	// read model (default 50); GET merges the rest from the read model's audit trail.
	Kept int `json:",omitempty"`
	// Comments is how many comments a request takes (default 1000); more is a 409.
	Comments int `json:",omitempty"`
}

// Defaults of Bounds.
const (
	defaultContinueAfter = 4000
	defaultKept          = 50
	defaultComments      = 1000
)

// Continued is what one run of a request's workflow hands the next when it continues as new:
// the state (with its timers' instants: SLA clocks, approval deadlines, task targets), the
// revision the request started on, and what the workflow keeps beside the state.
type Continued struct {
	Revision  int
	State     catalog.RequestState
	PausedAt  time.Time `json:",omitempty"`
	ResumeTo  string    `json:",omitempty"`
	Completed []string  `json:",omitempty"` // completedAutomated
	Undos     []string  `json:",omitempty"`
	Notices   int       `json:",omitempty"`
	Comments  int       `json:",omitempty"`
	// Updates are the ids of the latest updates the request applied (at most Bounds.Comments).
	Updates []string `json:",omitempty"`
	// Runs counts the runs before this one.
	Runs int
	// Deferred are the reminders waiting for their recipients' working hours (revision 5),
	// ordered by id: the next run sends them at their instants.
	Deferred []DeferredNote `json:",omitempty"`
}

// DeferredNote is a notification the notify activity held back until At, the opening of a
// recipient's department (activities.NotifyResult.Later).
type DeferredNote struct {
	Notification activities.Notification
	At           time.Time
}

// RequestResult is how a request ended.
type RequestResult struct {
	Status string
	Reason string
}

// SubmitInput is the payload of the submit update; everything it needs is in RequestInput.
type SubmitInput struct{}

// SubmitResult answers a submission synchronously.
type SubmitResult struct {
	ID      string
	Status  string
	Service string
	Version int
	Quote   *catalog.Quote
}

// DecisionInput is an approver's decision. Actor is set by the API from the verified token,
// never from the body.
type DecisionInput struct {
	Actor catalog.PersonRef
	// OnBehalfOf lists the people whose approvals the actor may decide now (they delegated to
	// the actor); the API reads them from the directory.
	OnBehalfOf []string
	Decision   string
	Comment    string
}

// CancelInput withdraws a request; only the requester may.
type CancelInput struct {
	Actor  catalog.PersonRef
	Reason string
}

// CommentInput adds a comment; the requester's comment answers a request for information.
type CommentInput struct {
	Actor catalog.PersonRef
	Text  string
}

// ChangeResult is the request's status after a cancel or a comment.
type ChangeResult struct {
	Status string
}

// maxText bounds comments and reasons, in characters (Unicode code points), as desk.MaxText.
// The validators that apply it are not in any history: counting characters instead of bytes
// needs no revision.
const maxText = 4000

// tooLong says whether text someone typed is past maxText characters.
func tooLong(s string) bool { return utf8.RuneCountInString(s) > maxText }

// DecisionResult is the request's status once the decision has been applied.
type DecisionResult struct {
	Status string
	Step   int
}

// TaskInput acts on a task. Groups are the actor's groups from the directory; Lead says the
// actor leads the task's group (the API knows).
type TaskInput struct {
	Actor   catalog.PersonRef
	Groups  []string
	Lead    bool
	Task    string
	Outputs map[string]any
	// Reason is why a task failed, or the question asked of the requester.
	Reason string
	// Assignee is whom a lead assigns the task to.
	Assignee string
}

// TaskResult is the task and request status after the change.
type TaskResult struct {
	Task    catalog.TaskState
	Status  string
	Request string
}

// StateQueryInput is the (empty) input of the state query.
type StateQueryInput struct{}

// ServiceRequest runs one request from submission to a final status: approval steps in order,
// then the fulfilment tasks, then resolved.
func ServiceRequest(ctx workflow.Context, in RequestInput) (RequestResult, error) {
	w := newRequest(ctx, in)
	if c := in.Continued; c != nil {
		// A run continued from an earlier one keeps the revision the request started on (a
		// GetVersion in a new run would answer the newest).
		w.revision = workflow.Version(c.Revision)
	} else {
		w.revision = workflow.GetVersion(ctx, RequestRevision, workflow.DefaultVersion, requestRevision)
	}
	if err := w.setup(ctx); err != nil {
		return RequestResult{}, err
	}
	if c := in.Continued; c != nil {
		for _, d := range c.Deferred {
			workflow.Go(ctx, func(ctx workflow.Context) { w.deferNote(ctx, d.Notification, d.At) })
		}
	}
	if w.revision >= 4 {
		return w.runToTheEnd(ctx)
	}
	return w.run(ctx)
}

// OperatorCancelReason is the reason of a request an operator cancelled from the Temporal UI or
// CLI (the SDK tells a workflow that it was cancelled, not who cancelled it or why: the cancel
// request's identity and reason are in the history's WorkflowExecutionCancelRequested event).
const OperatorCancelReason = "cancelled by an operator"

// runToTheEnd runs a request of revision 4 on a context that an operator's cancel does not
// cancel, so that every way out ends the same way: projected, told, closed. Once cancelled,
// workflow.Await returns at once with an error, and a loop that ignored it would spin until the
// deadlock detector failed the task; instead the cancel becomes the request's own cancel (as if
// the requester withdrew: open steps and tasks close, completed automated tasks are compensated)
// and the workflow closes as cancelled once the read model holds the final state. A run that
// fails projects a failed state before it returns its error.
func (w *requestWorkflow) runToTheEnd(ctx workflow.Context) (RequestResult, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	w.root = ctx
	workflow.Go(dctx, func(gctx workflow.Context) {
		ctx.Done().Receive(gctx, nil) // closed when an operator cancels the workflow
		if w.closed || w.cancelRequested {
			return // closing already, or withdrawn: that reason stands
		}
		w.cancelRequested, w.cancelReason, w.operatorCancel, w.cancelCause = true, OperatorCancelReason, true, causeOperator
		w.event(gctx, "cancel.operator", "", OperatorCancelReason+" (Temporal UI or CLI)")
	})
	res, err := w.run(dctx)
	var can *workflow.ContinueAsNewError
	if err != nil && !errors.As(err, &can) && !w.closed {
		_, _ = w.finish(dctx, catalog.StatusFailed, err.Error())
		return RequestResult{Status: catalog.StatusFailed, Reason: err.Error()}, err
	}
	if err == nil && w.operatorCancel && res.Status == catalog.StatusCancelled {
		return res, temporal.NewCanceledError(res.Reason)
	}
	return res, err
}

type requestWorkflow struct {
	in    RequestInput
	state catalog.RequestState

	// projected is the highest Seq written to the read model; resting says the main loop is
	// waiting on a person (or has finished). Update handlers return once the workflow is at rest
	// and the read model holds its state, so a caller's next read (a list, an inbox, a queue)
	// already shows the effect of the call.
	projected int64
	resting   bool

	cancelRequested bool
	cancelReason    string
	// cancelCause says who or what cancelled the request (the cause constants), for the texts
	// of revision 5's notifications.
	cancelCause string
	// operatorCancel says the cancel came from an operator (revision 4): the workflow closes as
	// cancelled once the request is.
	operatorCancel bool
	// pausedAt is when the request began waiting on the requester.
	pausedAt time.Time
	// resumeTo is the status to go back to when the requester answers.
	resumeTo string
	// pending counts notifications and signals in flight; the workflow ends after them.
	pending int
	// serviceRetiring says a projection of the closed request found its service retiring.
	serviceRetiring bool
	// opened says the request's first state is in the read model (revision 4 reads the
	// service's stage with it).
	opened bool
	// revision is the RequestRevision the request runs.
	revision workflow.Version
	// root is the workflow's own context (revision 4): a request an operator cancelled does
	// not continue as new. resumed is what the previous run handed this one (nil for a first
	// run); comments counts the request's comments.
	root     workflow.Context
	resumed  *Continued
	comments int
	// updates are the ids of the updates the request applied (revision 4), carried into the
	// next run (Continued.Updates) so that a retry under the same id is not applied twice.
	updates []string
	// fulfilling says a continued run resumes fulfilment (the approval is behind it).
	fulfilling bool
	// slaBusy says the SLA loop is firing an event (it may call activities).
	slaBusy bool

	// children are the task workflows; completedAutomated lists automated tasks in the order they
	// completed (compensation goes the other way); taskChanges moves on with every task change.
	children           map[string]workflow.ChildWorkflowFuture
	completedAutomated []string
	taskChanges        int
	// running counts the automated calls in flight (revision 4); undos are the tasks that undo
	// another by hand, opened when its compensation failed after its retries.
	running int
	undos   map[string]bool

	// slaChanges moves on whenever the SLA clocks change; closed ends the SLA loop; notices
	// numbers the notifications, so a receiver can order them.
	slaChanges int
	closed     bool
	notices    int
	// deferred are the notifications waiting for working hours (revision 5), by id.
	deferred map[string]DeferredNote
}

func newRequest(ctx workflow.Context, in RequestInput) *requestWorkflow {
	if c := in.Continued; c != nil {
		return resumeRequest(in, c)
	}
	now := workflow.Now(ctx).UTC()
	d := in.Definition
	id := catalog.RequestID(in.Number)
	w := &requestWorkflow{in: in}
	w.state = catalog.RequestState{
		ID:     id,
		Number: in.Number,
		Service: catalog.ServiceRef{
			Key: d.Key, Name: d.Name, Department: d.Department, Version: in.Version,
		},
		Requester:   catalog.PersonRef{ID: in.Requester.ID, Name: in.Requester.Name, Department: in.Requester.Department},
		Form:        in.Form,
		Quantity:    in.Quantity,
		Priority:    in.Priority,
		Quote:       in.Quote,
		Status:      catalog.StatusPendingApproval,
		Stage:       "submitted",
		SubmittedAt: now,
		UpdatedAt:   now,
		Approvals:   []catalog.ApprovalState{},
		SLA:         []catalog.SLAClock{},
		Tasks:       make([]catalog.TaskState, 0, len(d.Fulfilment.Tasks)),
		Timeline:    []catalog.Event{},
	}
	for _, t := range d.Fulfilment.Tasks {
		w.state.Tasks = append(w.state.Tasks, catalog.TaskState{
			Ref: catalog.TaskRef(id, t.ID), ID: t.ID, Name: t.Name, Group: t.Group, Kind: t.Kind, State: catalog.TaskWaiting, Needs: t.Needs,
		})
	}
	w.event(ctx, "submitted", in.Requester.ID, fmt.Sprintf("%s v%d, priority %s", d.Key, in.Version, in.Priority))
	return w
}

// setup registers every handler before the first blocking call.
func (w *requestWorkflow) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, StateQuery, func(StateQueryInput) (catalog.RequestState, error) {
		st := w.state.Clone().UTC() // a deep copy; deadlines on a calendar carry its zone; answers are UTC
		st.SetBarred(w.in.Definition.Approval.AllowRepeatDeciders)
		st.SetActionable() // what the task validators accept now
		return st, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, SubmitUpdate, handled(w, func(ctx workflow.Context, _ SubmitInput) (SubmitResult, error) {
		// The first submission waits until the request is in the read model and with its
		// approvers, so the requester's list and the approvers' inboxes already show it.
		w.awaitRest(ctx)
		return SubmitResult{ID: w.state.ID, Status: w.state.Status, Service: w.state.Service.Key, Version: w.state.Service.Version, Quote: w.state.Quote}, nil
	}, nil)); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, DecideUpdate, handled(w, w.decide, w.decided),
		workflow.UpdateHandlerOptions{Validator: validated(w, w.validateDecision)}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, CancelUpdate, handled(w, w.cancel, changed[CancelInput](w)),
		workflow.UpdateHandlerOptions{Validator: validated(w, w.validateCancel)}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, CommentUpdate, handled(w, w.comment, changed[CommentInput](w)),
		workflow.UpdateHandlerOptions{Validator: validated(w, w.validateComment)}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, DirectoryChangeUpdate, handled(w, w.directoryChange, w.directoryChanged),
		workflow.UpdateHandlerOptions{Validator: validated(w, w.validateDirectoryChange)}); err != nil {
		return err
	}
	for _, u := range []struct {
		name      string
		handler   func(workflow.Context, TaskInput) (TaskResult, error)
		validator func(TaskInput) error
	}{
		{ClaimTaskUpdate, w.claim, w.validateClaim},
		{ReleaseTaskUpdate, w.release, w.validateRelease},
		{AssignTaskUpdate, w.assign, w.validateAssign},
		{CompleteTaskUpdate, w.complete, w.validateComplete},
		{FailTaskUpdate, w.fail, w.validateFail},
		{AskTaskUpdate, w.ask, w.validateAsk},
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, handled(w, u.handler, w.taskResult),
			workflow.UpdateHandlerOptions{Validator: validated(w, u.validator)}); err != nil {
			return err
		}
	}
	return nil
}

// handled wraps an update handler (every one setup registers). On revision 4 the handler runs
// on a context an operator's cancel does not cancel (as the main loop does, runToTheEnd): a
// request cancelled by an operator lives on while its undo tasks are open, and its handlers'
// notifications and awaitRest must work. And Temporal deduplicates an update id within one run
// only: an update the request applied in an earlier run (its id is in Continued.Updates) is not
// applied again; answer tells the caller the current state instead. A nil answer: the handler
// changes nothing, its id is not kept.
func handled[I, O any](w *requestWorkflow, fn func(workflow.Context, I) (O, error), answer func(I) O) func(workflow.Context, I) (O, error) {
	return func(ctx workflow.Context, in I) (O, error) {
		if w.revision < 4 {
			return fn(ctx, in)
		}
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if answer != nil {
			id := workflow.GetCurrentUpdateInfo(ctx).ID
			if w.applied(id) {
				w.awaitRest(dctx)
				return answer(in), nil
			}
			w.keepUpdate(id)
		}
		return fn(dctx, in)
	}
}

// validated wraps an update validator: on revision 4, an update the request applied in an
// earlier run passes (its handler answers the current state without applying it again).
func validated[I any](w *requestWorkflow, fn func(I) error) func(workflow.Context, I) error {
	return func(ctx workflow.Context, in I) error {
		if w.revision >= 4 && w.applied(workflow.GetCurrentUpdateInfo(ctx).ID) {
			return nil
		}
		return fn(in)
	}
}

// changed answers a cancel or a comment applied in an earlier run.
func changed[I any](w *requestWorkflow) func(I) ChangeResult {
	return func(I) ChangeResult { return ChangeResult{Status: w.state.Status} }
}

// decided answers a decision applied in an earlier run: the request's status and the latest
// step the actor decided.
func (w *requestWorkflow) decided(in DecisionInput) DecisionResult {
	r := DecisionResult{Status: w.state.Status}
	for _, st := range w.state.Approvals {
		for _, a := range st.Approvers {
			if a.Decision != "" && (a.ID == in.Actor.ID || (a.DecidedBy != nil && a.DecidedBy.ID == in.Actor.ID)) {
				r.Step = st.Step
			}
		}
	}
	return r
}

// taskResult answers a task update applied in an earlier run.
func (w *requestWorkflow) taskResult(in TaskInput) TaskResult {
	if w.task(in.Task) == nil {
		return TaskResult{Status: w.state.Status, Request: w.state.ID}
	}
	return w.result(in)
}

func (w *requestWorkflow) run(ctx workflow.Context) (RequestResult, error) {
	workflow.Go(ctx, w.projector)
	workflow.Go(ctx, w.onTaskEvents)
	workflow.Go(ctx, func(ctx workflow.Context) {
		// The service retired with the cancel policy: the request cancels itself (and compensates).
		var why string
		workflow.GetSignalChannel(ctx, RetireSignal).Receive(ctx, &why)
		if !w.cancelRequested && !w.closed {
			w.cancelRequested, w.cancelReason, w.cancelCause = true, why, causeRetired
			w.event(ctx, "cancel.retired", "", why)
		}
	})
	if w.resumed == nil {
		w.slaStart(ctx) // a continued run has the clocks in its state
	}
	workflow.Go(ctx, w.slaLoop)
	if w.revision < 2 {
		// Before revision 2 the projector took what the state showed when it first ran for
		// what this upsert had shown: an auto-approved request kept showing submitted.
		w.upsertSearchAttributes(ctx)
	}

	outcome, err := approved, error(nil)
	fulfilling := w.fulfilling // continued during fulfilment
	if !fulfilling {
		outcome, err = w.approve(ctx)
	}
	var can *workflow.ContinueAsNewError
	switch {
	case errors.As(err, &can):
		return RequestResult{}, err
	case err != nil:
		return w.finish(ctx, catalog.StatusFailed, err.Error())
	case outcome == cancelled:
		return w.finish(ctx, catalog.StatusCancelled, w.cancelReason)
	case outcome == rejected:
		return w.finish(ctx, catalog.StatusRejected, w.state.Reason)
	}
	if !fulfilling {
		w.state.Status = catalog.StatusInFulfilment
		if w.revision >= 5 && len(w.state.Approvals) > 0 {
			w.tell(ctx, activities.Notification{Kind: "request.approved", Category: activities.CategoryOutcome, To: []string{w.state.Requester.ID},
				Subject: "Approved: " + w.state.Title(), Text: fmt.Sprintf("%s is approved; its fulfilment begins.", w.state.ID),
				Why: "you requested " + w.state.ID})
		}
	}
	status, reason := w.fulfilPlan(ctx)
	if status == continuing {
		return RequestResult{}, w.continueAsNew(ctx)
	}
	return w.finish(ctx, status, reason)
}

func (w *requestWorkflow) finish(ctx workflow.Context, status, reason string) (RequestResult, error) {
	w.slaStop(ctx, catalog.ClockResponse)
	w.slaStop(ctx, catalog.ClockResolution)
	w.closed = true
	now := workflow.Now(ctx).UTC()
	w.state.Status = status
	w.state.Stage = status
	w.state.Reason = reason
	w.state.ClosedAt = &now
	w.event(ctx, status, "", reason)
	if w.revision >= 5 {
		w.tellOutcome(ctx, status, reason)
	}
	w.resting = true
	// Revision 1: a request tells its service's lifecycle that it closed only when the lifecycle
	// waits for it (the service is retiring, as the projection of the closed state finds), not
	// every time: that took a workflow task off every request, and a signal (and a workflow
	// task) per closed request off the service's lifecycle. Before it, every request signalled.
	if w.revision < 1 {
		w.signalClosed(ctx)
	} else {
		_ = workflow.Await(ctx, func() bool { return w.projected >= w.state.Seq })
		if w.serviceRetiring {
			w.signalClosed(ctx)
		}
	}
	if w.revision >= 6 {
		w.startRetention(ctx)
	}
	// Every handler, and the last projection, finish before the workflow does.
	_ = workflow.Await(ctx, func() bool {
		return w.projected >= w.state.Seq && w.pending == 0 && workflow.AllHandlersFinished(ctx)
	})
	return RequestResult{Status: status, Reason: reason}, nil
}

// startRetention starts the request's RequestRetention (revision 6) when its pinned definition
// keeps files for a while: an abandoned child, so the request closes now and the retention runs
// on, on its own (retention/<request>). It waits until the child has started, as a child the
// parent never saw start would be lost with it; one already started (a retried close) is fine.
// It runs once the closed state is in the read model, so the deletion's event comes after it.
func (w *requestWorkflow) startRetention(ctx workflow.Context) {
	d := w.in.Definition
	if d.Retention <= 0 || d.Attachments == nil || w.state.ClosedAt == nil {
		return
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        RetentionWorkflowID(w.state.ID),
		TaskQueue:         TaskQueue,
		ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     "files of " + w.state.ID + " deleted " + d.Retention.String() + " after closing",
	})
	child := workflow.ExecuteChildWorkflow(cctx, RequestRetention, RetentionInput{Request: w.state.ID, ClosedAt: *w.state.ClosedAt, Retention: d.Retention})
	_ = child.GetChildWorkflowExecution().Get(ctx, nil) // started, or already there
}

// signalClosed tells the service's lifecycle, which may be draining, that the request closed;
// the lifecycle may not exist, which is fine.
func (w *requestWorkflow) signalClosed(ctx workflow.Context) {
	w.pending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.pending-- }()
		_ = workflow.SignalExternalWorkflow(ctx, ServiceWorkflowID(w.state.Service.Key), "", RequestClosedSignal, w.state.ID).Get(ctx, nil)
	})
}

// event records a transition: the timeline grows, the sequence moves on.
func (w *requestWorkflow) event(ctx workflow.Context, typ, actor, detail string) {
	w.state.Seq++
	now := workflow.Now(ctx).UTC()
	w.state.UpdatedAt = now
	w.state.Timeline = append(w.state.Timeline, catalog.Event{
		Seq: w.state.NextEventSeq(), At: now, Type: typ, Actor: actor, Detail: detail,
	})
}

// rest waits on a person: until cond holds (or timeout passes, when positive), the workflow is
// at rest. summary names the timer in the history.
func (w *requestWorkflow) rest(ctx workflow.Context, cond func() bool, timeout time.Duration, summary string) error {
	w.resting = true
	defer func() { w.resting = false }()
	if timeout <= 0 {
		return workflow.Await(ctx, cond)
	}
	_, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: timeout, TimerOptions: workflow.TimerOptions{Summary: summary}}, cond)
	return err
}

// --- cancel and comments ---

func (w *requestWorkflow) validateCancel(in CancelInput) error {
	if in.Actor.ID != w.state.Requester.ID {
		return temporal.NewApplicationError("only the requester may withdraw a request", ErrForbidden)
	}
	if catalog.Terminal(w.state.Status) || w.cancelRequested {
		return temporal.NewApplicationError(fmt.Sprintf("the request is %s", w.state.Status), ErrConflict)
	}
	if tooLong(in.Reason) {
		return temporal.NewApplicationError(fmt.Sprintf("the reason may be at most %d characters", maxText), ErrInvalid)
	}
	return nil
}

func (w *requestWorkflow) cancel(ctx workflow.Context, in CancelInput) (ChangeResult, error) {
	w.cancelRequested = true
	w.cancelReason = "withdrawn by the requester"
	w.cancelCause = causeRequester
	if !isBlank(in.Reason) {
		w.cancelReason += ": " + in.Reason
	}
	w.event(ctx, "cancel.requested", in.Actor.ID, in.Reason)
	w.awaitRest(ctx)
	return ChangeResult{Status: w.state.Status}, nil
}

func (w *requestWorkflow) validateComment(in CommentInput) error {
	if isBlank(in.Text) {
		return temporal.NewApplicationError("a comment needs text", ErrInvalid)
	}
	if tooLong(in.Text) {
		return temporal.NewApplicationError(fmt.Sprintf("a comment may be at most %d characters", maxText), ErrInvalid)
	}
	if catalog.Terminal(w.state.Status) {
		return temporal.NewApplicationError(fmt.Sprintf("the request is %s", w.state.Status), ErrConflict)
	}
	// The requester's answer to a question is always taken: the request waits on it, and
	// nothing else can move the request (the task updates are refused meanwhile).
	answer := in.Actor.ID == w.state.Requester.ID && w.state.Status == catalog.StatusWaitingOnRequester
	if most := w.bounds().Comments; w.comments >= most && !answer {
		return temporal.NewApplicationError(fmt.Sprintf("the request has %d comments, the most a request takes: open a new request, or reach the people on it another way", most), ErrConflict)
	}
	return nil
}

// comment records a comment. The requester's comment while the request waits on them is the
// answer: the request resumes and the paused deadlines move on by the time spent waiting.
func (w *requestWorkflow) comment(ctx workflow.Context, in CommentInput) (ChangeResult, error) {
	w.comments++
	w.event(ctx, "comment", in.Actor.ID, in.Text)
	if in.Actor.ID != w.state.Requester.ID {
		w.responded(ctx, catalog.StopComment) // a reply to the requester
	}
	if in.Actor.ID == w.state.Requester.ID && w.state.Status == catalog.StatusWaitingOnRequester {
		now := workflow.Now(ctx)
		paused := now.Sub(w.pausedAt)
		if step := w.openStep(); step != nil {
			for _, t := range []**time.Time{&step.RemindAt, &step.EscalateAt, &step.ExpireAt} {
				if *t == nil {
					continue
				}
				// Revision 4: a deadline keeps the business time it had left when the question
				// was asked, as the SLA clocks do (due Monday 11:00, asked Friday 16:00, answered
				// Monday 09:00: due Monday 14:00 on a 08:00-18:00 calendar). Before, it moved by
				// the wall-clock time spent waiting (to Thursday 04:00).
				moved := (*t).Add(paused)
				if w.revision >= 4 {
					moved = w.in.Calendar.Add(now, w.in.Calendar.Between(w.pausedAt, **t))
				}
				*t = &moved
			}
		}
		w.state.Status = w.resumeTo
		w.slaResume(ctx)
		w.event(ctx, "info.answered", in.Actor.ID, fmt.Sprintf("after %s; the request resumes", paused.Round(time.Second)))
	}
	w.awaitRest(ctx)
	return ChangeResult{Status: w.state.Status}, nil
}

// awaitRest blocks until the workflow is at rest and the read model holds its latest state.
// A handler that changed the state moved Seq past projected, so it cannot pass before the main
// loop has reacted to the change and the result has been written.
func (w *requestWorkflow) awaitRest(ctx workflow.Context) {
	_ = workflow.Await(ctx, func() bool { return w.resting && w.projected == w.state.Seq })
}

// projector writes every new state to the read model, one write at a time, coalescing changes
// that arrive while a write is under way.
func (w *requestWorkflow) projector(ctx workflow.Context) {
	// A local activity: the read model is written by the worker that runs the workflow task,
	// without a round trip through the task queue (docs/BENCHMARKS.md says what it bought).
	actx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// The database being down must delay the read model, never lose a state: retry forever.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
		Summary:     "write read model",
	})
	var proj *activities.Projection
	upserted := "" // revision 2: what the search attributes show, as last upserted
	if w.revision < 2 || w.resumed != nil {
		// A continued run starts with the search attributes the last one upserted.
		upserted = w.searchKey()
	}
	if w.resumed != nil {
		workflow.SetCurrentDetails(ctx, w.board())
	}
	for {
		_ = workflow.Await(ctx, func() bool { return w.state.Seq > w.projected })
		seq := w.state.Seq
		if k := w.searchKey(); k != upserted {
			upserted = k
			w.upsertSearchAttributes(ctx)
		}
		// The task board, for the Temporal UI's current details (not a command: no history).
		workflow.SetCurrentDetails(ctx, w.board())
		w.setBarred() // who may not decide the open step, for the inbox
		var res activities.ProjectResult
		// A deep copy: the local activity runs on a goroutine of its own and may still be
		// writing while the workflow takes the next update and changes its state.
		// Revision 4: the first write reads the service's stage too (store.ProjectOpening).
		opening := w.revision >= 4 && !w.opened
		upto := w.state.NextEventSeq() - 1 // the events this write appends to the audit trail
		err := workflow.ExecuteLocalActivity(actx, proj.Project, activities.ProjectInput{State: w.state.Clone(), Opening: opening}).Get(ctx, &res)
		if err != nil {
			workflow.GetLogger(ctx).Error("project request", "error", err)
			continue
		}
		w.serviceRetiring = w.serviceRetiring || res.ServiceRetiring
		w.projected = seq
		if w.revision >= 4 {
			w.trimTimeline(upto) // only events the read model holds now
		}
		if opening {
			w.opened = true
			w.openedOnRetired(ctx, res.ServiceStage)
		}
	}
}

// openedOnRetired handles a request first written when its service had retired (revision 4): it
// passed the API's stage check before the retirement, and its service's lifecycle, which found
// no request in flight, has ended. Nobody would drain it, and the service takes no requests:
// it cancels itself, as the cancel policy would. (A request first written while the service is
// retiring needs nothing: the lifecycle finds it before it retires, store.Retire.)
func (w *requestWorkflow) openedOnRetired(ctx workflow.Context, stage string) {
	if stage != catalog.StageRetired || w.cancelRequested || w.closed {
		return
	}
	why := "the service " + w.state.Service.Key + " retired before the request was recorded"
	w.cancelRequested, w.cancelReason, w.cancelCause = true, why, causeRetired
	w.event(ctx, "cancel.retired", "", why)
}

// searchKey is what the search attributes show; they are upserted when it changes.
func (w *requestWorkflow) searchKey() string {
	due := ""
	if w.state.DueAt != nil {
		due = w.state.DueAt.UTC().Format(time.RFC3339)
	}
	key := fmt.Sprintf("%s|%s|%s|%v|%s", w.state.Status, w.state.Stage, w.state.Priority, w.state.Breached, due)
	if w.revision >= 4 {
		key += "|" + strings.Join(w.openGroups(), ",")
	}
	return key
}

func (w *requestWorkflow) upsertSearchAttributes(ctx workflow.Context) {
	due := AttrDueAt.ValueUnset()
	if w.state.DueAt != nil {
		due = AttrDueAt.ValueSet(*w.state.DueAt)
	}
	updates := []temporal.SearchAttributeUpdate{
		AttrService.ValueSet(w.state.Service.Key),
		AttrDepartment.ValueSet(w.state.Service.Department),
		AttrStatus.ValueSet(w.state.Status),
		AttrPriority.ValueSet(w.state.Priority),
		AttrStage.ValueSet(w.state.Stage),
		AttrBreached.ValueSet(w.state.Breached),
		due,
	}
	if w.revision >= 4 { // the groups with open work, for the operator's "waiting on my group"
		if groups := w.openGroups(); len(groups) > 0 {
			updates = append(updates, AttrOpenGroups.ValueSet(groups))
		} else {
			updates = append(updates, AttrOpenGroups.ValueUnset())
		}
	}
	err := workflow.UpsertTypedSearchAttributes(ctx, updates...)
	if err != nil {
		workflow.GetLogger(ctx).Error("upsert search attributes", "error", err)
	}
}

// Causes of a cancel (requestWorkflow.cancelCause).
const (
	causeRequester = "requester"
	causeOperator  = "operator"
	causeRetired   = "retired"
	causeExpired   = "expired"
)

// cancelSubject begins the subject of a cancel's notification with its true cause.
func cancelSubject(cause string) string {
	switch cause {
	case causeRetired:
		return "Cancelled, the service retired: "
	case causeRequester:
		return "Withdrawn by the requester: "
	case causeOperator:
		return "Cancelled by an operator: "
	}
	return "Cancelled: "
}

// tellOutcome tells the requester how the request ended (revision 5): rejected with the
// reason, resolved with the tasks' outputs, cancelled with who or what cancelled it and why,
// failed with the error.
func (w *requestWorkflow) tellOutcome(ctx workflow.Context, status, reason string) {
	n := activities.Notification{Kind: "request." + status, Category: activities.CategoryOutcome, To: []string{w.state.Requester.ID},
		Why: "you requested " + w.state.ID}
	title := w.state.Title()
	switch status {
	case catalog.StatusResolved:
		n.Subject = "Resolved: " + title
		n.Text = fmt.Sprintf("%s is resolved: everything it needed is done.", w.state.ID)
		n.Facts = w.outputFacts()
	case catalog.StatusRejected:
		n.Subject = "Rejected: " + title
		n.Text = fmt.Sprintf("%s is rejected.", w.state.ID)
		n.Facts = []activities.Fact{{Label: "Reason", Value: reason}}
	case catalog.StatusCancelled:
		n.Subject = cancelSubject(w.cancelCause) + title
		switch w.cancelCause {
		case causeRetired:
			n.Text = fmt.Sprintf("%s is cancelled because its service %s retired; nothing more will be done for it.", w.state.ID, w.state.Service.Name)
		case causeRequester:
			n.Text = fmt.Sprintf("You withdrew %s.", w.state.ID)
		case causeOperator:
			n.Text = fmt.Sprintf("%s was cancelled by an operator of the service desk.", w.state.ID)
		default:
			n.Text = fmt.Sprintf("%s is cancelled.", w.state.ID)
		}
		n.Facts = []activities.Fact{{Label: "Why", Value: reason}}
	case catalog.StatusFailed:
		n.Subject = "Failed: " + title
		n.Text = fmt.Sprintf("%s could not be fulfilled; the service desk has the details.", w.state.ID)
		n.Facts = []activities.Fact{{Label: "Reason", Value: reason}}
	default:
		return
	}
	w.tell(ctx, n)
}

// question tells the requester that someone asked them a question; the request waits on them.
func (w *requestWorkflow) question(ctx workflow.Context, who, text string) {
	if w.revision < 5 {
		w.notify(ctx, []string{w.state.Requester.ID}, "Question about "+w.state.ID, text)
		return
	}
	w.tell(ctx, activities.Notification{Kind: "request.question", Category: activities.CategoryAction, To: []string{w.state.Requester.ID},
		Subject: "Question about " + w.state.ID + ": " + w.state.Title(), Text: who + ": " + text,
		Facts: []activities.Fact{{Label: "To answer", Value: "comment on the request; it waits on you until you do"}},
		Why:   "you requested " + w.state.ID})
}

// requestFacts are what an approver sees of the request in a mail: who asks for what.
func (w *requestWorkflow) requestFacts() []activities.Fact {
	facts := []activities.Fact{
		{Label: "Requester", Value: w.state.Requester.Name},
		{Label: "Service", Value: w.state.Service.Name},
		{Label: "Priority", Value: w.state.Priority},
	}
	if q := w.state.Quote; q != nil {
		facts = append(facts, activities.Fact{Label: "Cost", Value: strings.TrimSpace(q.Total.String() + " " + q.Currency)})
	}
	return facts
}

// outputFacts are the outputs of the request's done tasks (what the requester sees on the
// request's page), in task order and key order (deterministic: never a map's order).
func (w *requestWorkflow) outputFacts() []activities.Fact {
	var facts []activities.Fact
	for _, t := range w.state.Tasks {
		if t.State != catalog.TaskDone || len(t.Outputs) == 0 {
			continue
		}
		keys := make([]string, 0, len(t.Outputs))
		for k := range t.Outputs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			facts = append(facts, activities.Fact{Label: t.Name + ": " + k, Value: fmt.Sprint(t.Outputs[k])})
		}
	}
	return facts
}
