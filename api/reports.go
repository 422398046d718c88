package api

import (
	"net/http"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/gin-gonic/gin"
)

// slaReport gives SLA attainment per service and department (desk.SLAReport) for requests
// closed in a period (?from=, ?to=, RFC 3339; the last 30 days by default).
func (s *Server) slaReport(c *gin.Context) {
	var in desk.SLAReportInput
	var fields []catalog.FieldError
	for name, dst := range map[string]**time.Time{"from": &in.From, "to": &in.To} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fields = append(fields, catalog.FieldError{Field: name, Rule: "format", Detail: "an RFC 3339 instant, like 2026-11-01T00:00:00Z"})
				continue
			}
			*dst = &t
		}
	}
	if len(fields) > 0 {
		writeProblem(c, errValidation("the period is not valid", fields...))
		return
	}
	res, err := s.desk.SLAReport(c.Request.Context(), principal(c), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"from": res.From, "to": res.To, "items": res.Items})
}
