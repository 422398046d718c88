package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/gin-gonic/gin"
)

// Problem is an RFC 9457 problem detail. Type is stable: clients switch on it.
type Problem struct {
	Type     string               `json:"type"`
	Title    string               `json:"title"`
	Status   int                  `json:"status"`
	Detail   string               `json:"detail,omitempty"`
	Instance string               `json:"instance,omitempty"`
	Errors   []catalog.FieldError `json:"errors,omitempty"`
	// Request names the existing request, for idempotency conflicts.
	Request string `json:"request,omitempty"`
	// Limit names the limitation hit, ResetsAt says when it resets (absent when it resets as
	// open requests close) and OpenRequests lists those.
	Limit        string     `json:"limit,omitempty"`
	ResetsAt     *time.Time `json:"resets_at,omitempty"`
	OpenRequests []string   `json:"open_requests,omitempty"`
	// Successor names the service that replaces a retired one.
	Successor string `json:"successor,omitempty"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// problemType makes the stable type URI of a problem slug.
func problemType(slug string) string { return "urn:esm:problem:" + slug }

func newProblem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: problemType(slug), Title: title, Status: status, Detail: detail}
}

func errUnauthorized(detail string) *Problem {
	return newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized", detail)
}

func errForbidden(detail string) *Problem {
	return newProblem(http.StatusForbidden, "forbidden", "Forbidden", detail)
}

func errNotFound(detail string) *Problem {
	return newProblem(http.StatusNotFound, "not-found", "Not found", detail)
}

func errConflict(detail string) *Problem {
	return newProblem(http.StatusConflict, "conflict", "Conflict", detail)
}

func errBadRequest(detail string) *Problem {
	return newProblem(http.StatusBadRequest, "malformed", "Malformed request", detail)
}

// errValidation is a 422 naming each field and the rule it breaks.
func errValidation(detail string, fields ...catalog.FieldError) *Problem {
	p := newProblem(http.StatusUnprocessableEntity, "validation", "Validation failed", detail)
	p.Errors = fields
	return p
}

func errUnavailable(detail string) *Problem {
	return newProblem(http.StatusServiceUnavailable, "unavailable", "Service unavailable", detail)
}

// writeProblem sends p as application/problem+json.
func writeProblem(c *gin.Context, p *Problem) {
	p.Instance = c.Request.URL.Path
	// Gin's JSON renderer keeps a Content-Type that is already set.
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(p.Status, p)
}

// retryAfter is what a 503 asks callers to wait, in seconds.
const retryAfter = "5"

// writeUnavailable answers 503 with Retry-After: a dependency is down, the caller tries again.
func writeUnavailable(c *gin.Context, detail string) {
	c.Header("Retry-After", retryAfter)
	writeProblem(c, errUnavailable(detail))
}

// fail answers with err: a *Problem as it is; a desk error by its kind (deskProblem); a
// dependency that is down (desk.Unavailable) as a 503 with Retry-After; anything else as a 500 that hides the cause from the caller and logs it.
func (s *Server) fail(c *gin.Context, err error) {
	var p *Problem
	if errors.As(err, &p) {
		if p.Status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
			c.Header("Retry-After", retryAfter)
		}
		writeProblem(c, p)
		return
	}
	if p := deskProblem(err); p != nil {
		if p.Status == http.StatusServiceUnavailable {
			writeUnavailable(c, p.Detail) // the desk logged it
			return
		}
		writeProblem(c, p)
		return
	}
	if what := desk.Unavailable(err); what != "" {
		s.log.WarnContext(c.Request.Context(), "dependency unavailable", "path", c.Request.URL.Path, "error", err)
		writeUnavailable(c, what+" is not answering; try again shortly")
		return
	}
	s.log.ErrorContext(c.Request.Context(), "internal error", "path", c.Request.URL.Path, "error", err)
	writeProblem(c, newProblem(http.StatusInternalServerError, "internal", "Internal error", "the server failed; the error is logged"))
}

// deskProblem is the problem a desk error of a known kind answers (nil for any other error).
// It is the one place where the desk's error kinds become HTTP statuses.
func deskProblem(err error) *Problem {
	var (
		ve *desk.ValidationError
		le *desk.LimitError
		de *desk.Error
	)
	switch {
	case errors.As(err, &ve):
		return errValidation(ve.Detail, ve.Fields...)
	case errors.As(err, &le):
		p := newProblem(http.StatusConflict, "limit", "Limit reached", le.Detail)
		p.Limit = le.Limit
		if !le.ResetsAt.IsZero() {
			t := le.ResetsAt.UTC()
			p.ResetsAt = &t
		}
		p.OpenRequests = le.Open
		return p
	case !errors.As(err, &de):
		return nil
	}
	switch de.Reason {
	case desk.ReasonNotEligible:
		return newProblem(http.StatusForbidden, "not-eligible", "Not eligible", de.Detail)
	case desk.ReasonRetired:
		p := newProblem(http.StatusGone, "retired", "Service retired", de.Detail)
		p.Successor = de.Successor
		return p
	case desk.ReasonKeyReused:
		p := newProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused", de.Detail)
		p.Request = de.Request
		return p
	}
	switch {
	case errors.Is(de, desk.ErrNotFound):
		return errNotFound(de.Detail)
	case errors.Is(de, desk.ErrForbidden):
		return errForbidden(de.Detail)
	case errors.Is(de, desk.ErrConflict):
		return errConflict(de.Detail)
	case errors.Is(de, desk.ErrGone):
		return newProblem(http.StatusGone, "gone", "Gone", de.Detail)
	case errors.Is(de, desk.ErrUnavailable):
		return errUnavailable(de.Detail)
	}
	return nil
}
