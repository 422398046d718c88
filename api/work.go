package api

import (
	"context"
	"net/http"

	"github.com/esmhq/esm/desk"
	"github.com/gin-gonic/gin"
)

// The work routes: the approvals inbox, the task queue and the calls on a task. Each decodes and
// bounds what was sent, calls one desk method (where every rule lives) and answers; fail maps
// the desk's errors to problems.

// page is a page of a list and the cursor of the next one (absent on the last page).
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// listApprovals is the caller's inbox (desk.Approvals).
func (s *Server) listApprovals(c *gin.Context) {
	limit, p := queryInt(c, "limit", 50, 1, 200)
	if p != nil {
		writeProblem(c, p)
		return
	}
	res, err := s.desk.Approvals(c.Request.Context(), principal(c), desk.ApprovalsInput{Cursor: c.Query("cursor"), Limit: limit})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[desk.PendingApproval]{Items: res.Items, NextCursor: res.NextCursor})
}

// listTasks is the queue of the caller's groups (desk.Tasks): ?group=, ?state=.
func (s *Server) listTasks(c *gin.Context) {
	limit, p := queryInt(c, "limit", 50, 1, 200)
	if p != nil {
		writeProblem(c, p)
		return
	}
	res, err := s.desk.Tasks(c.Request.Context(), principal(c), desk.TasksInput{
		Group: c.Query("group"), State: c.Query("state"), Cursor: c.Query("cursor"), Limit: limit})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[desk.QueuedTask]{Items: res.Items, NextCursor: res.NextCursor})
}

// taskBody is what the task calls take: outputs to complete, a reason to fail, a question to
// ask the requester, an assignee to assign.
type taskBody struct {
	Outputs  map[string]any `json:"outputs"`
	Reason   string         `json:"reason"`
	Question string         `json:"question"`
	Assignee string         `json:"assignee"`
}

func (s *Server) claimTask(c *gin.Context)    { s.taskCall(c, s.desk.ClaimTask) }
func (s *Server) releaseTask(c *gin.Context)  { s.taskCall(c, s.desk.ReleaseTask) }
func (s *Server) assignTask(c *gin.Context)   { s.taskCall(c, s.desk.AssignTask) }
func (s *Server) completeTask(c *gin.Context) { s.taskCall(c, s.desk.CompleteTask) }
func (s *Server) failTask(c *gin.Context)     { s.taskCall(c, s.desk.FailTask) }
func (s *Server) askTask(c *gin.Context)      { s.taskCall(c, s.desk.AskRequester) }

// taskCall decodes a task call's body (optional), makes it and answers with the task. A body
// that cannot be read is answered as such only for a task the caller may see (desk.VisibleTask).
func (s *Server) taskCall(c *gin.Context, call func(ctx context.Context, me desk.Actor, in desk.TaskCall) (desk.TaskChanged, error)) {
	ctx, me, ref := c.Request.Context(), principal(c), c.Param("id")
	var body taskBody
	if c.Request.ContentLength != 0 && !s.decodeChecked(c, &body, func() error { return s.desk.VisibleTask(ctx, me, ref) }) {
		return
	}
	res, err := call(ctx, me, desk.TaskCall{Task: ref, Outputs: body.Outputs, Reason: body.Reason, Question: body.Question, Assignee: body.Assignee})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": res.Task.Ref, "task": res.Task, "request": res.Request, "status": res.Status})
}
