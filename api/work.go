package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	"github.com/gin-gonic/gin"
)

// page is a page of a list and the cursor of the next one (absent on the last page).
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// badCursor answers a cursor that no page gave.
func badCursor(c *gin.Context) {
	writeProblem(c, errValidation("a query parameter is not valid", catalog.FieldError{
		Field: "cursor", Rule: "format", Detail: "must be a next_cursor from a previous page"}))
}

// listApprovals is the caller's inbox: approvals waiting on them or on someone who delegated to
// them now, oldest first, a page at a time, each with its next deadline. A request the caller
// made is never in it, not even as a delegate of its approver.
func (s *Server) listApprovals(c *gin.Context) {
	limit, p := queryInt(c, "limit", 50, 1, 200)
	if p != nil {
		writeProblem(c, p)
		return
	}
	me := principal(c).ID
	ctx := c.Request.Context()
	delegators, err := s.store.Delegators(ctx, me, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.store.PendingApprovals(ctx, store.InboxFilter{
		Caller: me, People: append([]string{me}, delegators...), Cursor: c.Query("cursor"), Limit: limit})
	if errors.Is(err, store.ErrBadCursor) {
		badCursor(c)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	for i := range items {
		if items[i].Approver != me {
			items[i].OnBehalfOf = items[i].Approver
		}
	}
	c.JSON(http.StatusOK, page[store.PendingApproval]{Items: items, NextCursor: next})
}

var taskStates = []string{catalog.TaskOpen, catalog.TaskClaimed, catalog.TaskDone}

// listTasks is the queue of the caller's groups (?group= narrows to one, ?state= to one state;
// by default open and claimed tasks), oldest first, a page at a time, never a task of a request
// the caller made (nobody fulfils their own request).
func (s *Server) listTasks(c *gin.Context) {
	me := principal(c)
	limit, p := queryInt(c, "limit", 50, 1, 200)
	if p != nil {
		writeProblem(c, p)
		return
	}
	groups := me.Groups
	if g := c.Query("group"); g != "" {
		if !me.InGroup(g) {
			writeProblem(c, errForbidden(fmt.Sprintf("you are not in group %s", g)))
			return
		}
		groups = []string{g}
	}
	states := []string{catalog.TaskOpen, catalog.TaskClaimed}
	if st := c.Query("state"); st != "" {
		if !slices.Contains(taskStates, st) {
			writeProblem(c, errValidation("a query parameter is not valid", catalog.FieldError{
				Field: "state", Rule: "enum", Detail: fmt.Sprintf("must be one of %v", taskStates)}))
			return
		}
		states = []string{st}
	}
	items, next, err := s.store.TaskQueue(c.Request.Context(), store.QueueFilter{
		Groups: groups, States: states, Caller: me.ID, Cursor: c.Query("cursor"), Limit: limit})
	if errors.Is(err, store.ErrBadCursor) {
		badCursor(c)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[store.QueuedTask]{Items: items, NextCursor: next})
}

// taskBody is what the task calls take: outputs to complete, a reason to fail, a question to
// ask the requester, an assignee to assign.
type taskBody struct {
	Outputs  map[string]any `json:"outputs"`
	Reason   string         `json:"reason"`
	Question string         `json:"question"`
	Assignee string         `json:"assignee"`
}

// RoleLead marks a group's lead: a member with this role may assign and act on claimed tasks.
const RoleLead = "lead"

func (s *Server) claimTask(c *gin.Context)    { s.taskUpdate(c, workflows.ClaimTaskUpdate) }
func (s *Server) releaseTask(c *gin.Context)  { s.taskUpdate(c, workflows.ReleaseTaskUpdate) }
func (s *Server) assignTask(c *gin.Context)   { s.taskUpdate(c, workflows.AssignTaskUpdate) }
func (s *Server) completeTask(c *gin.Context) { s.taskUpdate(c, workflows.CompleteTaskUpdate) }
func (s *Server) failTask(c *gin.Context)     { s.taskUpdate(c, workflows.FailTaskUpdate) }
func (s *Server) askTask(c *gin.Context)      { s.taskUpdate(c, workflows.AskTaskUpdate) }

// taskUpdate acts on a task through its request's workflow. Someone who can see the request but
// is not in the task's group gets 403 from the workflow's validator.
func (s *Server) taskUpdate(c *gin.Context, update string) {
	reqID, taskID, ok := catalog.ParseTaskRef(c.Param("id"))
	if !ok {
		writeProblem(c, errNotFound(fmt.Sprintf("%q is not a task id (REQ-000042.task)", c.Param("id"))))
		return
	}
	st, _, ok := s.visible(c, reqID)
	if !ok {
		return
	}
	var body taskBody
	if c.Request.ContentLength != 0 {
		if p := decodeBody(c, &body); p != nil {
			writeProblem(c, p)
			return
		}
	}
	me := principal(c)
	in := workflows.TaskInput{Actor: ref(me), Groups: me.Groups, Task: taskID, Outputs: body.Outputs}
	var group string
	for _, t := range st.Tasks {
		if t.ID == taskID {
			group = t.Group
		}
	}
	in.Lead = me.HasRole(RoleLead) && me.InGroup(group)
	var fields []catalog.FieldError
	switch update {
	case workflows.FailTaskUpdate:
		in.Reason = body.Reason
		if strings.TrimSpace(body.Reason) == "" {
			fields = append(fields, catalog.FieldError{Field: "/reason", Rule: "required", Detail: "say why the task cannot be done"})
		}
	case workflows.AskTaskUpdate:
		in.Reason = body.Question
		if strings.TrimSpace(body.Question) == "" {
			fields = append(fields, catalog.FieldError{Field: "/question", Rule: "required", Detail: "ask the requester something"})
		}
	case workflows.AssignTaskUpdate:
		in.Assignee = body.Assignee
		if body.Assignee == "" {
			fields = append(fields, catalog.FieldError{Field: "/assignee", Rule: "required", Detail: "name a member of the group"})
		} else if p, err := s.store.Person(c.Request.Context(), body.Assignee); err != nil || !p.InGroup(group) {
			fields = append(fields, catalog.FieldError{Field: "/assignee", Rule: "reference", Detail: fmt.Sprintf("%q is not a member of %s", body.Assignee, group)})
		}
	}
	if len(body.Reason)+len(body.Question) > maxText {
		fields = append(fields, catalog.FieldError{Field: "/reason", Rule: "maxLength", Detail: fmt.Sprintf("at most %d characters", maxText)})
	}
	if len(fields) > 0 {
		writeProblem(c, errValidation("the task call is not valid", fields...))
		return
	}
	var res workflows.TaskResult
	if err := s.update(c.Request.Context(), workflows.RequestWorkflowID(st.ID), update, in, &res); err != nil {
		s.failWorkflow(c, st.ID, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": res.Task.Ref, "task": res.Task, "request": res.Request, "status": res.Status})
}
