package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
)

// serviceSummary is one entry of the catalog list.
type serviceSummary struct {
	Key        string   `json:"key"`
	Name       string   `json:"name"`
	Department string   `json:"department"`
	Category   string   `json:"category,omitempty"`
	Summary    string   `json:"summary,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Version    int      `json:"version"`
}

// listServices lists the catalog (?department=, ?category=, ?q= over name, summary and tags).
func (s *Server) listServices(c *gin.Context) {
	all, err := s.store.ListServices(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	dept, cat, q := c.Query("department"), c.Query("category"), strings.ToLower(c.Query("q"))
	items := []serviceSummary{}
	for _, sv := range all {
		d := sv.Definition
		if dept != "" && d.Department != dept || cat != "" && d.Category != cat {
			continue
		}
		if q != "" && !matches(d, q) {
			continue
		}
		items = append(items, serviceSummary{Key: d.Key, Name: d.Name, Department: d.Department,
			Category: d.Category, Summary: d.Summary, Tags: d.Tags, Version: sv.Version})
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func matches(d catalog.Definition, q string) bool {
	hay := strings.ToLower(d.Key + " " + d.Name + " " + d.Summary + " " + d.Description + " " + strings.Join(d.Tags, " "))
	return strings.Contains(hay, q)
}

// getService returns a service's customer-facing parts at its current version.
func (s *Server) getService(c *gin.Context) {
	sv, err := s.store.CurrentService(c.Request.Context(), c.Param("key"))
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(c, errNotFound(fmt.Sprintf("there is no service %q in the catalog", c.Param("key"))))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, struct {
		catalog.CustomerView
		Version int `json:"version"`
	}{sv.Definition.Customer(), sv.Version})
}
