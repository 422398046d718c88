package api

import (
	"net/http"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/gin-gonic/gin"
)

// slaReport gives SLA attainment per service and department for requests closed in a period
// (?from=, ?to=, RFC 3339; the last 30 days by default). Operators see every department; anyone
// else sees their own department's services.
func (s *Server) slaReport(c *gin.Context) {
	now := s.now()
	from, to := now.Add(-30*24*time.Hour), now
	var fields []catalog.FieldError
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fields = append(fields, catalog.FieldError{Field: name, Rule: "format", Detail: "an RFC 3339 instant, like 2026-11-01T00:00:00Z"})
				continue
			}
			*dst = t
		}
	}
	if len(fields) == 0 && !to.After(from) {
		fields = append(fields, catalog.FieldError{Field: "to", Rule: "minimum", Detail: "to must be after from"})
	}
	if len(fields) > 0 {
		writeProblem(c, errValidation("the period is not valid", fields...))
		return
	}
	me := principal(c)
	dept := ""
	if !me.HasRole(catalog.RoleOperator) {
		dept = me.Department
	}
	rows, err := s.store.SLAAttainment(c.Request.Context(), from, to, dept)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"from": from.UTC(), "to": to.UTC(), "items": rows})
}
