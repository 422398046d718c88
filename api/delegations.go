package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
)

type delegationBody struct {
	Delegate string    `json:"delegate"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// createDelegation: the caller is out of office; their approvals may be decided by the delegate
// from starts_at until ends_at. Decisions are recorded as "delegate on behalf of caller".
func (s *Server) createDelegation(c *gin.Context) {
	me := principal(c)
	var body delegationBody
	if p := decodeBody(c, &body); p != nil {
		writeProblem(c, p)
		return
	}
	var fields []catalog.FieldError
	if body.Delegate == "" {
		fields = append(fields, catalog.FieldError{Field: "/delegate", Rule: "required", Detail: "name the person who decides for you"})
	} else if body.Delegate == me.ID {
		fields = append(fields, catalog.FieldError{Field: "/delegate", Rule: "not", Detail: "you cannot delegate to yourself"})
	} else if _, err := s.store.Person(c.Request.Context(), body.Delegate); errors.Is(err, store.ErrNotFound) {
		fields = append(fields, catalog.FieldError{Field: "/delegate", Rule: "reference", Detail: fmt.Sprintf("no person %q in the directory", body.Delegate)})
	} else if err != nil {
		s.fail(c, err)
		return
	}
	if body.StartsAt.IsZero() {
		body.StartsAt = s.now()
	}
	if body.EndsAt.IsZero() {
		fields = append(fields, catalog.FieldError{Field: "/ends_at", Rule: "required", Detail: "say when you are back (RFC 3339)"})
	} else if !body.EndsAt.After(body.StartsAt) || !body.EndsAt.After(s.now()) {
		fields = append(fields, catalog.FieldError{Field: "/ends_at", Rule: "minimum", Detail: "must be after starts_at and in the future"})
	} else if body.EndsAt.Sub(body.StartsAt) > 366*24*time.Hour {
		fields = append(fields, catalog.FieldError{Field: "/ends_at", Rule: "maximum", Detail: "a delegation lasts at most a year"})
	}
	if len(fields) > 0 {
		writeProblem(c, errValidation("the delegation is not valid", fields...))
		return
	}
	d, err := s.store.CreateDelegation(c.Request.Context(), store.Delegation{
		Person: me.ID, Delegate: body.Delegate, StartsAt: body.StartsAt, EndsAt: body.EndsAt, CreatedAt: s.now()})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", fmt.Sprintf("/v1/delegations/%d", d.ID))
	c.JSON(http.StatusCreated, d)
}

// listDelegations lists the delegations the caller gave or received that have not ended.
func (s *Server) listDelegations(c *gin.Context) {
	items, err := s.store.Delegations(c.Request.Context(), principal(c).ID, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// deleteDelegation ends a delegation the caller gave.
func (s *Server) deleteDelegation(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err == nil {
		err = s.store.DeleteDelegation(c.Request.Context(), id, principal(c).ID)
	}
	if errors.Is(err, store.ErrNotFound) || err != nil && id == 0 {
		writeProblem(c, errNotFound("no delegation "+c.Param("id")+" of yours"))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
