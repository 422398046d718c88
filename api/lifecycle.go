package api

import (
	"context"
	"net/http"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"
)

// RoleAdmin may do everything the owner and the department head may.
const RoleAdmin = desk.RoleAdmin

// SyncLifecycles makes sure every service has its lifecycle workflow, and tells each about a
// version published from catalog files since (desk.SyncLifecycles). `esm dev` and `esm catalog
// apply` call it.
func SyncLifecycles(ctx context.Context, tc client.Client, s *store.Store) error {
	return desk.SyncLifecycles(ctx, tc, s)
}

// createService creates a service from its first draft: desk.CreateService.
func (s *Server) createService(c *gin.Context) {
	var d catalog.Definition
	if p := decodeBody(c, &d); p != nil {
		writeProblem(c, p)
		return
	}
	st, err := s.desk.CreateService(c.Request.Context(), principal(c), d)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/catalog/services/"+d.Key+"/lifecycle")
	c.JSON(http.StatusCreated, gin.H{"key": d.Key, "version": st.Draft, "stage": st.Stage})
}

// saveDraft stores an edited definition as the service's next draft version: desk.SaveDraft.
// A body that cannot be read is reported only to someone who may edit the draft.
func (s *Server) saveDraft(c *gin.Context) {
	ctx, me, key := c.Request.Context(), principal(c), c.Param("key")
	var d catalog.Definition
	if !s.decodeChecked(c, &d, func() error { return s.desk.MayEditDraft(ctx, me, key) }) {
		return
	}
	st, err := s.desk.SaveDraft(ctx, me, desk.Draft{Service: key, Definition: d})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

type lifecycleBody struct {
	Action    string `json:"action"`
	Comment   string `json:"comment"`
	Outcome   string `json:"outcome"`
	Successor string `json:"successor"`
}

// lifecycleAction runs a transition (submit, approve, reject, publish, deprecate, retire,
// review): desk.ApplyLifecycleAction. A body that cannot be read is reported only about a
// service that exists.
func (s *Server) lifecycleAction(c *gin.Context) {
	ctx, key := c.Request.Context(), c.Param("key")
	var body lifecycleBody
	if !s.decodeChecked(c, &body, func() error { return s.desk.KnownService(ctx, principal(c), key) }) {
		return
	}
	st, err := s.desk.ApplyLifecycleAction(ctx, principal(c), desk.LifecycleActionInput{Service: key,
		Action: body.Action, Comment: body.Comment, Outcome: body.Outcome, Successor: body.Successor})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// getLifecycle answers the service's stage, versions, next review and history: desk.Lifecycle.
func (s *Server) getLifecycle(c *gin.Context) {
	st, err := s.desk.Lifecycle(c.Request.Context(), principal(c), c.Param("key"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}
