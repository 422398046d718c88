package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// RoleAdmin may do everything the owner and the department head may.
const RoleAdmin = "admin"

// startLifecycle starts a service's lifecycle workflow if it is not running. A new service's
// starts with no version: its first draft is stored by the lifecycle, once accepted.
func startLifecycle(ctx context.Context, tc client.Client, si store.ServiceInfo) error {
	_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.ServiceWorkflowID(si.Key),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("Service %s (%s)", si.Key, si.Department),
	}, workflows.ServiceLifecycle, workflows.LifecycleInput{Key: si.Key, Stage: si.Stage, Live: si.Live, Draft: si.Draft})
	return err
}

// SyncLifecycles makes sure every service has its lifecycle workflow, and tells each about a
// version published from catalog files since. `esm dev` and `esm catalog apply` call it.
func SyncLifecycles(ctx context.Context, tc client.Client, s *store.Store) error {
	all, err := s.AllServices(ctx)
	if err != nil {
		return err
	}
	for _, si := range all {
		if si.Stage == catalog.StageRetired {
			continue
		}
		if err := startLifecycle(ctx, tc, si); err != nil {
			return fmt.Errorf("lifecycle of %s: %w", si.Key, err)
		}
		v, err := tc.QueryWorkflow(ctx, workflows.ServiceWorkflowID(si.Key), "", workflows.LifecycleQuery)
		if err != nil {
			return fmt.Errorf("lifecycle of %s: %w", si.Key, err)
		}
		var st workflows.LifecycleState
		if err := v.Get(&st); err != nil {
			return err
		}
		if si.Live > st.Live {
			h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflows.ServiceWorkflowID(si.Key),
				UpdateName: workflows.LifecycleUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
				Args: []any{workflows.LifecycleAction{Actor: catalog.PersonRef{ID: "catalog-apply"}, System: true, Action: workflows.ActionApplied, Version: si.Live}}})
			if err == nil {
				err = h.Get(ctx, nil)
			}
			if err != nil {
				return fmt.Errorf("lifecycle of %s: %w", si.Key, err)
			}
		}
	}
	return nil
}

// roles works out who the caller is to a service from the stored definition that governs it
// (serviceForLifecycle's) and the directory: never from a definition in a body.
func (s *Server) roles(c *gin.Context, d catalog.Definition) workflows.LifecycleAction {
	me := principal(c)
	a := workflows.LifecycleAction{Actor: ref(me), Owner: me.ID == d.Owner, Staff: me.Department == d.Department, Admin: me.HasRole(RoleAdmin)}
	if dept, err := s.store.Department(c.Request.Context(), d.Department); err == nil {
		a.Head = dept.Head == me.ID
	}
	return a
}

// definitionBody reads a definition from the body and validates it against the directory.
func (s *Server) definitionBody(c *gin.Context) (catalog.Definition, bool) {
	var d catalog.Definition
	if p := decodeBody(c, &d); p != nil {
		writeProblem(c, p)
		return d, false
	}
	d.Normalize()
	known, err := s.store.Known(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return d, false
	}
	if err := catalog.ValidateWith(d, known); err != nil {
		var ve *catalog.ValidationError
		if errors.As(err, &ve) {
			for i := range ve.Errors {
				ve.Errors[i].Field = catalog.Pointer(ve.Errors[i].Field) // the API speaks JSON pointers
			}
			writeProblem(c, errValidation("the definition is not valid", ve.Errors...))
			return d, false
		}
		s.fail(c, err)
		return d, false
	}
	return d, true
}

// createService creates a service: its lifecycle starts with no version and stores the first
// draft once it has accepted it (nothing is written before). The department's staff and admins
// may.
func (s *Server) createService(c *gin.Context) {
	d, ok := s.definitionBody(c)
	if !ok {
		return
	}
	me := principal(c)
	if me.Department != d.Department && !me.HasRole(RoleAdmin) {
		writeProblem(c, errForbidden(fmt.Sprintf("only %s's staff create its services", d.Department)))
		return
	}
	ctx := c.Request.Context()
	if _, err := s.store.Service(ctx, d.Key); err == nil {
		writeProblem(c, errConflict(fmt.Sprintf("service %q exists; edit its draft instead", d.Key)))
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		s.fail(c, err)
		return
	}
	if err := startLifecycle(ctx, s.temporal, store.ServiceInfo{Key: d.Key, Department: d.Department, Stage: catalog.StageDraft}); err != nil {
		s.fail(c, err)
		return
	}
	// Who the caller is to a service that does not exist yet: the directory says it.
	a := workflows.LifecycleAction{Actor: ref(me), Staff: me.Department == d.Department, Admin: me.HasRole(RoleAdmin),
		Action: workflows.ActionSaveDraft, Definition: &d, Create: true}
	if dept, err := s.store.Department(ctx, d.Department); err == nil {
		a.Head = dept.Head == me.ID
	}
	st, ok := s.lifecycleCall(c, d.Key, a)
	if !ok {
		return
	}
	c.Header("Location", "/v1/catalog/services/"+d.Key+"/lifecycle")
	c.JSON(http.StatusCreated, gin.H{"key": d.Key, "version": st.Draft, "stage": st.Stage})
}

// saveDraft asks the service's lifecycle to store an edited definition as its next draft
// version. Who the caller is comes from the stored definition, and the lifecycle stores the
// draft only once it has accepted it.
func (s *Server) saveDraft(c *gin.Context) {
	si, gov, ok := s.serviceForLifecycle(c)
	if !ok {
		return
	}
	a := s.roles(c, gov)
	if !(a.Owner || a.Staff || a.Admin) {
		writeProblem(c, errForbidden("only the owner or the department's staff edit a draft"))
		return
	}
	d, ok := s.definitionBody(c)
	if !ok {
		return
	}
	if d.Key != si.Key || d.Department != si.Department {
		writeProblem(c, errValidation("the draft is for another service", catalog.FieldError{Field: "/key", Rule: "const", Detail: "the key and department of a service do not change"}))
		return
	}
	a.Action, a.Definition = workflows.ActionSaveDraft, &d
	s.lifecycleUpdate(c, si.Key, a)
}

type lifecycleBody struct {
	Action    string `json:"action"`
	Comment   string `json:"comment"`
	Outcome   string `json:"outcome"`
	Successor string `json:"successor"`
}

// lifecycleAction runs a transition: submit, approve, reject, publish, deprecate, retire, review.
func (s *Server) lifecycleAction(c *gin.Context) {
	si, d, ok := s.serviceForLifecycle(c)
	if !ok {
		return
	}
	var body lifecycleBody
	if p := decodeBody(c, &body); p != nil {
		writeProblem(c, p)
		return
	}
	switch body.Action {
	case workflows.ActionSubmit, workflows.ActionApprove, workflows.ActionReject, workflows.ActionPublish,
		workflows.ActionDeprecate, workflows.ActionRetire, workflows.ActionReview:
	default:
		writeProblem(c, errValidation("the action is not valid", catalog.FieldError{Field: "/action", Rule: "enum",
			Detail: "one of submit, approve, reject, publish, deprecate, retire, review"}))
		return
	}
	a := s.roles(c, d)
	a.Action, a.Comment, a.Outcome, a.Successor = body.Action, body.Comment, body.Outcome, body.Successor
	s.lifecycleUpdate(c, si.Key, a)
}

func (s *Server) lifecycleUpdate(c *gin.Context, key string, a workflows.LifecycleAction) {
	if st, ok := s.lifecycleCall(c, key, a); ok {
		c.JSON(http.StatusOK, st)
	}
}

// lifecycleCall sends the action to the service's lifecycle and answers its state, or writes
// the problem.
func (s *Server) lifecycleCall(c *gin.Context, key string, a workflows.LifecycleAction) (workflows.LifecycleState, bool) {
	var res workflows.LifecycleResult
	err := s.update(c.Request.Context(), workflows.ServiceWorkflowID(key), workflows.LifecycleUpdate, a, &res)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		writeProblem(c, errConflict(fmt.Sprintf("the lifecycle of %s has ended: the service is retired", key)))
		return res.State, false
	case err != nil:
		s.failWorkflow(c, key, err)
		return res.State, false
	}
	return res.State, true
}

// serviceForLifecycle loads a service and the definition that governs it (live, else draft),
// and makes sure its lifecycle workflow runs.
func (s *Server) serviceForLifecycle(c *gin.Context) (store.ServiceInfo, catalog.Definition, bool) {
	ctx := c.Request.Context()
	si, err := s.store.Service(ctx, c.Param("key"))
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(c, errNotFound(fmt.Sprintf("there is no service %q", c.Param("key"))))
		return si, catalog.Definition{}, false
	}
	if err != nil {
		s.fail(c, err)
		return si, catalog.Definition{}, false
	}
	v := si.Live
	if v == 0 {
		v = si.Draft
	}
	sv, err := s.store.ServiceAt(ctx, si.Key, v)
	if err == nil && si.Stage != catalog.StageRetired {
		err = startLifecycle(ctx, s.temporal, si)
	}
	if err != nil {
		s.fail(c, err)
		return si, catalog.Definition{}, false
	}
	return si, sv.Definition, true
}

// getLifecycle answers the service's stage, versions, next review and history from its workflow
// (for a retired one, from its last run).
func (s *Server) getLifecycle(c *gin.Context) {
	si, _, ok := s.serviceForLifecycle(c)
	if !ok {
		return
	}
	v, err := s.temporal.QueryWorkflow(c.Request.Context(), workflows.ServiceWorkflowID(si.Key), "", workflows.LifecycleQuery)
	var st workflows.LifecycleState
	if err == nil {
		err = v.Get(&st)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		writeProblem(c, errNotFound("no lifecycle for "+si.Key))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}
