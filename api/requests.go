package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

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

const maxIdempotencyKey = 200

// idempotencyKey reads the Idempotency-Key header ("" when absent), refusing one that is too long.
func idempotencyKey(c *gin.Context) (string, *Problem) {
	key := c.GetHeader("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		return "", errValidation("the Idempotency-Key is too long", catalog.FieldError{
			Field: "Idempotency-Key", Rule: "maxLength", Detail: fmt.Sprintf("may be at most %d characters", maxIdempotencyKey)})
	}
	return key, nil
}

// submit creates a request. Everything the API can check is checked before anything starts
// (update-with-start is not atomic): the body, the service, the requester's eligibility, the
// form, the quantity, the request windows; then a number is reserved for (requester,
// Idempotency-Key) within the service's limits, and the workflow is update-with-started; it
// answers once the request is in the read model.
func (s *Server) submit(c *gin.Context) {
	ctx := c.Request.Context()
	me := principal(c)
	var body submitBody
	if p := decodeBody(c, &body); p != nil {
		writeProblem(c, p)
		return
	}
	key, p := idempotencyKey(c)
	if p != nil {
		writeProblem(c, p)
		return
	}
	var fields []catalog.FieldError
	if body.Service == "" {
		fields = append(fields, catalog.FieldError{Field: "/service", Rule: "required", Detail: "name the service to request"})
	}
	quantity := 1
	if body.Quantity != nil {
		quantity = *body.Quantity
		if quantity < 1 {
			fields = append(fields, catalog.FieldError{Field: "/quantity", Rule: "minimum", Detail: "must be at least 1"})
		}
	}
	// The priority a requester may choose is one the service offers (checked once the service
	// is known); none chosen means the service's default.
	if body.Priority != "" && !slices.Contains(catalog.Priorities, body.Priority) {
		fields = append(fields, catalog.FieldError{Field: "/priority", Rule: "enum", Detail: fmt.Sprintf("must be one of %v", catalog.Priorities)})
	}
	if body.Form == nil {
		body.Form = map[string]any{}
	}
	// The fingerprint takes the priority as sent: none (the service's default, whatever it is)
	// differs from any priority named. Reservations made before took none for "normal", and
	// still replay for a body that sends none or "normal".
	fp := []string{fingerprint(body.Service, body.Form, quantity, body.Priority)}
	if body.Priority == "" || body.Priority == "normal" {
		fp = append(fp, fingerprint(body.Service, body.Form, quantity, "normal"))
	}
	// A retry of a submission that went through answers with its request, whatever has changed
	// in the catalog or the limits since.
	if key != "" && s.replay(c, me.ID, key, fp) {
		return
	}
	if body.Service == "" {
		writeProblem(c, errValidation("the request is not valid", fields...))
		return
	}
	svc, err := s.store.CurrentService(ctx, body.Service)
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(c, errNotFound(fmt.Sprintf("there is no service %q in the catalog", body.Service)))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	def := svc.Definition
	if svc.Stage == catalog.StageRetiring || svc.Stage == catalog.StageRetired {
		detail := fmt.Sprintf("the service %q is retired and takes no new requests", def.Key)
		if svc.Successor != "" {
			detail += fmt.Sprintf("; request %q instead", svc.Successor)
		}
		p := newProblem(http.StatusGone, "retired", "Service retired", detail)
		p.Successor = svc.Successor
		writeProblem(c, p)
		return
	}
	if ok, why := def.Eligible(me); !ok {
		writeProblem(c, newProblem(http.StatusForbidden, "not-eligible", "Not eligible", why))
		return
	}
	form, err := catalog.CompileForm(def.Request.Form)
	if err != nil {
		s.fail(c, fmt.Errorf("service %s v%d form: %w", def.Key, svc.Version, err))
		return
	}
	for _, fe := range form.Validate(body.Form) {
		fe.Field = "/form" + fe.Field
		fields = append(fields, fe)
	}
	if quantity > def.MaxQuantity() {
		fields = append(fields, catalog.FieldError{Field: "/quantity", Rule: "maximum",
			Detail: fmt.Sprintf("at most %d per request (the service's limits.max_quantity)", def.MaxQuantity())})
	}
	if body.Priority == "" {
		body.Priority = def.DefaultPriority()
	} else if slices.Contains(catalog.Priorities, body.Priority) && !def.OffersPriority(body.Priority) {
		fields = append(fields, catalog.FieldError{Field: "/priority", Rule: "enum",
			Detail: fmt.Sprintf("this service offers %v (its request.priorities)", def.OfferedPriorities())})
	}
	if len(fields) > 0 {
		writeProblem(c, errValidation("the request is not valid", fields...))
		return
	}
	now := s.now()
	if open, next := def.Limits.OpenAt(now); !open {
		detail := "the service cannot be requested now and has no further request window"
		if !next.IsZero() {
			detail = "the service cannot be requested now; the next request window opens at " + next.UTC().Format(time.RFC3339)
		}
		writeProblem(c, limitProblem(&store.LimitError{Limit: "windows", Detail: detail, ResetsAt: next}))
		return
	}
	quote, err := def.Quote(body.Form, quantity, me)
	if err != nil {
		writeProblem(c, quoteProblem(err))
		return
	}

	if key == "" {
		key = randomKey()
	}
	res := store.Reservation{Requester: me.ID, Key: key, Fingerprint: fp[0], Service: def.Key, Now: now, MaxOpen: def.Limits.MaxOpen}
	if p := def.Limits.PerPeriod; p != nil {
		res.PerPeriodMax, res.Period = p.Max, p.Period.Std()
	}
	sub, created, err := s.store.Reserve(ctx, res)
	var limit *store.LimitError
	if errors.As(err, &limit) {
		writeProblem(c, limitProblem(limit))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if !created && s.replay(c, me.ID, key, fp) {
		return
	}
	id := catalog.RequestID(sub.Number)
	dept, err := s.store.Department(ctx, def.Department)
	if err != nil {
		s.fail(c, fmt.Errorf("department %s: %w", def.Department, err))
		return
	}
	// A start operation is good for one call: each attempt below makes its own (the first starts
	// the workflow; a later one uses it, by the conflict policy).
	newStart := func() client.WithStartWorkflowOperation {
		return s.temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID:                       workflows.RequestWorkflowID(id),
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:            fmt.Sprintf("%s: %s for %s", id, def.Name, me.Name),
			StaticDetails:            fmt.Sprintf("Service %s v%d (%s), requested by %s (%s), priority %s", def.Key, svc.Version, def.Department, me.Name, me.ID, body.Priority),
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.AttrService.ValueSet(def.Key),
				workflows.AttrDepartment.ValueSet(def.Department),
				workflows.AttrStatus.ValueSet(catalog.StatusPendingApproval),
				workflows.AttrPriority.ValueSet(body.Priority),
			),
		}, workflows.ServiceRequest, workflows.RequestInput{
			Number: sub.Number, Version: svc.Version, Definition: def, Requester: me,
			Form: body.Form, Quantity: quantity, Priority: body.Priority, Quote: &quote,
			Calendar: dept.Calendar, Webhook: dept.Webhook, Bounds: s.bounds,
		})
	}
	// The submission waits s.wait at most for the workflow to take it (see update); the workflow
	// is started either way, and a retry with the same Idempotency-Key attaches to it.
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	var out workflows.SubmitResult
	err = retryNotReady(ctx, func() error {
		handle, err := s.temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: newStart(),
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateName:   workflows.SubmitUpdate,
				UpdateID:     workflows.SubmitUpdateID,
				WaitForStage: client.WorkflowUpdateStageCompleted,
				Args:         []any{workflows.SubmitInput{}},
			},
		})
		if err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		return handle.Get(ctx, &out)
	})
	if err != nil {
		// The request was made, and closed before its submission was answered (an operator
		// cancelled or terminated it at once): the read model has its final state.
		var app *temporal.ApplicationError
		if (!errors.As(err, &app) || app.Type() == updateOutlived) && !errors.Is(err, context.DeadlineExceeded) {
			if st, rerr := s.store.Request(c.Request.Context(), id); rerr == nil && catalog.Terminal(st.Status) {
				s.log.InfoContext(c.Request.Context(), "request closed before its submission was answered", "request", id, "status", st.Status, "error", err)
				out = workflows.SubmitResult{ID: st.ID, Status: st.Status, Service: st.Service.Key, Version: st.Service.Version, Quote: st.Quote}
				err = nil
			}
		}
		if err != nil {
			s.failWorkflow(c, id, fmt.Errorf("submit %s: %w", id, err))
			return
		}
	}
	c.Header("Location", "/v1/requests/"+id)
	status := http.StatusCreated
	if !created {
		c.Header("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	c.JSON(status, submitted{ID: out.ID, Status: out.Status, Service: out.Service, Version: out.Version, Quote: out.Quote})
}

// replay answers a repeated submission (same requester and Idempotency-Key) with the request
// it made, and reports whether it answered. The same key with another body is refused. A key
// whose workflow does not exist (the first attempt died before starting it) is not answered
// here: the caller goes on to start it under the number already reserved.
//
// fp lists the fingerprints that stand for the body: the first is the one a new reservation
// stores, the others are what older reservations stored for it.
func (s *Server) replay(c *gin.Context, requester, key string, fp []string) bool {
	sub, err := s.store.Submission(c.Request.Context(), requester, key)
	if err != nil {
		return false
	}
	id := catalog.RequestID(sub.Number)
	if !slices.Contains(fp, sub.Fingerprint) {
		p := newProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
			fmt.Sprintf("Idempotency-Key %q was used for a different submission, %s", key, id))
		p.Request = id
		writeProblem(c, p)
		return true
	}
	st, err := s.liveState(c.Request.Context(), id)
	if err != nil {
		return false
	}
	c.Header("Idempotent-Replayed", "true")
	c.Header("Location", "/v1/requests/"+id)
	c.JSON(http.StatusOK, submitted{ID: id, Status: st.Status, Service: st.Service.Key, Version: st.Service.Version, Quote: st.Quote})
	return true
}

// limitProblem is a 409 naming the limit and when it resets.
func limitProblem(l *store.LimitError) *Problem {
	p := newProblem(http.StatusConflict, "limit", "Limit reached", l.Detail)
	p.Limit = l.Limit
	if !l.ResetsAt.IsZero() {
		t := l.ResetsAt.UTC()
		p.ResetsAt = &t
	}
	p.OpenRequests = l.Open
	return p
}

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "auto-" + hex.EncodeToString(b)
}

// fingerprint identifies what was submitted, so a reused Idempotency-Key with another body is
// caught.
func fingerprint(service string, form map[string]any, quantity int, priority string) string {
	b, _ := json.Marshal([]any{service, form, quantity, priority})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// liveState asks the request's workflow for its state.
func (s *Server) liveState(ctx context.Context, id string) (catalog.RequestState, error) {
	var st catalog.RequestState
	ctx, cancel := context.WithTimeout(ctx, s.wait/3) // a Query needs a worker: never wait on a dead one
	defer cancel()
	v, err := s.temporal.QueryWorkflow(ctx, workflows.RequestWorkflowID(id), "", workflows.StateQuery, workflows.StateQueryInput{})
	if err != nil {
		return st, err
	}
	err = v.Get(&st)
	return st, err
}

// maxWait is the longest a get waits for a request to close, in seconds: well inside the
// server's write timeout and the idle timeouts of the proxies in front of it.
const maxWait = 30

// awaitClose waits until the request's workflow has closed, or d has passed, or the caller has
// gone, or the server stops: a long poll of the workflow's history for its close event, the
// same call the SDK's run.Get makes, so that waiting costs the server one call instead of a
// Query every few milliseconds. It reports whether the workflow closed.
func (s *Server) awaitClose(ctx context.Context, id string, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	defer context.AfterFunc(s.draining, cancel)()
	err := s.temporal.GetWorkflow(ctx, workflows.RequestWorkflowID(id), "").Get(ctx, nil)
	// Any answer before the deadline means the workflow closed (a failed or terminated one
	// answers with its error).
	return err == nil || ctx.Err() == nil
}

// visible loads a request the caller may see, or answers 404 (never revealing that it exists).
// Delegations are read only when the caller's own part does not let them see it; the people
// whose approvals the caller may decide as their delegate come back when they were read (nil
// otherwise).
func (s *Server) visible(c *gin.Context, id string) (catalog.RequestState, []string, bool) {
	if _, ok := catalog.ParseRequestID(id); !ok {
		writeProblem(c, errNotFound(fmt.Sprintf("%q is not a request id (REQ- and six or more digits)", id)))
		return catalog.RequestState{}, nil, false
	}
	ctx := c.Request.Context()
	me := principal(c)
	st, err := s.store.Request(ctx, id)
	var delegators []string
	seen := err == nil && canSee(me, nil, st)
	if err == nil && !seen {
		if delegators, err = s.store.Delegators(ctx, me.ID, s.now()); err == nil {
			seen = canSee(me, delegators, st)
		}
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && !seen) {
		writeProblem(c, errNotFound(fmt.Sprintf("no request %s", id)))
		return st, nil, false
	}
	if err != nil {
		s.fail(c, err)
		return st, nil, false
	}
	return st, delegators, true
}

// canSee: the requester, anyone asked to approve and their delegates, the members of a group
// whose task has opened (not before: an HR request is not IT's business until IT has work on
// it), operators.
func canSee(p catalog.Person, delegators []string, st catalog.RequestState) bool {
	if p.ID == st.Requester.ID || p.HasRole(catalog.RoleOperator) {
		return true
	}
	for _, a := range st.Approvals {
		for _, ap := range a.Approvers {
			if ap.ID == p.ID || slices.Contains(delegators, ap.ID) {
				return true
			}
		}
	}
	for _, t := range st.Tasks {
		if t.State != catalog.TaskWaiting && t.State != catalog.TaskSkipped && p.InGroup(t.Group) {
			return true
		}
	}
	return false
}

// getRequest answers a running request from its workflow (never stale) and a closed one from
// the read model, which holds its final state; with wait, an open one when it closes (or the
// wait runs out).
func (s *Server) getRequest(c *gin.Context) {
	wait, p := queryInt(c, "wait", 0, 0, maxWait)
	if p != nil {
		writeProblem(c, p)
		return
	}
	st, _, ok := s.visible(c, c.Param("id"))
	if !ok {
		return
	}
	if wait > 0 && !catalog.Terminal(st.Status) {
		c.Set(longPollKey, true)
		if s.awaitClose(c.Request.Context(), st.ID, time.Duration(wait)*time.Second) {
			// The workflow writes its closed state to the read model before it completes.
			if closed, err := s.store.Request(c.Request.Context(), st.ID); err == nil {
				st = closed
			}
		}
	}
	if !catalog.Terminal(st.Status) {
		live, err := s.liveState(c.Request.Context(), st.ID)
		if err == nil {
			st = live
		} else {
			s.log.WarnContext(c.Request.Context(), "query failed; answering from the read model", "request", st.ID, "error", err)
			c.Header("Warning", `110 - "answered from the read model: the workflow did not answer"`)
		}
	}
	if len(st.Timeline) > 0 && st.Timeline[0].Seq > 1 {
		// A request of revision 4 keeps only its latest events in its state (the Query's and
		// the stored one); the audit trail has every one, the state's own stand for theirs.
		trail, err := s.store.EventsBefore(c.Request.Context(), st.ID, st.Timeline[0].Seq)
		if err != nil {
			s.fail(c, err)
			return
		}
		st.MergeTimeline(trail)
	}
	c.JSON(http.StatusOK, st.UTC()) // a state stored or queried before every instant was UTC
}

type requestList struct {
	Items      []store.RequestRow `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// listRequests lists the caller's requests, newest first, a page at a time.
func (s *Server) listRequests(c *gin.Context) {
	me := principal(c)
	limit, p := queryInt(c, "limit", 20, 1, 100)
	if p != nil {
		writeProblem(c, p)
		return
	}
	f := store.RequestFilter{Requester: me.ID, Status: c.Query("status"), Service: c.Query("service"), Limit: limit + 1}
	if f.Status != "" && !slices.Contains(catalog.Statuses, f.Status) {
		writeProblem(c, errValidation("a query parameter is not valid", catalog.FieldError{
			Field: "status", Rule: "enum", Detail: fmt.Sprintf("must be one of %v", catalog.Statuses)}))
		return
	}
	if cur := c.Query("cursor"); cur != "" {
		n, ok := catalog.ParseRequestID(cur)
		if !ok {
			writeProblem(c, errValidation("a query parameter is not valid", catalog.FieldError{
				Field: "cursor", Rule: "format", Detail: "must be a next_cursor from a previous page"}))
			return
		}
		f.Before = n
	}
	rows, err := s.store.ListRequests(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := requestList{Items: rows}
	if len(rows) > limit {
		out.Items = rows[:limit]
		out.NextCursor = rows[limit-1].ID
	}
	c.JSON(http.StatusOK, out)
}

type decisionBody struct {
	Decision string `json:"decision"`
	Comment  string `json:"comment"`
}

// decide sends an approver's decision as a workflow update. The workflow's validator refuses
// anyone who is not an open step's approver before anything enters the history.
func (s *Server) decide(c *gin.Context) {
	st, delegators, ok := s.visible(c, c.Param("id"))
	if !ok {
		return
	}
	var body decisionBody
	if p := decodeBody(c, &body); p != nil {
		writeProblem(c, p)
		return
	}
	switch body.Decision {
	case catalog.DecisionApprove, catalog.DecisionReject, catalog.DecisionRequestInfo:
	case "":
		writeProblem(c, errValidation("the decision is not valid", catalog.FieldError{Field: "/decision", Rule: "required", Detail: "approve, reject or request_info"}))
		return
	default:
		writeProblem(c, errValidation("the decision is not valid", catalog.FieldError{Field: "/decision", Rule: "enum", Detail: "must be approve, reject or request_info"}))
		return
	}
	if body.Decision != catalog.DecisionApprove && strings.TrimSpace(body.Comment) == "" {
		writeProblem(c, errValidation("the decision is not valid", catalog.FieldError{Field: "/comment", Rule: "required", Detail: "a rejection needs a reason, a request for information a question"}))
		return
	}
	if len(body.Comment) > maxText {
		writeProblem(c, errValidation("the decision is not valid", catalog.FieldError{Field: "/comment", Rule: "maxLength", Detail: fmt.Sprintf("at most %d characters", maxText)}))
		return
	}
	if delegators == nil { // visible did not need them; the decision does
		var err error
		if delegators, err = s.store.Delegators(c.Request.Context(), principal(c).ID, s.now()); err != nil {
			s.fail(c, err)
			return
		}
	}
	var res workflows.DecisionResult
	err := s.update(c.Request.Context(), workflows.RequestWorkflowID(st.ID), workflows.DecideUpdate, workflows.DecisionInput{
		Actor: ref(principal(c)), OnBehalfOf: delegators, Decision: body.Decision, Comment: body.Comment,
	}, &res)
	if err != nil {
		s.failWorkflow(c, st.ID, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": st.ID, "status": res.Status, "step": res.Step})
}

// maxText bounds comments and reasons.
const maxText = 4000

type cancelBody struct {
	Reason string `json:"reason"`
}

// cancelRequest: the requester withdraws the request; pending approvers are told.
func (s *Server) cancelRequest(c *gin.Context) {
	st, _, ok := s.visible(c, c.Param("id"))
	if !ok {
		return
	}
	var body cancelBody
	if c.Request.ContentLength != 0 {
		if p := decodeBody(c, &body); p != nil {
			writeProblem(c, p)
			return
		}
	}
	if len(body.Reason) > maxText {
		writeProblem(c, errValidation("the reason is too long", catalog.FieldError{Field: "/reason", Rule: "maxLength", Detail: fmt.Sprintf("at most %d characters", maxText)}))
		return
	}
	var res workflows.ChangeResult
	if err := s.update(c.Request.Context(), workflows.RequestWorkflowID(st.ID), workflows.CancelUpdate, workflows.CancelInput{Actor: ref(principal(c)), Reason: body.Reason}, &res); err != nil {
		s.failWorkflow(c, st.ID, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": st.ID, "status": res.Status})
}

type commentBody struct {
	Text string `json:"text"`
}

// comment adds a comment; the requester's answers a request for information.
func (s *Server) comment(c *gin.Context) {
	st, _, ok := s.visible(c, c.Param("id"))
	if !ok {
		return
	}
	var body commentBody
	if p := decodeBody(c, &body); p != nil {
		writeProblem(c, p)
		return
	}
	switch {
	case strings.TrimSpace(body.Text) == "":
		writeProblem(c, errValidation("the comment is empty", catalog.FieldError{Field: "/text", Rule: "required", Detail: "say something"}))
		return
	case len(body.Text) > maxText:
		writeProblem(c, errValidation("the comment is too long", catalog.FieldError{Field: "/text", Rule: "maxLength", Detail: fmt.Sprintf("at most %d characters", maxText)}))
		return
	}
	var res workflows.ChangeResult
	if err := s.update(c.Request.Context(), workflows.RequestWorkflowID(st.ID), workflows.CommentUpdate, workflows.CommentInput{Actor: ref(principal(c)), Text: body.Text}, &res); err != nil {
		s.failWorkflow(c, st.ID, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": st.ID, "status": res.Status})
}

// update runs an update of a workflow to completion and decodes its result.
//
// It waits s.wait at most: a workflow that does not answer by then (its worker is down or far
// behind) is a 503 with Retry-After (failWorkflow), and the update, which Temporal keeps, is
// applied when a worker comes back; a retry with the same Idempotency-Key sends the same
// update id, so it attaches to that update rather than making a second.
func (s *Server) update(ctx context.Context, workflowID, name string, arg, result any) error {
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	id := updateID(ctx)
	if id == "" {
		id = randomKey() // one id for every attempt below, so a retry is the same update
	}
	return retryNotReady(ctx, func() error {
		h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			UpdateID:     id,
			WorkflowID:   workflowID,
			UpdateName:   name,
			WaitForStage: client.WorkflowUpdateStageCompleted,
			Args:         []any{arg},
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, result)
	})
}

// updateOutlived is the failure type Temporal gives an update its workflow closed before
// completing (an operator cancelled or terminated it meanwhile).
const updateOutlived = "AcceptedUpdateCompletedWorkflow"

// retryNotReady runs call again while Temporal answers WorkflowNotReady: the workflow task
// that carried the update failed (an event came in while it ran, such as an operator's cancel,
// or its worker died), and the server asks the caller to send the update again. The update id
// is the same on every attempt, so the workflow takes it once. It stops when ctx ends.
func retryNotReady(ctx context.Context, call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		var notReady *serviceerror.WorkflowNotReady
		if !errors.As(err, &notReady) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(min(attempt, 10)) * 50 * time.Millisecond):
		}
	}
}

// failWorkflow maps an error from a workflow call to a problem: the workflow's own refusals
// keep their meaning; a closed workflow is a conflict.
func (s *Server) failWorkflow(c *gin.Context, id string, err error) {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg := app.Message()
		switch app.Type() {
		case workflows.ErrForbidden:
			writeProblem(c, errForbidden(msg))
			return
		case workflows.ErrConflict:
			writeProblem(c, errConflict(msg))
			return
		case workflows.ErrNotFound:
			writeProblem(c, errNotFound(msg))
			return
		case updateOutlived:
			writeProblem(c, errConflict(fmt.Sprintf("%s closed before the call was answered", id)))
			return
		case workflows.ErrInvalid:
			var fields []catalog.FieldError
			if app.HasDetails() {
				_ = app.Details(&fields)
			}
			for i := range fields {
				fields[i].Field = "/outputs" + fields[i].Field
			}
			writeProblem(c, errValidation(msg, fields...))
			return
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.WarnContext(c.Request.Context(), "workflow did not answer in time", "request", id, "wait", s.wait, "error", err)
		writeUnavailable(c, fmt.Sprintf("the workflow of %s did not answer within %s (ESM's worker may be down or busy); what you sent is kept and takes effect when it answers: retry with the same Idempotency-Key to get the outcome", id, s.wait))
		return
	}
	// The server answers NotFound for an update to a workflow that has completed.
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		writeProblem(c, errConflict(fmt.Sprintf("request %s is closed", id)))
		return
	}
	s.fail(c, err)
}
