package api

// What api still needs until every use case goes through desk (work.go, lifecycle.go): delete
// this file once nothing calls it. desk/desk.go holds the same rules.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// maxText bounds comments and reasons.
const maxText = 4000

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "auto-" + hex.EncodeToString(b)
}

// visible loads a request the caller may see, or answers 404 (never revealing that it exists).
// Delegations are read only when the caller's own part does not let them see it; the people
// whose approvals the caller may decide as their delegate come back when they were read (nil
// otherwise).
func (s *Server) visible(c *gin.Context, id string) (catalog.RequestState, []string, bool) {
	if _, ok := catalog.ParseRequestID(id); !ok {
		writeProblem(c, errNotFound(fmt.Sprintf("%q is not a request id (REQ- and six or more digits)", id)))
		return catalog.RequestState{}, nil, false
	}
	ctx := c.Request.Context()
	me := principal(c)
	st, err := s.store.Request(ctx, id)
	var delegators []string
	seen := err == nil && canSee(me, nil, st)
	if err == nil && !seen {
		if delegators, err = s.store.Delegators(ctx, me.ID, s.now()); err == nil {
			seen = canSee(me, delegators, st)
		}
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && !seen) {
		writeProblem(c, errNotFound(fmt.Sprintf("no request %s", id)))
		return st, nil, false
	}
	if err != nil {
		s.fail(c, err)
		return st, nil, false
	}
	return st, delegators, true
}

// canSee: the requester, anyone asked to approve and their delegates, the members of a group
// whose task has opened (not before: an HR request is not IT's business until IT has work on
// it), operators.
func canSee(p catalog.Person, delegators []string, st catalog.RequestState) bool {
	if p.ID == st.Requester.ID || p.HasRole(catalog.RoleOperator) {
		return true
	}
	for _, a := range st.Approvals {
		for _, ap := range a.Approvers {
			if ap.ID == p.ID || slices.Contains(delegators, ap.ID) {
				return true
			}
		}
	}
	for _, t := range st.Tasks {
		if t.State != catalog.TaskWaiting && t.State != catalog.TaskSkipped && p.InGroup(t.Group) {
			return true
		}
	}
	return false
}

// update runs an update of a workflow to completion and decodes its result.
//
// It waits s.wait at most: a workflow that does not answer by then (its worker is down or far
// behind) is a 503 with Retry-After (failWorkflow), and the update, which Temporal keeps, is
// applied when a worker comes back; a retry with the same Idempotency-Key sends the same
// update id, so it attaches to that update rather than making a second.
func (s *Server) update(ctx context.Context, workflowID, name string, arg, result any) error {
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	id := updateID(ctx)
	if id == "" {
		id = randomKey() // one id for every attempt below, so a retry is the same update
	}
	return retryNotReady(ctx, func() error {
		h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			UpdateID:     id,
			WorkflowID:   workflowID,
			UpdateName:   name,
			WaitForStage: client.WorkflowUpdateStageCompleted,
			Args:         []any{arg},
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, result)
	})
}

// updateOutlived is the failure type Temporal gives an update its workflow closed before
// completing (an operator cancelled or terminated it meanwhile).
const updateOutlived = "AcceptedUpdateCompletedWorkflow"

// retryNotReady runs call again while Temporal answers WorkflowNotReady: the workflow task
// that carried the update failed (an event came in while it ran, such as an operator's cancel,
// or its worker died), and the server asks the caller to send the update again. The update id
// is the same on every attempt, so the workflow takes it once. It stops when ctx ends.
func retryNotReady(ctx context.Context, call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		var notReady *serviceerror.WorkflowNotReady
		if !errors.As(err, &notReady) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(min(attempt, 10)) * 50 * time.Millisecond):
		}
	}
}

// failWorkflow maps an error from a workflow call to a problem: the workflow's own refusals
// keep their meaning; a closed workflow is a conflict.
func (s *Server) failWorkflow(c *gin.Context, id string, err error) {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg := app.Message()
		switch app.Type() {
		case workflows.ErrForbidden:
			writeProblem(c, errForbidden(msg))
			return
		case workflows.ErrConflict:
			writeProblem(c, errConflict(msg))
			return
		case workflows.ErrNotFound:
			writeProblem(c, errNotFound(msg))
			return
		case updateOutlived:
			writeProblem(c, errConflict(fmt.Sprintf("%s closed before the call was answered", id)))
			return
		case workflows.ErrInvalid:
			var fields []catalog.FieldError
			if app.HasDetails() {
				_ = app.Details(&fields)
			}
			for i := range fields {
				fields[i].Field = "/outputs" + fields[i].Field
			}
			writeProblem(c, errValidation(msg, fields...))
			return
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.WarnContext(c.Request.Context(), "workflow did not answer in time", "request", id, "wait", s.wait, "error", err)
		writeUnavailable(c, fmt.Sprintf("the workflow of %s did not answer within %s (ESM's worker may be down or busy); what you sent is kept and takes effect when it answers: retry with the same Idempotency-Key to get the outcome", id, s.wait))
		return
	}
	// The server answers NotFound for an update to a workflow that has completed.
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		writeProblem(c, errConflict(fmt.Sprintf("request %s is closed", id)))
		return
	}
	s.fail(c, err)
}
