package api

import (
	"net/http"

	"github.com/esmhq/esm/desk"
	"github.com/gin-gonic/gin"
)

// listServices lists the services the caller may request (?department=, ?category=, ?q= over
// key, name, summary, description and tags; ?include=ineligible lists the others too, each
// saying why): desk.Catalog.
func (s *Server) listServices(c *gin.Context) {
	items, err := s.desk.Catalog(c.Request.Context(), principal(c), desk.CatalogQuery{Department: c.Query("department"),
		Category: c.Query("category"), Words: c.Query("q"), Include: c.Query("include")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// getService returns a service at its current version, its internals to those who manage it:
// desk.Service.
func (s *Server) getService(c *gin.Context) {
	v, err := s.desk.Service(c.Request.Context(), principal(c), c.Param("key"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

type quoteBody struct {
	Form     map[string]any `json:"form"`
	Quantity *int           `json:"quantity"`
}

// quoteService prices {form, quantity} without submitting anything (desk.Quote).
func (s *Server) quoteService(c *gin.Context) {
	var body quoteBody
	// A service that does not exist is not found whatever was sent.
	if !s.decodeChecked(c, &body, func() error {
		_, err := s.desk.Service(c.Request.Context(), principal(c), c.Param("key"))
		return err
	}) {
		return
	}
	q, err := s.desk.Quote(c.Request.Context(), principal(c), desk.QuoteInput{Service: c.Param("key"), Form: body.Form, Quantity: body.Quantity})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"service": q.Service, "version": q.Version, "quote": q.Quote})
}
