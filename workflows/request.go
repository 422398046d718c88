package workflows

import (
	"fmt"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
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
	Actor    catalog.PersonRef
	Decision string
	Comment  string
}

// DecisionResult is the request's status once the decision has been applied.
type DecisionResult struct {
	Status string
	Step   int
}

// TaskInput claims or completes a task. Groups are the actor's groups from the directory.
type TaskInput struct {
	Actor   catalog.PersonRef
	Groups  []string
	Task    string
	Outputs map[string]any
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
	if err := w.setup(ctx); err != nil {
		return RequestResult{}, err
	}
	return w.run(ctx)
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
}

func newRequest(ctx workflow.Context, in RequestInput) *requestWorkflow {
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
		Tasks:       make([]catalog.TaskState, 0, len(d.Fulfilment.Tasks)),
		Timeline:    []catalog.Event{},
	}
	for _, t := range d.Fulfilment.Tasks {
		w.state.Tasks = append(w.state.Tasks, catalog.TaskState{
			Ref: catalog.TaskRef(id, t.ID), ID: t.ID, Name: t.Name, Group: t.Group, Kind: t.Kind, State: catalog.TaskWaiting,
		})
	}
	w.event(ctx, "submitted", in.Requester.ID, fmt.Sprintf("%s v%d, priority %s", d.Key, in.Version, in.Priority))
	return w
}

// setup registers every handler before the first blocking call.
func (w *requestWorkflow) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, StateQuery, func(StateQueryInput) (catalog.RequestState, error) {
		return w.state, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, SubmitUpdate, func(ctx workflow.Context, _ SubmitInput) (SubmitResult, error) {
		// The first submission waits until the request is in the read model and with its
		// approvers, so the requester's list and the approvers' inboxes already show it.
		w.awaitRest(ctx)
		return SubmitResult{ID: w.state.ID, Status: w.state.Status, Service: w.state.Service.Key, Version: w.state.Service.Version, Quote: w.state.Quote}, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, DecideUpdate, w.decide,
		workflow.UpdateHandlerOptions{Validator: w.validateDecision}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, ClaimTaskUpdate, w.claim,
		workflow.UpdateHandlerOptions{Validator: w.validateClaim}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, CompleteTaskUpdate, w.complete,
		workflow.UpdateHandlerOptions{Validator: w.validateComplete})
}

func (w *requestWorkflow) run(ctx workflow.Context) (RequestResult, error) {
	workflow.Go(ctx, w.projector)
	w.upsertSearchAttributes(ctx)

	approved, err := w.approve(ctx)
	if err != nil {
		return w.finish(ctx, catalog.StatusFailed, err.Error())
	}
	if !approved {
		return w.finish(ctx, catalog.StatusRejected, w.state.Reason)
	}
	w.state.Status = catalog.StatusInFulfilment
	for i := range w.state.Tasks {
		w.fulfil(ctx, i)
	}
	return w.finish(ctx, catalog.StatusResolved, "")
}

// approve runs the approval steps in order. It returns false when a step rejects.
func (w *requestWorkflow) approve(ctx workflow.Context) (bool, error) {
	for i, step := range w.in.Definition.Approval.Steps {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			Summary:             "resolve approvers: " + step.Name,
		})
		var res activities.ResolveApproversResult
		var dir *activities.Directory
		if err := workflow.ExecuteActivity(actx, dir.ResolveApprovers,
			activities.ResolveApproversInput{Step: step, Requester: w.in.Requester}).Get(ctx, &res); err != nil {
			return false, fmt.Errorf("resolve approvers of step %q: %w", step.Name, err)
		}
		if len(res.Approvers) == 0 {
			return false, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("approval step %q has no one who may decide", step.Name), ErrNoOne, nil)
		}
		now := workflow.Now(ctx).UTC()
		a := catalog.ApprovalState{Step: i, Name: step.Name, Mode: step.Mode, Status: catalog.ApprovalPending, OpenedAt: now}
		names := ""
		for _, p := range res.Approvers {
			a.Approvers = append(a.Approvers, catalog.Approver{PersonRef: p})
			if names != "" {
				names += ", "
			}
			names += p.Name
		}
		w.state.Approvals = append(w.state.Approvals, a)
		w.state.Stage = "approval: " + step.Name
		w.event(ctx, "approval.requested", "", fmt.Sprintf("step %q (%s) asks %s", step.Name, step.Mode, names))

		if err := w.rest(ctx, func() bool { return w.state.Approvals[i].Status != catalog.ApprovalPending }); err != nil {
			return false, err
		}
		if w.state.Approvals[i].Status == catalog.ApprovalRejected {
			return false, nil
		}
	}
	return true, nil
}

// fulfil opens task i and waits until it is done.
func (w *requestWorkflow) fulfil(ctx workflow.Context, i int) {
	t := &w.state.Tasks[i]
	now := workflow.Now(ctx).UTC()
	t.State = catalog.TaskOpen
	t.OpenedAt = &now
	w.state.Stage = "fulfilment: " + t.ID
	w.event(ctx, "task.opened", "", fmt.Sprintf("%s for group %s", t.Name, t.Group))
	_ = w.rest(ctx, func() bool { return w.state.Tasks[i].State == catalog.TaskDone })
}

func (w *requestWorkflow) finish(ctx workflow.Context, status, reason string) (RequestResult, error) {
	now := workflow.Now(ctx).UTC()
	w.state.Status = status
	w.state.Stage = status
	w.state.Reason = reason
	w.state.ClosedAt = &now
	w.event(ctx, status, "", reason)
	w.resting = true
	// Every handler, and the last projection, finish before the workflow does.
	_ = workflow.Await(ctx, func() bool {
		return w.projected >= w.state.Seq && workflow.AllHandlersFinished(ctx)
	})
	return RequestResult{Status: status, Reason: reason}, nil
}

// event records a transition: the timeline grows, the sequence moves on.
func (w *requestWorkflow) event(ctx workflow.Context, typ, actor, detail string) {
	w.state.Seq++
	now := workflow.Now(ctx).UTC()
	w.state.UpdatedAt = now
	w.state.Timeline = append(w.state.Timeline, catalog.Event{
		Seq: len(w.state.Timeline) + 1, At: now, Type: typ, Actor: actor, Detail: detail,
	})
}

// rest waits on a person: until cond holds, the workflow is at rest.
func (w *requestWorkflow) rest(ctx workflow.Context, cond func() bool) error {
	w.resting = true
	defer func() { w.resting = false }()
	return workflow.Await(ctx, cond)
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
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// The database being down must delay the read model, never lose a state: retry forever.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
		Summary:     "write read model",
	})
	var proj *activities.Projection
	status := w.state.Status
	for {
		_ = workflow.Await(ctx, func() bool { return w.state.Seq > w.projected })
		seq := w.state.Seq
		if w.state.Status != status {
			status = w.state.Status
			w.upsertSearchAttributes(ctx)
		}
		err := workflow.ExecuteActivity(actx, proj.Project, activities.ProjectInput{State: w.state}).Get(ctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Error("project request", "error", err)
			continue
		}
		w.projected = seq
	}
}

func (w *requestWorkflow) upsertSearchAttributes(ctx workflow.Context) {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		AttrService.ValueSet(w.state.Service.Key),
		AttrDepartment.ValueSet(w.state.Service.Department),
		AttrStatus.ValueSet(w.state.Status),
		AttrPriority.ValueSet(w.state.Priority),
	)
	if err != nil {
		workflow.GetLogger(ctx).Error("upsert search attributes", "error", err)
	}
}

// --- approvals ---

func (w *requestWorkflow) openStep() *catalog.ApprovalState {
	if w.state.Status != catalog.StatusPendingApproval || len(w.state.Approvals) == 0 {
		return nil
	}
	a := &w.state.Approvals[len(w.state.Approvals)-1]
	if a.Status != catalog.ApprovalPending {
		return nil
	}
	return a
}

func (w *requestWorkflow) validateDecision(in DecisionInput) error {
	if in.Decision != catalog.DecisionApprove && in.Decision != catalog.DecisionReject {
		return temporal.NewApplicationError(fmt.Sprintf("decision must be %q or %q", catalog.DecisionApprove, catalog.DecisionReject), ErrInvalid)
	}
	if in.Decision == catalog.DecisionReject && isBlank(in.Comment) {
		return temporal.NewApplicationError("a rejection needs a reason in comment", ErrInvalid)
	}
	step := w.openStep()
	if step == nil {
		return temporal.NewApplicationError(fmt.Sprintf("no approval step is open: the request is %s", w.state.Status), ErrConflict)
	}
	for _, a := range step.Approvers {
		if a.ID != in.Actor.ID {
			continue
		}
		if a.Decision != "" {
			return temporal.NewApplicationError(fmt.Sprintf("%s already decided step %q", a.Name, step.Name), ErrConflict)
		}
		return nil
	}
	return temporal.NewApplicationError(fmt.Sprintf("%s is not an approver of step %q", in.Actor.ID, step.Name), ErrForbidden)
}

func (w *requestWorkflow) decide(ctx workflow.Context, in DecisionInput) (DecisionResult, error) {
	step := w.openStep()
	now := workflow.Now(ctx).UTC()
	approvals := 0
	for i := range step.Approvers {
		a := &step.Approvers[i]
		if a.ID == in.Actor.ID {
			a.Decision, a.Comment, a.DecidedAt = in.Decision, in.Comment, &now
		}
		if a.Decision == catalog.DecisionApprove {
			approvals++
		}
	}
	switch {
	case in.Decision == catalog.DecisionReject:
		step.Status = catalog.ApprovalRejected
		w.state.Reason = fmt.Sprintf("rejected by %s: %s", in.Actor.Name, in.Comment)
	case step.Mode == catalog.ModeAny || approvals == len(step.Approvers):
		step.Status = catalog.ApprovalApproved
	}
	if step.Status != catalog.ApprovalPending {
		step.ClosedAt = &now
	}
	w.event(ctx, "approval."+in.Decision, in.Actor.ID, fmt.Sprintf("step %q: %s", step.Name, in.Comment))
	w.awaitRest(ctx)
	return DecisionResult{Status: w.state.Status, Step: step.Step}, nil
}

// --- tasks ---

func (w *requestWorkflow) task(id string) *catalog.TaskState {
	for i := range w.state.Tasks {
		if w.state.Tasks[i].ID == id {
			return &w.state.Tasks[i]
		}
	}
	return nil
}

// validateTask checks the common rules of claim and complete.
func (w *requestWorkflow) validateTask(in TaskInput) (*catalog.TaskState, error) {
	t := w.task(in.Task)
	if t == nil {
		return nil, temporal.NewApplicationError(fmt.Sprintf("request %s has no task %q", w.state.ID, in.Task), ErrNotFound)
	}
	member := false
	for _, g := range in.Groups {
		member = member || g == t.Group
	}
	if !member {
		return nil, temporal.NewApplicationError(fmt.Sprintf("%s is not in group %s", in.Actor.ID, t.Group), ErrForbidden)
	}
	if t.State != catalog.TaskOpen && t.State != catalog.TaskClaimed {
		return nil, temporal.NewApplicationError(fmt.Sprintf("task %s is %s", t.Ref, t.State), ErrConflict)
	}
	if t.State == catalog.TaskClaimed && t.Assignee != in.Actor.ID {
		return nil, temporal.NewApplicationError(fmt.Sprintf("task %s is claimed by %s", t.Ref, t.Assignee), ErrConflict)
	}
	return t, nil
}

func (w *requestWorkflow) validateClaim(in TaskInput) error {
	t, err := w.validateTask(in)
	if err == nil && t.State == catalog.TaskClaimed {
		return temporal.NewApplicationError(fmt.Sprintf("you already claimed task %s", t.Ref), ErrConflict)
	}
	return err
}

func (w *requestWorkflow) claim(ctx workflow.Context, in TaskInput) (TaskResult, error) {
	t := w.task(in.Task)
	t.State = catalog.TaskClaimed
	t.Assignee = in.Actor.ID
	w.event(ctx, "task.claimed", in.Actor.ID, t.Name)
	w.awaitRest(ctx)
	return TaskResult{Task: *w.task(in.Task), Status: w.state.Status, Request: w.state.ID}, nil
}

func (w *requestWorkflow) validateComplete(in TaskInput) error {
	_, err := w.validateTask(in)
	return err
}

func (w *requestWorkflow) complete(ctx workflow.Context, in TaskInput) (TaskResult, error) {
	t := w.task(in.Task)
	now := workflow.Now(ctx).UTC()
	t.State = catalog.TaskDone
	t.Assignee = in.Actor.ID
	t.Outputs = in.Outputs
	t.ClosedAt = &now
	w.event(ctx, "task.completed", in.Actor.ID, t.Name)
	w.awaitRest(ctx)
	return TaskResult{Task: *w.task(in.Task), Status: w.state.Status, Request: w.state.ID}, nil
}
