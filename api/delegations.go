package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/esmhq/esm/desk"
	"github.com/gin-gonic/gin"
)

type delegationBody struct {
	Delegate string    `json:"delegate"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// createDelegation: the caller is out of office (desk.Delegate); 201 with its Location.
func (s *Server) createDelegation(c *gin.Context) {
	var body delegationBody
	if p := decodeBody(c, &body); p != nil {
		writeProblem(c, p)
		return
	}
	d, err := s.desk.Delegate(c.Request.Context(), principal(c), desk.DelegateInput{Delegate: body.Delegate, StartsAt: body.StartsAt, EndsAt: body.EndsAt})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", fmt.Sprintf("/v1/delegations/%d", d.ID))
	c.JSON(http.StatusCreated, d)
}

// listDelegations lists the delegations the caller gave or received that have not ended
// (desk.Delegations).
func (s *Server) listDelegations(c *gin.Context) {
	items, err := s.desk.Delegations(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// deleteDelegation ends a delegation the caller gave (desk.EndDelegation).
func (s *Server) deleteDelegation(c *gin.Context) {
	if err := s.desk.EndDelegation(c.Request.Context(), principal(c), c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
