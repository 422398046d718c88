package workflows

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Signals between a request and its task workflows.
const (
	// TaskFinishSignal tells a task workflow how its manual work ended (request -> task).
	TaskFinishSignal = "finish"
	// TaskEventSignal tells the request that a task changed on its own (task -> request): an
	// automation failed and fell back to the group.
	TaskEventSignal = "task_event"
)

// TaskWorkflowID is the workflow id of one task of a request: request/REQ-000042/task/prepare.
func TaskWorkflowID(requestID, taskID string) string {
	return RequestWorkflowID(requestID) + "/task/" + taskID
}

// FulfilmentTaskInput starts one task.
type FulfilmentTaskInput struct {
	Request string
	Parent  string
	Spec    catalog.TaskSpec
	// Call is the automated task's call, rendered by the request.
	Call *catalog.Rendered
	// LocalCall makes the call a local activity (requests of revision 1 on); the request
	// decides, so that a task started by a request in flight behaves as that request expects.
	LocalCall bool `json:",omitempty"`
}

// FulfilmentTaskResult is how the task ended: done (with outputs), failed or cancelled.
type FulfilmentTaskResult struct {
	State   string
	Outputs map[string]any
	Reason  string
}

// TaskFinish is the outcome of manual work, sent by the request.
type TaskFinish struct {
	State   string
	Outputs map[string]any
	Reason  string
	Actor   string
}

// TaskEvent is a change a task workflow reports to its request.
type TaskEvent struct {
	Task   string
	Type   string // "fallback"
	Detail string
}

// IdempotencyKey of a task's call: the same on every retry, every worker restart.
func IdempotencyKey(requestID, taskID string) string { return requestID + "." + taskID }

// FulfilmentTask runs one task of a request as a workflow of its own, so that each
// department's part shows on its own in the Temporal UI. An automated task makes its call; a
// manual task (or an automation that fell back to its group) waits for the request to say how
// the work ended.
func FulfilmentTask(ctx workflow.Context, in FulfilmentTaskInput) (FulfilmentTaskResult, error) {
	finish := workflow.GetSignalChannel(ctx, TaskFinishSignal)
	if in.Spec.Kind == catalog.TaskAutomated && in.Call != nil {
		res, err := callOut(ctx, *in.Call, IdempotencyKey(in.Request, in.Spec.ID), in.Spec.Name, in.LocalCall)
		if err == nil {
			return FulfilmentTaskResult{State: catalog.TaskDone, Outputs: res.Outputs}, nil
		}
		if temporal.IsCanceledError(err) {
			return FulfilmentTaskResult{State: catalog.TaskCancelled}, nil
		}
		if in.Spec.Fallback != catalog.TaskManual {
			return FulfilmentTaskResult{State: catalog.TaskFailed, Reason: err.Error()}, nil
		}
		ev := TaskEvent{Task: in.Spec.ID, Type: "fallback", Detail: err.Error()}
		if err := workflow.SignalExternalWorkflow(ctx, in.Parent, "", TaskEventSignal, ev).Get(ctx, nil); err != nil {
			return FulfilmentTaskResult{State: catalog.TaskFailed, Reason: "fallback: " + err.Error()}, nil
		}
	}
	var f TaskFinish
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(finish, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &f) })
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { f.State = catalog.TaskCancelled })
	sel.Select(ctx)
	return FulfilmentTaskResult{State: f.State, Outputs: f.Outputs, Reason: f.Reason}, nil
}

// callOut makes one HTTP call with backoff; 4xx answers are not retried. A local call is a
// local activity: the worker that runs the workflow task makes it and records the answer in
// that same workflow task, so a task takes one workflow task instead of two and an activity
// task (docs/BENCHMARKS.md). A call is short (15 seconds at most) and retried by the same
// policy either way; a local retry that waits longer than a workflow task is a durable timer. A
// worker that dies before the answer is recorded leaves the call to be made again by the next
// one, with the same idempotency key, as an activity's retry would.
func callOut(ctx workflow.Context, call catalog.Rendered, key, what string, local bool) (activities.CallResult, error) {
	return callOutWithin(ctx, call, key, what, local, 0)
}

// callBudget bounds a call with all its retries (revision 4): every attempt of callRetry, each up
// to callTimeout, and the backoffs between them (8 x 15 s + 123 s). A local activity without it
// has its StartToClose as its ScheduleToClose: 15 seconds for all its attempts together, so a
// call that hung once was never retried, and a failing one got four attempts, not eight.
const callBudget = 5 * time.Minute

// callOutWithin is callOut with a bound on all the attempts of a local call (0: one attempt's).
func callOutWithin(ctx workflow.Context, call catalog.Rendered, key, what string, local bool, within time.Duration) (activities.CallResult, error) {
	return callOutFiles(ctx, call, key, what, local, within, nil)
}

// callOutFiles is callOutWithin whose answer's files become attachments where files says
// (activities.CallInput.Files). The input of a local activity is not in the history, so
// setting it changes no command.
func callOutFiles(ctx workflow.Context, call catalog.Rendered, key, what string, local bool, within time.Duration, files *activities.CallFiles) (activities.CallResult, error) {
	summary := fmt.Sprintf("%s: %s %s", what, call.Method, call.URL)
	var f *activities.Fulfilment
	var res activities.CallResult
	// A deep copy: a local activity reads its input on a goroutine of its own, and a body may
	// hold the form's (or an earlier task's outputs') maps and lists.
	in := activities.CallInput{Call: call.Clone(), IdempotencyKey: key, Files: files}
	if local {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: callTimeout, ScheduleToCloseTimeout: within, RetryPolicy: callRetry(), Summary: summary})
		err := workflow.ExecuteLocalActivity(lctx, f.Call, in).Get(ctx, &res)
		return res, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: callTimeout, RetryPolicy: callRetry(), Summary: summary})
	err := workflow.ExecuteActivity(actx, f.Call, in).Get(ctx, &res)
	return res, err
}

// cloneAttachments is a deep copy of an attachments block (nil for nil).
func cloneAttachments(a *catalog.Attachments) *catalog.Attachments {
	if a == nil {
		return nil
	}
	c := *a
	c.Required, c.Optional, c.Types = slices.Clone(a.Required), slices.Clone(a.Optional), slices.Clone(a.Types)
	return &c
}

// callTimeout is how long one attempt of a call may take: a call that hangs (or a worker that
// dies during it) is retried after it; the idempotency key makes the retry safe.
const callTimeout = 15 * time.Second

// callRetry is how a failed call is retried: backing off, eight attempts, never after a 4xx.
func callRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
		MaximumInterval: time.Minute, MaximumAttempts: 8, NonRetryableErrorTypes: []string{activities.ErrHTTPRefused}}
}

// --- the plan, from the request's side ---

// templateVars are what a call's placeholders may name.
func (w *requestWorkflow) templateVars() map[string]any {
	tasks := map[string]any{}
	for _, t := range w.state.Tasks {
		outputs := map[string]any{}
		for k, v := range t.Outputs {
			outputs[k] = v
		}
		tasks[t.ID] = map[string]any{"outputs": outputs, "state": t.State}
	}
	return map[string]any{
		"request":   map[string]any{"id": w.state.ID, "number": w.state.Number},
		"requester": map[string]any{"id": w.in.Requester.ID, "name": w.in.Requester.Name, "email": w.in.Requester.Email, "department": w.in.Requester.Department},
		"service":   map[string]any{"key": w.state.Service.Key, "version": w.state.Service.Version},
		"form":      w.in.Form,
		"quantity":  w.in.Quantity,
		"tasks":     tasks,
	}
}

func (w *requestWorkflow) spec(id string) catalog.TaskSpec {
	for _, s := range w.in.Definition.Fulfilment.Tasks {
		if s.ID == id {
			return s
		}
	}
	return catalog.TaskSpec{}
}

// fulfilPlan runs the tasks as a graph: every task whose needs are done (or skipped) starts, in
// parallel with the others: inside the request from revision 4 (openTask), as a child workflow
// before it (startTask). It ends when every task is done or skipped, a task fails, or the
// request is cancelled; failing and cancelling compensate as the plan says.
func (w *requestWorkflow) fulfilPlan(ctx workflow.Context) (string, string) {
	vars := catalog.ConditionVars(w.in.Form, w.in.Quantity, w.in.Requester, w.in.Quote)
	for i := range w.state.Tasks {
		t := &w.state.Tasks[i]
		if w.fulfilling {
			break // a run continued during fulfilment: the conditions were applied before
		}
		if when := w.spec(t.ID).When; when != "" {
			ok, err := catalog.Holds(when, vars)
			if err == nil && !ok {
				t.State, t.Reason = catalog.TaskSkipped, "its condition does not hold: "+when
				w.event(ctx, "task.skipped", "", fmt.Sprintf("%s: %s", t.Name, when))
			}
		}
	}
	childCtx, cancelChildren := workflow.WithCancel(ctx)
	w.children = map[string]workflow.ChildWorkflowFuture{}
	for {
		if w.cancelRequested {
			if w.revision >= 4 {
				return w.windDown(ctx, catalog.StatusCancelled, w.cancelReason, true)
			}
			cancelChildren()
			w.closeOpenTasks(ctx)
			w.compensate(ctx)
			return catalog.StatusCancelled, w.cancelReason
		}
		for i := range w.state.Tasks {
			if t := &w.state.Tasks[i]; t.State == catalog.TaskFailed {
				if w.revision >= 4 {
					reason := fmt.Sprintf("task %q failed: %s", t.Name, t.Reason)
					return w.windDown(ctx, catalog.StatusFailed, reason, w.spec(t.ID).OnFailure == catalog.OnFailureRollback)
				}
				cancelChildren()
				w.closeOpenTasks(ctx)
				reason := fmt.Sprintf("task %q failed: %s", t.Name, t.Reason)
				if w.spec(t.ID).OnFailure == catalog.OnFailureRollback {
					w.compensate(ctx)
				}
				return catalog.StatusFailed, reason
			}
		}
		done := true
		for i := range w.state.Tasks {
			t := &w.state.Tasks[i]
			if t.State == catalog.TaskWaiting && w.ready(t) {
				if w.revision >= 4 {
					w.openTask(ctx, i)
				} else {
					w.startTask(ctx, childCtx, i)
				}
			}
			done = done && (t.State == catalog.TaskDone || t.State == catalog.TaskSkipped)
		}
		if done {
			return catalog.StatusResolved, ""
		}
		if w.continueDue(ctx) { // revision 4: a long history continues as new here
			return continuing, ""
		}
		seen := w.taskChanges
		_ = w.rest(ctx, func() bool { return w.taskChanges != seen || w.cancelRequested || w.continueDue(ctx) }, 0, "")
	}
}

// ready reports whether every task t needs is done or skipped.
func (w *requestWorkflow) ready(t *catalog.TaskState) bool {
	for _, n := range t.Needs {
		if d := w.task(n); d == nil || (d.State != catalog.TaskDone && d.State != catalog.TaskSkipped) {
			return false
		}
	}
	return true
}

// startTask starts task i as a child workflow and follows its result.
func (w *requestWorkflow) startTask(ctx, childCtx workflow.Context, i int) {
	t := &w.state.Tasks[i]
	spec := w.spec(t.ID)
	now := workflow.Now(ctx).UTC()
	t.OpenedAt = &now
	in := FulfilmentTaskInput{Request: w.state.ID, Parent: workflow.GetInfo(ctx).WorkflowExecution.ID, Spec: spec, LocalCall: w.revision >= 1}
	if spec.Kind == catalog.TaskAutomated {
		call, err := spec.HTTP.Render(w.templateVars())
		if err != nil {
			t.State, t.Reason = catalog.TaskFailed, "the call could not be built: "+err.Error()
			w.event(ctx, "task.failed", "", fmt.Sprintf("%s: %s", t.Name, t.Reason))
			w.taskChanges++
			return
		}
		in.Call = &call
		t.State = catalog.TaskRunning
		w.event(ctx, "task.started", "", fmt.Sprintf("%s: %s %s", t.Name, call.Method, call.URL))
	} else {
		t.State = catalog.TaskOpen
		w.event(ctx, "task.opened", "", fmt.Sprintf("%s for group %s", t.Name, t.Group))
	}
	w.state.Stage = "fulfilment: " + t.ID
	cctx := workflow.WithChildOptions(childCtx, workflow.ChildWorkflowOptions{
		WorkflowID:    TaskWorkflowID(w.state.ID, t.ID),
		TaskQueue:     TaskQueue,
		StaticSummary: fmt.Sprintf("%s: %s (%s, %s)", w.state.ID, t.Name, t.Kind, t.Group),
		StaticDetails: fmt.Sprintf("Task %s of %s for %s", t.ID, w.state.Service.Name, w.state.Requester.Name),
	})
	f := workflow.ExecuteChildWorkflow(cctx, FulfilmentTask, in)
	w.children[t.ID] = f
	id := t.ID
	w.pending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.pending-- }()
		var res FulfilmentTaskResult
		err := f.Get(ctx, &res)
		t := w.task(id)
		if catalog.TaskClosed(t.State) {
			return // a manual outcome the request recorded already, or a cancellation
		}
		now := workflow.Now(ctx).UTC()
		switch {
		case err != nil:
			t.State, t.Reason = catalog.TaskFailed, err.Error()
		case res.State == catalog.TaskDone:
			t.State, t.Outputs = catalog.TaskDone, res.Outputs
			w.completedAutomated = append(w.completedAutomated, id)
		case res.State == catalog.TaskCancelled:
			t.State = catalog.TaskCancelled
		default:
			t.State, t.Reason = catalog.TaskFailed, res.Reason
		}
		t.ClosedAt = &now
		switch t.State {
		case catalog.TaskDone:
			w.event(ctx, "task.completed", "automation", t.Name)
		case catalog.TaskFailed:
			w.event(ctx, "task.failed", "automation", fmt.Sprintf("%s: %s", t.Name, t.Reason))
		}
		w.taskChanges++
	})
}

// openTask starts task i inside the request (revision 4): a manual task is open in its group's
// queue, as state that the task updates act on; an automated task makes its call in a goroutine
// of its own, so that tasks whose needs are done run in parallel.
func (w *requestWorkflow) openTask(ctx workflow.Context, i int) {
	t := &w.state.Tasks[i]
	spec := w.spec(t.ID)
	now := workflow.Now(ctx).UTC()
	t.OpenedAt = &now
	w.state.Stage = "fulfilment: " + t.ID
	if spec.Kind != catalog.TaskAutomated || spec.HTTP == nil {
		t.State = catalog.TaskOpen
		w.event(ctx, "task.opened", "", fmt.Sprintf("%s for group %s", t.Name, t.Group))
		w.tellQueued(ctx, t, "")
		return
	}
	call, err := spec.HTTP.Render(w.templateVars())
	if err != nil {
		t.State, t.Reason, t.ClosedAt = catalog.TaskFailed, "the call could not be built: "+err.Error(), &now
		w.event(ctx, "task.failed", "", fmt.Sprintf("%s: %s", t.Name, t.Reason))
		w.taskChanges++
		return
	}
	t.State = catalog.TaskRunning
	w.event(ctx, "task.started", "", fmt.Sprintf("%s: %s %s", t.Name, call.Method, call.URL))
	w.running++
	id := t.ID
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.running--; w.taskChanges++ }()
		// A local activity, retried with the same idempotency key; its summary names the task.
		// The answer's files become the task's attached outputs; their rules are the pinned
		// definition's (copied: the activity reads them on a goroutine of its own).
		res, err := callOutFiles(ctx, call, IdempotencyKey(w.state.ID, id), fmt.Sprintf("%s (task %s)", spec.Name, id), true, callBudget,
			&activities.CallFiles{Request: w.state.ID, Task: id, Rules: cloneAttachments(w.in.Definition.Attachments)})
		t := w.task(id)
		now := workflow.Now(ctx).UTC()
		switch {
		case err == nil:
			t.State, t.Outputs, t.ClosedAt = catalog.TaskDone, res.Outputs, &now
			w.completedAutomated = append(w.completedAutomated, id)
			w.event(ctx, "task.completed", "automation", t.Name)
		case spec.Fallback == catalog.TaskManual && !w.cancelRequested:
			// Into the group's queue, as state: the task updates act on it like any manual task.
			t.State, t.Fallback, t.Reason = catalog.TaskOpen, true, err.Error()
			w.event(ctx, "task.fallback", "automation", fmt.Sprintf("%s: the automation failed (%s); the task is now in the queue of %s", t.Name, err, t.Group))
			w.mayHaveHappened(id, err)
			w.tellQueued(ctx, t, "its automation failed: "+err.Error())
		default:
			t.State, t.Reason, t.ClosedAt = catalog.TaskFailed, err.Error(), &now
			w.event(ctx, "task.failed", "automation", fmt.Sprintf("%s: %s", t.Name, t.Reason))
			w.mayHaveHappened(id, err)
		}
	})
}

// mayHaveHappened keeps a call that failed with anything but a refusal (a 4xx: it did not
// happen) among the calls to undo, in the order the calls ended (revision 4: only openTask calls
// it): a timeout or a 5xx after every retry says nothing of whether the remote did the work, so a
// cancel or a rollback compensates it too, with the completed ones, newest first.
func (w *requestWorkflow) mayHaveHappened(id string, err error) {
	var refused *temporal.ApplicationError
	if errors.As(err, &refused) && refused.Type() == activities.ErrHTTPRefused {
		return
	}
	w.completedAutomated = append(w.completedAutomated, id)
}

// windDown ends the plan on a cancel or a failure (revision 4) with nothing half done: the
// automated calls still running are waited for (each ends done or failed, never unknown), the
// tasks not finished are cancelled, the completed automated tasks are undone when compensate
// says so, and the request ends only once every undo that had to be done by hand is closed.
func (w *requestWorkflow) windDown(ctx workflow.Context, status, reason string, compensate bool) (string, string) {
	if w.running > 0 {
		var names []string
		for _, t := range w.state.Tasks {
			if t.State == catalog.TaskRunning {
				names = append(names, t.Name)
			}
		}
		w.state.Stage = "winding down: waiting for " + strings.Join(names, ", ")
		w.event(ctx, "tasks.awaited", "", fmt.Sprintf("before the request ends as %s, the running calls finish: %s", status, strings.Join(names, ", ")))
		_ = w.rest(ctx, func() bool { return w.running == 0 }, 0, "")
	}
	w.closeOpenTasks(ctx)
	if compensate {
		w.compensate(ctx)
	}
	for w.undoOpen() {
		w.state.Stage = "winding down: undo by hand"
		seen := w.taskChanges
		_ = w.rest(ctx, func() bool { return w.taskChanges != seen }, 0, "")
	}
	return status, reason
}

// undoPrefix begins the id of a task that undoes another by hand: undo-accounts.
const undoPrefix = "undo-"

// undoOpen reports whether an undo-by-hand task is still open or claimed.
func (w *requestWorkflow) undoOpen() bool {
	for _, t := range w.state.Tasks {
		if w.undos[t.ID] && !catalog.TaskClosed(t.State) {
			return true
		}
	}
	return false
}

// undoByHand puts a compensation that failed after its retries in the queue of the task's group
// as a manual task (revision 4): "Undo by hand: <task>", saying which call failed and why.
// A call whose own outcome is unknown (uncertain) says so first: "the call may have happened: ...".
func (w *requestWorkflow) undoByHand(ctx workflow.Context, t *catalog.TaskState, call string, err error, uncertain string) {
	id := undoPrefix + t.ID
	for w.task(id) != nil {
		id += "-again"
	}
	now := workflow.Now(ctx).UTC()
	name, group := "Undo by hand: "+t.Name, t.Group
	reason := fmt.Sprintf("undo %s by hand: the call %s failed after its retries (%v)", t.Name, call, err)
	if uncertain != "" {
		reason = fmt.Sprintf("the call may have happened: %s failed (%s) and its undo %s could not be made (%v); undo %s by hand",
			t.Name, uncertain, call, err, t.Name)
	}
	w.state.Tasks = append(w.state.Tasks, catalog.TaskState{
		Ref: catalog.TaskRef(w.state.ID, id), ID: id, Name: name, Group: group, Kind: catalog.TaskManual,
		State: catalog.TaskOpen, Reason: reason, OpenedAt: &now,
	})
	if w.undos == nil {
		w.undos = map[string]bool{}
	}
	w.undos[id] = true
	w.event(ctx, "task.opened", "", fmt.Sprintf("%s for group %s: %s", name, group, reason))
	w.tellQueued(ctx, w.task(id), reason)
	w.taskChanges++
}

// onTaskEvents follows what task workflows report: an automation that fell back to its group.
func (w *requestWorkflow) onTaskEvents(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, TaskEventSignal)
	for {
		var ev TaskEvent
		ch.Receive(ctx, &ev)
		t := w.task(ev.Task)
		if t == nil || ev.Type != "fallback" || t.State != catalog.TaskRunning {
			continue
		}
		t.State, t.Fallback, t.Reason = catalog.TaskOpen, true, ev.Detail
		w.event(ctx, "task.fallback", "automation", fmt.Sprintf("%s: the automation failed (%s); the task is now in the queue of %s", t.Name, ev.Detail, t.Group))
		w.taskChanges++
	}
}

// closeOpenTasks marks every task not finished as cancelled.
func (w *requestWorkflow) closeOpenTasks(ctx workflow.Context) {
	now := workflow.Now(ctx).UTC()
	for i := range w.state.Tasks {
		if t := &w.state.Tasks[i]; !catalog.TaskClosed(t.State) {
			t.State, t.ClosedAt = catalog.TaskCancelled, &now
		}
	}
}

// compensate undoes the completed automated tasks, newest first, each once; the outcome of each
// is recorded on the task and in the audit trail. From revision 4 the list also holds the calls
// that failed but may have happened (mayHaveHappened): their undo is tried the same way, and the
// audit trail says the call may have happened.
func (w *requestWorkflow) compensate(ctx workflow.Context) {
	for i := len(w.completedAutomated) - 1; i >= 0; i-- {
		t := w.task(w.completedAutomated[i])
		spec := w.spec(t.ID)
		if spec.Compensate == nil || t.Compensation != "" {
			continue
		}
		uncertain := "" // why the call's outcome is unknown: its last error
		if t.State != catalog.TaskDone {
			uncertain = t.Reason
		}
		call, err := spec.Compensate.Render(w.templateVars())
		what := spec.Compensate.Method + " " + spec.Compensate.URL
		if err == nil {
			what = call.Method + " " + call.URL
			_, err = callOut(ctx, call, IdempotencyKey(w.state.ID, t.ID)+".compensate", "undo "+t.Name, false)
		}
		if err != nil {
			t.Compensation = "failed: " + err.Error()
			if uncertain != "" {
				w.event(ctx, "task.compensation_failed", "automation", fmt.Sprintf("%s: the call may have happened (%s); its undo failed: %v", t.Name, uncertain, err))
			} else {
				w.event(ctx, "task.compensation_failed", "automation", fmt.Sprintf("%s: %v", t.Name, err))
			}
			if w.revision >= 4 {
				w.undoByHand(ctx, t, what, err, uncertain)
			}
			continue
		}
		t.Compensation = "done"
		if uncertain != "" {
			w.event(ctx, "task.compensated", "automation", fmt.Sprintf("%s: the call may have happened (%s); undone by %s", t.Name, uncertain, what))
		} else {
			w.event(ctx, "task.compensated", "automation", t.Name)
		}
	}
}

// finishChild tells a task workflow how its manual work ended.
func (w *requestWorkflow) finishChild(ctx workflow.Context, id string, f TaskFinish) {
	child, ok := w.children[id]
	if !ok || w.revision >= 4 { // revision 4: no task workflow, the state is the task
		return
	}
	w.pending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.pending-- }()
		if err := child.SignalChildWorkflow(ctx, TaskFinishSignal, f).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("signal task workflow", "task", id, "error", err)
		}
	})
}

// --- manual task updates ---

func (w *requestWorkflow) task(id string) *catalog.TaskState {
	for i := range w.state.Tasks {
		if w.state.Tasks[i].ID == id {
			return &w.state.Tasks[i]
		}
	}
	return nil
}

// validateTask checks the common rules of the task updates: the task exists, the actor is in
// its group, it is open or claimed, and not claimed by someone else (leads may act on any).
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
	// The predicate the state's Actionable shows (and the queue lists by): one rule, one place.
	// Nobody fulfils their own request, a lead included (403); the rest is the task's state (409).
	if why := w.state.TaskRefusal(*t, in.Actor.ID); why != "" {
		return nil, taskRefused(why)
	}
	if t.State == catalog.TaskClaimed && t.Assignee != in.Actor.ID && !in.Lead {
		return nil, temporal.NewApplicationError(fmt.Sprintf("task %s is claimed by %s", t.Ref, t.Assignee), ErrConflict)
	}
	return t, nil
}

// taskRefused is the error of a TaskRefusal: forbidden for the requester, a conflict otherwise.
func taskRefused(why string) error {
	if why == catalog.OwnRequestRefusal {
		return temporal.NewApplicationError(why, ErrForbidden)
	}
	return temporal.NewApplicationError(why, ErrConflict)
}

func (w *requestWorkflow) result(in TaskInput) TaskResult {
	return TaskResult{Task: *w.task(in.Task), Status: w.state.Status, Request: w.state.ID}
}

func (w *requestWorkflow) validateClaim(in TaskInput) error {
	t, err := w.validateTask(in)
	if err == nil && t.State == catalog.TaskClaimed && t.Assignee == in.Actor.ID {
		return temporal.NewApplicationError(fmt.Sprintf("you already claimed task %s", t.Ref), ErrConflict)
	}
	return err
}

func (w *requestWorkflow) claim(ctx workflow.Context, in TaskInput) (TaskResult, error) {
	w.responded(ctx, catalog.StopClaim)
	t := w.task(in.Task)
	t.State, t.Assignee = catalog.TaskClaimed, in.Actor.ID
	w.event(ctx, "task.claimed", in.Actor.ID, t.Name)
	w.awaitRest(ctx)
	return w.result(in), nil
}

func (w *requestWorkflow) validateRelease(in TaskInput) error {
	t, err := w.validateTask(in)
	if err == nil && t.State != catalog.TaskClaimed {
		return temporal.NewApplicationError(fmt.Sprintf("task %s is not claimed", t.Ref), ErrConflict)
	}
	return err
}

func (w *requestWorkflow) release(ctx workflow.Context, in TaskInput) (TaskResult, error) {
	t := w.task(in.Task)
	w.event(ctx, "task.released", in.Actor.ID, fmt.Sprintf("%s (was %s's)", t.Name, t.Assignee))
	t.State, t.Assignee = catalog.TaskOpen, ""
	w.awaitRest(ctx)
	return w.result(in), nil
}

func (w *requestWorkflow) validateAssign(in TaskInput) error {
	if !in.Lead {
		return temporal.NewApplicationError("only a lead of the group assigns tasks", ErrForbidden)
	}
	if in.Assignee == "" {
		return temporal.NewApplicationError("name the assignee", ErrInvalid)
	}
	t, err := w.validateTask(in)
	if err == nil && w.state.TaskRefusal(*t, in.Assignee) == catalog.OwnRequestRefusal {
		return temporal.NewApplicationError(fmt.Sprintf("%s made request %s: %s", in.Assignee, w.state.ID, catalog.OwnRequestRefusal), ErrForbidden)
	}
	return err
}

func (w *requestWorkflow) assign(ctx workflow.Context, in TaskInput) (TaskResult, error) {
	t := w.task(in.Task)
	t.State, t.Assignee = catalog.TaskClaimed, in.Assignee
	w.event(ctx, "task.assigned", in.Actor.ID, fmt.Sprintf("%s to %s", t.Name, in.Assignee))
	w.awaitRest(ctx)
	return w.result(in), nil
}

func (w *requestWorkflow) validateComplete(in TaskInput) error {
	t, err := w.validateTask(in)
	if err != nil {
		return err
	}
	if schema := w.spec(t.ID).Outputs; schema != nil {
		form, err := catalog.CompileForm(schema)
		if err != nil {
			return temporal.NewApplicationError("the task's outputs schema does not compile: "+err.Error(), ErrInvalid)
		}
		if errs := form.Validate(in.Outputs); len(errs) > 0 {
			return temporal.NewApplicationError("the outputs are not valid", ErrInvalid, errs)
		}
	}
	return nil
}

func (w *requestWorkflow) complete(ctx workflow.Context, in TaskInput) (TaskResult, error) {
	w.responded(ctx, catalog.StopComplete)
	t := w.task(in.Task)
	now := workflow.Now(ctx).UTC()
	t.State, t.Assignee, t.Outputs, t.ClosedAt = catalog.TaskDone, in.Actor.ID, in.Outputs, &now
	w.event(ctx, "task.completed", in.Actor.ID, t.Name)
	w.finishChild(ctx, t.ID, TaskFinish{State: catalog.TaskDone, Outputs: in.Outputs, Actor: in.Actor.ID})
	w.taskChanges++
	w.awaitRest(ctx)
	return w.result(in), nil
}

func (w *requestWorkflow) validateFail(in TaskInput) error {
	if isBlank(in.Reason) {
		return temporal.NewApplicationError("say why the task cannot be done", ErrInvalid)
	}
	_, err := w.validateTask(in)
	return err
}

func (w *requestWorkflow) fail(ctx workflow.Context, in TaskInput) (TaskResult, error) {
	t := w.task(in.Task)
	now := workflow.Now(ctx).UTC()
	t.State, t.Assignee, t.Reason, t.ClosedAt = catalog.TaskFailed, in.Actor.ID, in.Reason, &now
	w.event(ctx, "task.failed", in.Actor.ID, fmt.Sprintf("%s: %s", t.Name, in.Reason))
	w.finishChild(ctx, t.ID, TaskFinish{State: catalog.TaskFailed, Reason: in.Reason, Actor: in.Actor.ID})
	w.taskChanges++
	w.awaitRest(ctx)
	return w.result(in), nil
}

func (w *requestWorkflow) validateAsk(in TaskInput) error {
	if isBlank(in.Reason) {
		return temporal.NewApplicationError("ask a question", ErrInvalid)
	}
	_, err := w.validateTask(in)
	return err
}

// ask puts a question to the requester; the request waits on them until they comment.
func (w *requestWorkflow) ask(ctx workflow.Context, in TaskInput) (TaskResult, error) {
	t := w.task(in.Task)
	w.resumeTo = w.state.Status
	w.state.Status = catalog.StatusWaitingOnRequester
	w.pausedAt = workflow.Now(ctx).UTC()
	w.responded(ctx, catalog.StopQuestion)
	w.slaPause(ctx)
	w.event(ctx, "task.info_requested", in.Actor.ID, fmt.Sprintf("%s asks: %s", t.Name, in.Reason))
	w.question(ctx, fmt.Sprintf("%s, working on %q, asks", in.Actor.Name, t.Name), in.Reason)
	w.awaitRest(ctx)
	return w.result(in), nil
}

// --- the operator's view ---

// openGroups are the fulfiller groups with open work on the request: tasks open or claimed in
// their queue, automations running; sorted, each once.
func (w *requestWorkflow) openGroups() []string {
	var out []string
	for _, t := range w.state.Tasks {
		switch t.State {
		case catalog.TaskOpen, catalog.TaskClaimed, catalog.TaskRunning:
			if !slices.Contains(out, t.Group) {
				out = append(out, t.Group)
			}
		}
	}
	sort.Strings(out)
	return out
}

// boardTime is how the task board writes an instant.
const boardTime = "2006-01-02 15:04 MST"

// board is the request's task board as a markdown table (task, group, state, assignee, due),
// the current details the Temporal UI shows on the request's page. A task is due its target
// after it opened, on the department's calendar; a task without a target, the request's due.
func (w *requestWorkflow) board() string {
	cell := func(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) }
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** %s for %s: %s (%s)\n\n", w.state.ID, cell(w.state.Service.Name), cell(w.state.Requester.Name), w.state.Status, cell(w.state.Stage))
	b.WriteString("| task | group | state | assignee | due |\n| --- | --- | --- | --- | --- |\n")
	for _, t := range w.state.Tasks {
		due := ""
		if !catalog.TaskClosed(t.State) && t.State != catalog.TaskWaiting {
			if target := w.spec(t.ID).Target.Std(); target > 0 && t.OpenedAt != nil {
				due = w.in.Calendar.Add(*t.OpenedAt, target).UTC().Format(boardTime)
			} else if w.state.DueAt != nil {
				due = w.state.DueAt.UTC().Format(boardTime)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(t.Name), cell(t.Group), t.State, cell(t.Assignee), due)
	}
	return b.String()
}

// tellQueued tells a fulfiller group that a task entered its queue (revision 5): at the group's
// own address when the directory has one, else each member (the notify activity decides).
func (w *requestWorkflow) tellQueued(ctx workflow.Context, t *catalog.TaskState, why string) {
	if w.revision < 5 || t == nil || t.Group == "" {
		return
	}
	text := fmt.Sprintf("Task %q of %s (%s for %s) is in your queue.", t.Name, w.state.ID, w.state.Service.Name, w.state.Requester.Name)
	facts := w.requestFacts()
	if why != "" {
		facts = append(facts, activities.Fact{Label: "Why", Value: why})
	}
	w.tell(ctx, activities.Notification{Kind: "task.queued", Category: activities.CategoryAction, Groups: []string{t.Group},
		Subject: "In your queue: " + t.Name + " (" + w.state.ID + ")", Text: text, Facts: facts,
		Why: fmt.Sprintf("you fulfil the tasks of group %s", t.Group)})
}
