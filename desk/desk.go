// Package desk is the service desk: one method per thing a person can do or ask of ESM, named in
// the field's words (Submit, Decide, ClaimTask, SaveDraft...). Every rule lives here: who may see
// a request and who may act on it, eligibility, limits, idempotency of submissions, how request
// and lifecycle workflows are started, updated and queried, and when the read model is read
// instead. Every front door (the HTTP API, the terminal commands, the portal and the approval
// links to come) authenticates the person, calls one method and shows its answer; none of them
// talks to a workflow or the store for a use case.
//
// desk knows nothing of HTTP. A method returns a typed result or an error of a small set of
// kinds, wrapped with context so errors.Is and errors.As see through it:
//
//   - ErrNotFound, ErrForbidden, ErrConflict, ErrGone, ErrUnavailable (a *Error, whose Reason
//     names a finer cause, such as ReasonNotEligible);
//   - a *ValidationError with its []catalog.FieldError (errors.Is(err, ErrInvalid));
//   - a *LimitError with the limit hit (errors.Is(err, ErrConflict)).
//
// Anything else is a failure of ESM or of a dependency: Unavailable says which dependency did
// not answer, so a front door can ask the caller to retry.
package desk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Actor is the person acting: already authenticated by the front door, loaded from the directory
// with their groups and roles.
type Actor = catalog.Person

// Ref is how an actor is named in a workflow's history and answers.
func Ref(p Actor) catalog.PersonRef {
	return catalog.PersonRef{ID: p.ID, Name: p.Name, Department: p.Department}
}

// Config holds what the desk needs.
type Config struct {
	Store    *store.Store
	Temporal client.Client
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// WorkflowWait bounds how long a call waits for a workflow to take and answer an update
	// (0: 10 seconds) and a Query (a third of it). A workflow whose worker is down or far behind
	// answers ErrUnavailable after it; the update stays with Temporal and takes effect when a
	// worker comes back, and a retry under the same update id (WithUpdateID) attaches to it.
	WorkflowWait time.Duration
	// RequestBounds, when set, bound the history of the requests submitted (tests lower them;
	// nil: the workflow's defaults, workflows.Bounds).
	RequestBounds *workflows.Bounds
	// Draining, when set, ends every wait for a request to close once it is done (a front door
	// that shuts down): each answers with the request's state as it is.
	Draining context.Context
	// Files keeps attachments (nil: this desk takes none, ErrUnavailable); Clamd, when set,
	// scans each before it is accepted.
	Files *files.Store
	Clamd *files.Clamd
}

// Desk is the service desk. Its methods are safe for concurrent use.
type Desk struct {
	store    *store.Store
	temporal client.Client
	log      *slog.Logger
	now      func() time.Time
	wait     time.Duration
	bounds   *workflows.Bounds
	// draining ends when the front door stops (Config.Draining): waits for a request to close
	// end at once, so that they do not hold the shutdown.
	draining context.Context
	files    *files.Store
	clamd    *files.Clamd
}

// New returns a desk.
func New(cfg Config) *Desk {
	d := &Desk{store: cfg.Store, temporal: cfg.Temporal, log: cfg.Logger, now: cfg.Now, wait: cfg.WorkflowWait, bounds: cfg.RequestBounds, draining: cfg.Draining, files: cfg.Files, clamd: cfg.Clamd}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.wait <= 0 {
		d.wait = 10 * time.Second
	}
	if d.draining == nil {
		d.draining = context.Background() // never done
	}
	return d
}

// The kinds of error a desk method returns (besides failures). Test with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrForbidden = errors.New("forbidden")
	ErrConflict  = errors.New("conflict")
	ErrGone      = errors.New("gone")
	// ErrInvalid: what was sent breaks a rule (a *ValidationError says which fields).
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: a workflow did not answer in time (its worker is down or busy); what was
	// sent is kept, and a retry under the same update id gets the outcome.
	ErrUnavailable = errors.New("unavailable")
)

// Reasons name a finer cause of an *Error than its kind, for front doors that tell them apart.
const (
	// ReasonNotEligible (ErrForbidden): the person may not request the service.
	ReasonNotEligible = "not-eligible"
	// ReasonRetired (ErrGone): the service takes no new requests; Successor may name another.
	ReasonRetired = "retired"
	// ReasonKeyReused (ErrConflict): an idempotency key was used for another submission,
	// Request.
	ReasonKeyReused = "idempotency-key-reused"
)

// Error is an error of one of the kinds above, with a detail meant for the person.
type Error struct {
	Kind   error  // ErrNotFound, ErrForbidden, ErrConflict, ErrGone or ErrUnavailable
	Reason string // a Reason* constant, or ""
	Detail string
	// Successor names the service that replaces a retired one (ReasonRetired).
	Successor string
	// Request names the existing request (ReasonKeyReused).
	Request string
}

func (e *Error) Error() string        { return e.Detail }
func (e *Error) Is(target error) bool { return target == e.Kind }

func kindErr(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error  { return kindErr(ErrNotFound, format, args...) }
func forbidden(format string, args ...any) error { return kindErr(ErrForbidden, format, args...) }
func conflict(format string, args ...any) error  { return kindErr(ErrConflict, format, args...) }

// ValidationError: what was sent breaks rules, each named by a field (a JSON pointer into the
// input, or a parameter's name) and the rule.
type ValidationError struct {
	Detail string
	Fields []catalog.FieldError
}

func (e *ValidationError) Error() string        { return e.Detail }
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(detail string, fields ...catalog.FieldError) error {
	return &ValidationError{Detail: detail, Fields: fields}
}

// LimitError: a limit of the service is reached (errors.Is(err, ErrConflict)).
type LimitError struct {
	// Limit names it: max_open, per_period, windows.
	Limit  string
	Detail string
	// ResetsAt is when it resets (zero when it resets as open requests close); Open lists those.
	ResetsAt time.Time
	Open     []string
}

func (e *LimitError) Error() string        { return e.Detail }
func (e *LimitError) Is(target error) bool { return target == ErrConflict }

func limitErr(l *store.LimitError) error {
	return &LimitError{Limit: l.Limit, Detail: l.Detail, ResetsAt: l.ResetsAt, Open: l.Open}
}

// Unavailable says which dependency did not answer when err is a failure that may go away when
// retried: "the database" or "Temporal" ("" for any other error).
func Unavailable(err error) string {
	var (
		un *serviceerror.Unavailable
		de *serviceerror.DeadlineExceeded
		re *serviceerror.ResourceExhausted
	)
	switch {
	case store.Unavailable(err):
		return "the database"
	case errors.As(err, &un) || errors.As(err, &de) || errors.As(err, &re):
		return "Temporal"
	}
	return ""
}

// Types of the read model that answers carry.
type (
	RequestRow      = store.RequestRow
	PendingApproval = store.PendingApproval
	QueuedTask      = store.QueuedTask
)

// updateIDKey is the context key of the update id a call sends (WithUpdateID).
type updateIDKey struct{}

// WithUpdateID makes the workflow update a call of ctx sends carry id, so that a retry of a call
// that timed out (its workflow's worker was down) attaches to the update Temporal still holds
// instead of sending a second one. A front door derives it from the caller, the call, their
// idempotency key and what they sent.
func WithUpdateID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, updateIDKey{}, id)
}

// UpdateID is the update id set on ctx by WithUpdateID ("" when none: each call makes one).
func UpdateID(ctx context.Context) string {
	id, _ := ctx.Value(updateIDKey{}).(string)
	return id
}

// visible loads a request the actor may see, or ErrNotFound (never revealing that it exists).
// Delegations are read only when the actor's own part does not let them see it; the people
// whose approvals the actor may decide as their delegate come back when they were read (nil
// otherwise).
func (d *Desk) visible(ctx context.Context, me Actor, id string) (catalog.RequestState, []string, error) {
	if _, ok := catalog.ParseRequestID(id); !ok {
		return catalog.RequestState{}, nil, notFound("%q is not a request id (REQ- and six or more digits)", id)
	}
	st, err := d.store.Request(ctx, id)
	var delegators []string
	seen := err == nil && canSee(me, nil, st)
	if err == nil && !seen {
		if delegators, err = d.store.Delegators(ctx, me.ID, d.now()); err == nil {
			seen = canSee(me, delegators, st)
		}
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && !seen) {
		return st, nil, notFound("no request %s", id)
	}
	if err != nil {
		return st, nil, fmt.Errorf("request %s: %w", id, err)
	}
	return st, delegators, nil
}

// Visible answers nil when the actor may see the request, ErrNotFound otherwise (whether it
// exists or not). A front door that cannot read what was sent asks it first, so that a request
// one may not see is not found whatever was sent.
func (d *Desk) Visible(ctx context.Context, me Actor, id string) error {
	_, _, err := d.visible(ctx, me, id)
	return err
}

// canSee: the requester, anyone asked to approve and their delegates, the members of a group
// whose task has opened (not before: an HR request is not IT's business until IT has work on
// it), operators.
func canSee(p Actor, delegators []string, st catalog.RequestState) bool {
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

// update runs an update of a workflow to completion and decodes its result.
//
// It waits d.wait at most: a workflow that does not answer by then (its worker is down or far
// behind) is ErrUnavailable (workflowErr), and the update, which Temporal keeps, is applied when
// a worker comes back; a retry under the same update id (WithUpdateID) attaches to that update
// rather than making a second.
func (d *Desk) update(ctx context.Context, workflowID, name string, arg, result any) error {
	ctx, cancel := context.WithTimeout(ctx, d.wait)
	defer cancel()
	id := UpdateID(ctx)
	if id == "" {
		id = randomKey() // one id for every attempt below, so a retry is the same update
	}
	return retryNotReady(ctx, func() error {
		h, err := d.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
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

// workflowErr maps an error from a workflow call about id (a request or a service) to a kind:
// the workflow's own refusals keep their meaning; a closed workflow is a conflict; one that did
// not answer in time is ErrUnavailable. Other errors come back wrapped.
func (d *Desk) workflowErr(ctx context.Context, id string, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg := app.Message()
		switch app.Type() {
		case workflows.ErrForbidden:
			return forbidden("%s", msg)
		case workflows.ErrConflict:
			return conflict("%s", msg)
		case workflows.ErrNotFound:
			return notFound("%s", msg)
		case updateOutlived:
			return conflict("%s closed before the call was answered", id)
		case workflows.ErrInvalid:
			var fields []catalog.FieldError
			if app.HasDetails() {
				_ = app.Details(&fields)
			}
			for i := range fields {
				fields[i].Field = "/outputs" + fields[i].Field
			}
			return invalid(msg, fields...)
		}
	}
	// The wait ran out: the SDK says so as a deadline, or (while it polls the update's outcome)
	// as its own timeout-or-cancel error wrapping a cancelled stream.
	var (
		timedOut *client.WorkflowUpdateServiceTimeoutOrCanceledError
		deadline *serviceerror.DeadlineExceeded
	)
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &timedOut) || errors.As(err, &deadline) {
		d.log.WarnContext(ctx, "workflow did not answer in time", "request", id, "wait", d.wait, "error", err)
		return kindErr(ErrUnavailable, "the workflow of %s did not answer within %s (ESM's worker may be down or busy); what you sent is kept and takes effect when it answers: retry with the same Idempotency-Key to get the outcome", id, d.wait)
	}
	// The server answers NotFound for an update to a workflow that has completed.
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return conflict("request %s is closed", id)
	}
	return err
}

// liveState asks the request's workflow for its state.
func (d *Desk) liveState(ctx context.Context, id string) (catalog.RequestState, error) {
	var st catalog.RequestState
	ctx, cancel := context.WithTimeout(ctx, d.wait/3) // a Query needs a worker: never wait on a dead one
	defer cancel()
	v, err := d.temporal.QueryWorkflow(ctx, workflows.RequestWorkflowID(id), "", workflows.StateQuery, workflows.StateQueryInput{})
	if err != nil {
		return st, err
	}
	err = v.Get(&st)
	return st, err
}

// MaxText bounds comments, reasons and questions, in characters (Unicode code points, as
// JSON Schema's maxLength counts them), not bytes: 4000 letters of any script.
const MaxText = 4000

// checkText applies the rules of free text someone typed (a comment, a reason, a question):
// valid UTF-8 (rule "utf8": bytes that are not text would be stored and shown mangled) and at
// most MaxText characters (rule "maxLength"). It answers the field error on field, or nil.
func checkText(field, s string) *catalog.FieldError {
	if !utf8.ValidString(s) {
		return &catalog.FieldError{Field: field, Rule: "utf8", Detail: "is not valid text (UTF-8): type it again or paste it as plain text"}
	}
	if n := utf8.RuneCountInString(s); n > MaxText {
		return &catalog.FieldError{Field: field, Rule: "maxLength", Detail: fmt.Sprintf("at most %d characters (this is %d)", MaxText, n)}
	}
	return nil
}

// checkStrings finds the first string in v (a decoded JSON value: outputs) that is not valid
// UTF-8, keys included, and answers its field error under the pointer at; nil when all are text.
func checkStrings(at string, v any) *catalog.FieldError {
	bad := &catalog.FieldError{Field: at, Rule: "utf8", Detail: "is not valid text (UTF-8)"}
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return bad
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !utf8.ValidString(k) {
				return bad
			}
			if fe := checkStrings(at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), v[k]); fe != nil {
				return fe
			}
		}
	case []any:
		for i, e := range v {
			if fe := checkStrings(fmt.Sprintf("%s/%d", at, i), e); fe != nil {
				return fe
			}
		}
	}
	return nil
}

// randomKey makes an idempotency key or update id for a call that brought none.
func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "auto-" + hex.EncodeToString(b)
}

// currentService loads a service at its current version, or ErrNotFound.
func (d *Desk) currentService(ctx context.Context, key string) (store.ServiceVersion, error) {
	sv, err := d.store.CurrentService(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return sv, notFound("there is no service %q in the catalog", key)
	}
	if err != nil {
		return sv, fmt.Errorf("service %s: %w", key, err)
	}
	return sv, nil
}
