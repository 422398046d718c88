package api

import (
	"net/http"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/gin-gonic/gin"
)

// The request routes: each decodes and bounds what was sent, calls one desk method (where every
// rule lives) and answers; fail maps the desk's errors to problems.

type submitBody struct {
	Service  string         `json:"service"`
	Form     map[string]any `json:"form"`
	Quantity *int           `json:"quantity"`
	Priority string         `json:"priority"`
}

// submitted is the answer to a submission.
type submitted struct {
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Service string         `json:"service"`
	Version int            `json:"version"`
	Quote   *catalog.Quote `json:"quote,omitempty"`
}

// idempotencyKey reads the Idempotency-Key header ("" when absent), refusing one that is too long.
func idempotencyKey(c *gin.Context) (string, *Problem) {
	key := c.GetHeader("Idempotency-Key")
	if err := desk.CheckIdempotencyKey(key); err != nil {
		return "", deskProblem(err)
	}
	return key, nil
}

// submit creates a request (desk.Submit); the Idempotency-Key makes a retry answer with the
// request it made (200, Idempotent-Replayed).
func (s *Server) submit(c *gin.Context) {
	if boundary, ok := isMultipart(c); ok {
		s.submitMultipart(c, boundary) // attachments.go
		return
	}
	var body submitBody
	if p := decodeBody(c, &body); p != nil {
		writeProblem(c, p)
		return
	}
	out, err := s.desk.Submit(c.Request.Context(), principal(c), desk.SubmitInput{Service: body.Service, Form: body.Form,
		Quantity: body.Quantity, Priority: body.Priority, IdempotencyKey: c.GetHeader("Idempotency-Key")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/requests/"+out.ID)
	status := http.StatusCreated
	if out.Replayed {
		c.Header("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	c.JSON(status, submitted{ID: out.ID, Status: out.Status, Service: out.Service, Version: out.Version, Quote: out.Quote})
}

// maxWait is the longest a get waits for a request to close, in seconds: well inside the
// server's write timeout and the idle timeouts of the proxies in front of it.
const maxWait = int(desk.MaxWait / time.Second)

// getRequest answers a request the caller may see (desk.Request); with wait, an open one when it
// closes or the wait runs out. One the workflow could not answer comes from the read model, with
// a Warning.
func (s *Server) getRequest(c *gin.Context) {
	wait, p := queryInt(c, "wait", 0, 0, maxWait)
	if p != nil {
		writeProblem(c, p)
		return
	}
	v, err := s.desk.Request(c.Request.Context(), principal(c), desk.RequestInput{ID: c.Param("id"), Wait: time.Duration(wait) * time.Second})
	if err != nil {
		s.fail(c, err)
		return
	}
	if v.Waited {
		c.Set(longPollKey, true)
	}
	if v.Stale {
		c.Header("Warning", `110 - "answered from the read model: the workflow did not answer"`)
	}
	c.JSON(http.StatusOK, v.State)
}

type requestList struct {
	Items      []desk.RequestRow `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// listRequests lists the caller's requests, newest first, a page at a time (desk.Requests).
func (s *Server) listRequests(c *gin.Context) {
	limit, p := queryInt(c, "limit", 20, 1, 100)
	if p != nil {
		writeProblem(c, p)
		return
	}
	out, err := s.desk.Requests(c.Request.Context(), principal(c), desk.RequestsInput{
		Status: c.Query("status"), Service: c.Query("service"), Cursor: c.Query("cursor"), Limit: limit})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, requestList{Items: out.Items, NextCursor: out.NextCursor})
}

// decodeFor decodes the body of a call on request id. A body it cannot read is answered only
// once the caller may see the request, so that one they may not see is not found whatever they
// sent.
func (s *Server) decodeFor(c *gin.Context, id string, v any) bool {
	return s.decodeChecked(c, v, func() error { return s.desk.Visible(c.Request.Context(), principal(c), id) })
}

// decodeChecked decodes the body into v and says whether it could. A body it cannot read is
// answered only once check passes (the desk's answer about what the call is on: not found,
// forbidden), so that the caller learns nothing about what they may not see from what they sent.
func (s *Server) decodeChecked(c *gin.Context, v any, check func() error) bool {
	p := decodeBody(c, v)
	if p == nil {
		return true
	}
	if err := check(); err != nil {
		s.fail(c, err)
		return false
	}
	writeProblem(c, p)
	return false
}

type decisionBody struct {
	Decision string `json:"decision"`
	Comment  string `json:"comment"`
}

// decide sends an approver's decision (desk.Decide).
func (s *Server) decide(c *gin.Context) {
	var body decisionBody
	if !s.decodeFor(c, c.Param("id"), &body) {
		return
	}
	res, err := s.desk.Decide(c.Request.Context(), principal(c), desk.DecideInput{ID: c.Param("id"), Decision: body.Decision, Comment: body.Comment})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": res.ID, "status": res.Status, "step": res.Step})
}

type cancelBody struct {
	Reason string `json:"reason"`
}

// cancelRequest: the requester withdraws the request (desk.Cancel); the body is optional.
func (s *Server) cancelRequest(c *gin.Context) {
	var body cancelBody
	if c.Request.ContentLength != 0 && !s.decodeFor(c, c.Param("id"), &body) {
		return
	}
	res, err := s.desk.Cancel(c.Request.Context(), principal(c), desk.CancelInput{ID: c.Param("id"), Reason: body.Reason})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": res.ID, "status": res.Status})
}

type commentBody struct {
	Text string `json:"text"`
}

// comment adds a comment (desk.Comment).
func (s *Server) comment(c *gin.Context) {
	var body commentBody
	if !s.decodeFor(c, c.Param("id"), &body) {
		return
	}
	res, err := s.desk.Comment(c.Request.Context(), principal(c), desk.CommentInput{ID: c.Param("id"), Text: body.Text})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": res.ID, "status": res.Status})
}
