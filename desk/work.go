package desk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
)

// The work of approvers and fulfillers: the approvals inbox, the groups' task queues and the
// calls on a task (claim, release, assign, complete, fail, ask the requester).

// Page is a page of a list, oldest first, and the cursor of the next page ("" on the last).
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// RoleLead marks a group's lead: a member with this role may assign and act on claimed tasks.
const RoleLead = "lead"

// TaskStates are the states a task queue may be narrowed to.
var TaskStates = []string{catalog.TaskOpen, catalog.TaskClaimed, catalog.TaskDone}

// pageLimit is the size of a page asked for: def when none (0), at most 200.
func pageLimit(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return min(limit, 200)
}

// badCursor is the error of a cursor that no page gave.
func badCursor() error {
	return invalid("a query parameter is not valid", catalog.FieldError{
		Field: "cursor", Rule: "format", Detail: "must be a next_cursor from a previous page"})
}

// ApprovalsInput asks for a page of the actor's inbox.
type ApprovalsInput struct {
	// Cursor is the NextCursor of the previous page ("" for the first).
	Cursor string
	// Limit is the page's size: 1 to 200 (0: 50).
	Limit int
}

// Approvals is the actor's inbox: approvals waiting on them or on someone who delegated to them
// now, oldest first, a page at a time, each with its next deadline (OnBehalfOf names the
// approver when the actor is their delegate). A request the actor made is never in it, not even
// as a delegate of its approver. The inbox is read from the read model.
//
// Errors: *ValidationError (a cursor no page gave).
func (d *Desk) Approvals(ctx context.Context, me Actor, in ApprovalsInput) (Page[PendingApproval], error) {
	delegators, err := d.store.Delegators(ctx, me.ID, d.now())
	if err != nil {
		return Page[PendingApproval]{}, fmt.Errorf("delegators of %s: %w", me.ID, err)
	}
	items, next, err := d.store.PendingApprovals(ctx, store.InboxFilter{
		Caller: me.ID, People: append([]string{me.ID}, delegators...), Cursor: in.Cursor, Limit: pageLimit(in.Limit, 50)})
	if errors.Is(err, store.ErrBadCursor) {
		return Page[PendingApproval]{}, badCursor()
	}
	if err != nil {
		return Page[PendingApproval]{}, fmt.Errorf("approvals of %s: %w", me.ID, err)
	}
	for i := range items {
		if items[i].Approver != me.ID {
			items[i].OnBehalfOf = items[i].Approver
		}
	}
	return Page[PendingApproval]{Items: items, NextCursor: next}, nil
}

// Values of TasksInput.Whose.
const (
	WhoseMine       = "mine"
	WhoseUnassigned = "unassigned"
)

// TasksInput asks for a page of the task queue of the actor's groups.
type TasksInput struct {
	// Group narrows the queue to one of the actor's groups ("" for all of them).
	Group string
	// State narrows it to one of TaskStates ("": open and claimed tasks).
	State string
	// Whose narrows it to the tasks the actor holds (WhoseMine: claimed by them, or done by
	// them) or nobody holds (WhoseUnassigned); "" for all.
	Whose string
	// Cursor is the NextCursor of the previous page ("" for the first).
	Cursor string
	// Limit is the page's size: 1 to 200 (0: 50).
	Limit int
}

// Tasks is the queue of the actor's groups, oldest first, a page at a time, never a task of a
// request the actor made (nobody fulfils their own request). It is read from the read model.
//
// Errors: ErrForbidden (a group the actor is not in), *ValidationError (a state that is not
// one, a whose that is neither mine nor unassigned, a cursor no page gave).
func (d *Desk) Tasks(ctx context.Context, me Actor, in TasksInput) (Page[QueuedTask], error) {
	groups := me.Groups
	if in.Group != "" {
		if !me.InGroup(in.Group) {
			return Page[QueuedTask]{}, forbidden("you are not in group %s", in.Group)
		}
		groups = []string{in.Group}
	}
	states := []string{catalog.TaskOpen, catalog.TaskClaimed}
	if in.State != "" {
		if !slices.Contains(TaskStates, in.State) {
			return Page[QueuedTask]{}, invalid("a query parameter is not valid", catalog.FieldError{
				Field: "state", Rule: "enum", Detail: fmt.Sprintf("must be one of %v", TaskStates)})
		}
		states = []string{in.State}
	}
	f := store.QueueFilter{Groups: groups, States: states, Caller: me.ID, Cursor: in.Cursor, Limit: pageLimit(in.Limit, 50)}
	switch in.Whose {
	case "":
	case WhoseMine:
		f.Assignee = me.ID
	case WhoseUnassigned:
		f.Unassigned = true
	default:
		return Page[QueuedTask]{}, invalid("a query parameter is not valid", catalog.FieldError{
			Field: "whose", Rule: "enum", Detail: fmt.Sprintf("must be %s or %s", WhoseMine, WhoseUnassigned)})
	}
	items, next, err := d.store.TaskQueue(ctx, f)
	if errors.Is(err, store.ErrBadCursor) {
		return Page[QueuedTask]{}, badCursor()
	}
	if err != nil {
		return Page[QueuedTask]{}, fmt.Errorf("task queue of %s: %w", me.ID, err)
	}
	return Page[QueuedTask]{Items: items, NextCursor: next}, nil
}

// TaskCall is a call on a task. Task names it (REQ-000042.prepare); Outputs are what
// CompleteTask records, Reason why FailTask fails it, Question what AskRequester asks, Assignee
// whom AssignTask names. A call ignores the fields it does not use, but Reason and Question
// together are bounded by MaxText on every call.
type TaskCall struct {
	Task     string
	Outputs  map[string]any
	Reason   string
	Question string
	Assignee string
}

// TaskChanged is a task after a call, and its request's status.
type TaskChanged struct {
	Task    catalog.TaskState
	Request string
	Status  string
}

// ClaimTask: a member of the task's group takes an open task.
//
// Errors: ErrNotFound (not a task id, a request the actor may not see, no such task),
// ErrForbidden (not in the task's group, or the task is of the actor's own request),
// ErrConflict (claimed by someone else, not open, closed), ErrUnavailable.
func (d *Desk) ClaimTask(ctx context.Context, me Actor, in TaskCall) (TaskChanged, error) {
	return d.taskCall(ctx, me, workflows.ClaimTaskUpdate, in)
}

// ReleaseTask: whoever claimed a task (or a lead of its group) puts it back in the queue.
//
// Errors: as ClaimTask.
func (d *Desk) ReleaseTask(ctx context.Context, me Actor, in TaskCall) (TaskChanged, error) {
	return d.taskCall(ctx, me, workflows.ReleaseTaskUpdate, in)
}

// AssignTask: a lead of the task's group gives it to a member (in.Assignee).
//
// Errors: as ClaimTask; *ValidationError (no assignee, or one who is not in the group);
// ErrForbidden as well for someone who is not a lead, or an assignee who made the request.
func (d *Desk) AssignTask(ctx context.Context, me Actor, in TaskCall) (TaskChanged, error) {
	return d.taskCall(ctx, me, workflows.AssignTaskUpdate, in)
}

// CompleteTask: whoever claimed the task (or a lead) records it done, with its outputs.
//
// Errors: as ClaimTask; *ValidationError (outputs that break the task's schema, under
// /outputs).
func (d *Desk) CompleteTask(ctx context.Context, me Actor, in TaskCall) (TaskChanged, error) {
	return d.taskCall(ctx, me, workflows.CompleteTaskUpdate, in)
}

// FailTask: whoever claimed the task (or a lead) says it cannot be done (in.Reason): the
// request fails.
//
// Errors: as ClaimTask; *ValidationError (no reason, or one too long).
func (d *Desk) FailTask(ctx context.Context, me Actor, in TaskCall) (TaskChanged, error) {
	return d.taskCall(ctx, me, workflows.FailTaskUpdate, in)
}

// AskRequester: whoever works the task asks the requester something (in.Question); the request
// waits on the requester until they answer with a comment.
//
// Errors: as ClaimTask; *ValidationError (no question, or one too long).
func (d *Desk) AskRequester(ctx context.Context, me Actor, in TaskCall) (TaskChanged, error) {
	return d.taskCall(ctx, me, workflows.AskTaskUpdate, in)
}

// VisibleTask answers nil when ref is a task id of a request the actor may see, ErrNotFound
// otherwise. A front door that cannot read what was sent asks it first, so that a task one may
// not see is not found whatever was sent.
func (d *Desk) VisibleTask(ctx context.Context, me Actor, ref string) error {
	reqID, _, ok := catalog.ParseTaskRef(ref)
	if !ok {
		return notFound("%q is not a task id (REQ-000042.task)", ref)
	}
	return d.Visible(ctx, me, reqID)
}

// taskCall acts on a task through its request's workflow. Someone who can see the request but
// is not in the task's group is refused by the workflow's validator (ErrForbidden), before
// anything enters its history.
func (d *Desk) taskCall(ctx context.Context, me Actor, update string, call TaskCall) (TaskChanged, error) {
	reqID, taskID, ok := catalog.ParseTaskRef(call.Task)
	if !ok {
		return TaskChanged{}, notFound("%q is not a task id (REQ-000042.task)", call.Task)
	}
	st, _, err := d.visible(ctx, me, reqID)
	if err != nil {
		return TaskChanged{}, err
	}
	in, group := taskInput(me, st, taskID)
	in.Outputs = call.Outputs
	var fields []catalog.FieldError
	switch update {
	case workflows.FailTaskUpdate:
		in.Reason = call.Reason
		if strings.TrimSpace(call.Reason) == "" {
			fields = append(fields, catalog.FieldError{Field: "/reason", Rule: "required", Detail: "say why the task cannot be done"})
		}
	case workflows.AskTaskUpdate:
		in.Reason = call.Question
		if strings.TrimSpace(call.Question) == "" {
			fields = append(fields, catalog.FieldError{Field: "/question", Rule: "required", Detail: "ask the requester something"})
		}
	case workflows.AssignTaskUpdate:
		in.Assignee = call.Assignee
		if call.Assignee == "" {
			fields = append(fields, catalog.FieldError{Field: "/assignee", Rule: "required", Detail: "name a member of the group"})
		} else if p, err := d.store.Person(ctx, call.Assignee); err != nil || !p.InGroup(group) {
			fields = append(fields, catalog.FieldError{Field: "/assignee", Rule: "reference", Detail: fmt.Sprintf("%q is not a member of %s", call.Assignee, group)})
		}
	}
	if fe := checkText("/reason", call.Reason); fe != nil {
		fields = append(fields, *fe)
	} else if fe := checkText("/question", call.Question); fe != nil {
		fields = append(fields, *fe)
	} else if n := utf8.RuneCountInString(call.Reason) + utf8.RuneCountInString(call.Question); n > MaxText {
		fields = append(fields, catalog.FieldError{Field: "/reason", Rule: "maxLength", Detail: fmt.Sprintf("at most %d characters with the question (these are %d)", MaxText, n)})
	}
	if fe := checkStrings("/outputs", map[string]any(call.Outputs)); fe != nil && call.Outputs != nil {
		fields = append(fields, *fe)
	}
	if len(fields) > 0 {
		return TaskChanged{}, invalid("the task call is not valid", fields...)
	}
	var res workflows.TaskResult
	if err := d.update(ctx, workflows.RequestWorkflowID(st.ID), update, in, &res); err != nil {
		return TaskChanged{}, d.workflowErr(ctx, st.ID, err)
	}
	return TaskChanged{Task: res.Task, Request: res.Request, Status: res.Status}, nil
}

// taskInput is the task update's input for the actor on a task of st, and the task's group: a
// lead is a person with RoleLead in the task's group.
func taskInput(me Actor, st catalog.RequestState, taskID string) (workflows.TaskInput, string) {
	in := workflows.TaskInput{Actor: Ref(me), Groups: me.Groups, Task: taskID}
	var group string
	for _, t := range st.Tasks {
		if t.ID == taskID {
			group = t.Group
		}
	}
	in.Lead = me.HasRole(RoleLead) && me.InGroup(group)
	return in, group
}

// TaskMay says which calls on a task the actor may make now.
type TaskMay struct {
	Claim, Release, Assign, Complete, Fail, Ask bool
}

// Any reports whether the actor may make any call.
func (m TaskMay) Any() bool { return m.Claim || m.Release || m.Assign || m.Complete || m.Fail || m.Ask }

// TaskForm is what a fulfiller's completion form needs: the task as it stands and the JSON
// Schema of its outputs, from the service version the request was made under (nil when the
// task declares none: any object is taken).
type TaskForm struct {
	Task    catalog.TaskState
	Request string
	Title   string
	Outputs map[string]any
	// Refusal says why the actor may not work the task now ("" when they may): the task
	// updates' own rules (catalog.RequestState.TaskRefusal), group membership and who claimed
	// it, so that a door offers no action the workflow would refuse.
	Refusal string
	// May says which calls the actor may make now: those the task updates' own validators
	// accept on the request's stored state (workflows.TaskUpdateRefusal), the calls that work a
	// task (Complete, Fail, Ask) only once it is claimed (claim it first). The door offers these
	// and no other.
	May TaskMay
	// Members are whom a lead may assign the task to (May.Assign): the group's members but the
	// requester, by name.
	Members []catalog.PersonRef
}

// Task answers a task of a request the actor may see, with its outputs schema.
//
// Errors: ErrNotFound (not a task id, a request the actor may not see, no such task).
func (d *Desk) Task(ctx context.Context, me Actor, ref string) (TaskForm, error) {
	reqID, taskID, ok := catalog.ParseTaskRef(ref)
	if !ok {
		return TaskForm{}, notFound("%q is not a task id (REQ-000042.task)", ref)
	}
	st, _, err := d.visible(ctx, me, reqID)
	if err != nil {
		return TaskForm{}, err
	}
	out := TaskForm{Request: st.ID, Title: st.Title()}
	found := false
	for _, t := range st.Tasks {
		if t.ID == taskID {
			out.Task, found = t, true
		}
	}
	if !found {
		return TaskForm{}, notFound("request %s has no task %q", st.ID, taskID)
	}
	t := out.Task
	switch {
	case !me.InGroup(t.Group):
		out.Refusal = fmt.Sprintf("only the group %s works this task", t.Group)
	default:
		out.Refusal = st.TaskRefusal(t, me.ID)
		if out.Refusal == "" && t.State == catalog.TaskClaimed && t.Assignee != me.ID && !me.HasRole(RoleLead) {
			out.Refusal = fmt.Sprintf("task %s is claimed by %s", t.Ref, t.Assignee)
		}
	}
	in, _ := taskInput(me, st, taskID)
	may := func(update string) bool { return workflows.TaskUpdateRefusal(st, update, in) == nil }
	claimed := t.State == catalog.TaskClaimed
	out.May = TaskMay{Claim: may(workflows.ClaimTaskUpdate), Release: may(workflows.ReleaseTaskUpdate), Assign: may(workflows.AssignTaskUpdate),
		Complete: claimed && may(workflows.CompleteTaskUpdate), Fail: claimed && may(workflows.FailTaskUpdate), Ask: claimed && may(workflows.AskTaskUpdate)}
	if out.May.Assign {
		members, err := d.store.GroupMembers(ctx, t.Group)
		if err != nil {
			return TaskForm{}, fmt.Errorf("members of %s: %w", t.Group, err)
		}
		for _, m := range members {
			if m.ID != st.Requester.ID {
				out.Members = append(out.Members, m)
			}
		}
	}
	sv, err := d.store.ServiceAt(ctx, st.Service.Key, st.Service.Version)
	if err != nil {
		return TaskForm{}, fmt.Errorf("service %s v%d: %w", st.Service.Key, st.Service.Version, err)
	}
	for _, t := range sv.Definition.Fulfilment.Tasks {
		if t.ID == taskID {
			out.Outputs = catalog.CloneMap(t.Outputs)
		}
	}
	return out, nil
}
