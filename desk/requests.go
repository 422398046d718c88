package desk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// MaxIdempotencyKey bounds an idempotency key, in bytes.
const MaxIdempotencyKey = 200

// CheckIdempotencyKey refuses an idempotency key longer than MaxIdempotencyKey
// (*ValidationError), as Submit does; a front door asks it of the keys of other calls.
func CheckIdempotencyKey(key string) error {
	if len(key) > MaxIdempotencyKey {
		return invalid("the Idempotency-Key is too long", catalog.FieldError{
			Field: "Idempotency-Key", Rule: "maxLength", Detail: fmt.Sprintf("may be at most %d characters", MaxIdempotencyKey)})
	}
	return nil
}

// SubmitInput is a submission: the service, its form, how many and how urgent.
type SubmitInput struct {
	Service string
	Form    map[string]any
	// Quantity is 1 when nil.
	Quantity *int
	// Priority is the service's default when "".
	Priority string
	// IdempotencyKey, when set, makes a retry of the submission answer with the request it
	// made; "" submits anew every time.
	IdempotencyKey string
	// Files are the attachments sent with the submission (nil: none), streamed once the rest
	// was checked; the service's required kinds need one each. A replayed submission does not
	// read them.
	Files Uploads
}

// Submitted is the answer to a submission.
type Submitted struct {
	ID      string
	Status  string
	Service string
	Version int
	Quote   *catalog.Quote
	// Replayed: the submission was made before under the same idempotency key; this is its
	// request.
	Replayed bool
}

// Submit creates a request. Everything that can be checked is checked before anything starts
// (update-with-start is not atomic): the input, the service, the requester's eligibility, the
// form, the quantity, the request windows; then a number is reserved for (requester,
// idempotency key) within the service's limits, and the workflow is update-with-started; it
// answers once the request is in the read model.
//
// Errors: *ValidationError (the input, the form, an idempotency key too long, a price that cannot
// be worked out), ErrNotFound (no such service), ErrGone (ReasonRetired), ErrForbidden
// (ReasonNotEligible), *LimitError (windows, max_open, per_period), ErrConflict (ReasonKeyReused:
// the key was used for another submission; the request closed before it answered),
// ErrUnavailable (the workflow did not answer in time).
func (d *Desk) Submit(ctx context.Context, me Actor, in SubmitInput) (Submitted, error) {
	key := in.IdempotencyKey
	if err := CheckIdempotencyKey(key); err != nil {
		return Submitted{}, err
	}
	var fields []catalog.FieldError
	if in.Service == "" {
		fields = append(fields, catalog.FieldError{Field: "/service", Rule: "required", Detail: "name the service to request"})
	}
	quantity := 1
	if in.Quantity != nil {
		quantity = *in.Quantity
		if quantity < 1 {
			fields = append(fields, catalog.FieldError{Field: "/quantity", Rule: "minimum", Detail: "must be at least 1"})
		}
	}
	// The priority a requester may choose is one the service offers (checked once the service
	// is known); none chosen means the service's default.
	priority := in.Priority
	if priority != "" && !slices.Contains(catalog.Priorities, priority) {
		fields = append(fields, catalog.FieldError{Field: "/priority", Rule: "enum", Detail: fmt.Sprintf("must be one of %v", catalog.Priorities)})
	}
	formIn := in.Form
	if formIn == nil {
		formIn = map[string]any{}
	}
	// The fingerprint takes the priority as sent: none (the service's default, whatever it is)
	// differs from any priority named. Reservations made before took none for "normal", and
	// still replay for a submission that names none or "normal".
	fp := []string{fingerprint(in.Service, formIn, quantity, priority)}
	if priority == "" || priority == "normal" {
		fp = append(fp, fingerprint(in.Service, formIn, quantity, "normal"))
	}
	// A retry of a submission that went through answers with its request, whatever has changed
	// in the catalog or the limits since.
	if key != "" {
		if out, ok, err := d.replay(ctx, me.ID, key, fp); ok {
			return out, err
		}
	}
	if in.Service == "" {
		return Submitted{}, invalid("the request is not valid", fields...)
	}
	svc, err := d.currentService(ctx, in.Service)
	if err != nil {
		return Submitted{}, err
	}
	def := svc.Definition
	if svc.Stage == catalog.StageRetiring || svc.Stage == catalog.StageRetired {
		detail := fmt.Sprintf("the service %q is retired and takes no new requests", def.Key)
		if svc.Successor != "" {
			detail += fmt.Sprintf("; request %q instead", svc.Successor)
		}
		return Submitted{}, &Error{Kind: ErrGone, Reason: ReasonRetired, Detail: detail, Successor: svc.Successor}
	}
	if ok, why := def.Eligible(me); !ok {
		return Submitted{}, &Error{Kind: ErrForbidden, Reason: ReasonNotEligible, Detail: why}
	}
	form, err := catalog.CompileForm(def.Request.Form)
	if err != nil {
		return Submitted{}, fmt.Errorf("service %s v%d form: %w", def.Key, svc.Version, err)
	}
	for _, fe := range form.Validate(formIn) {
		fe.Field = "/form" + fe.Field
		fields = append(fields, fe)
	}
	if quantity > def.MaxQuantity() {
		fields = append(fields, catalog.FieldError{Field: "/quantity", Rule: "maximum",
			Detail: fmt.Sprintf("at most %d per request (the service's limits.max_quantity)", def.MaxQuantity())})
	}
	if priority == "" {
		priority = def.DefaultPriority()
	} else if slices.Contains(catalog.Priorities, priority) && !def.OffersPriority(priority) {
		fields = append(fields, catalog.FieldError{Field: "/priority", Rule: "enum",
			Detail: fmt.Sprintf("this service offers %v (its request.priorities)", def.OfferedPriorities())})
	}
	if len(fields) > 0 {
		return Submitted{}, invalid("the request is not valid", fields...)
	}
	now := d.now()
	if open, next := def.Limits.OpenAt(now); !open {
		detail := "the service cannot be requested now and has no further request window"
		if !next.IsZero() {
			detail = "the service cannot be requested now; the next request window opens at " + next.UTC().Format(time.RFC3339)
		}
		return Submitted{}, &LimitError{Limit: "windows", Detail: detail, ResetsAt: next}
	}
	quote, err := def.Quote(formIn, quantity, me)
	if err != nil {
		return Submitted{}, quoteErr(err)
	}

	// The files stream in once everything else is known to be right, before anything starts:
	// a submission without a required file starts nothing.
	next := in.Files
	if next == nil {
		next = NoUploads
	}
	var staged []Attachment
	if def.Attachments != nil || in.Files != nil {
		if def.Attachments != nil {
			if err := d.filesReady(); err != nil {
				return Submitted{}, err
			}
		}
		staged, err = d.stageAll(ctx, def.Attachments, next, def.Attachments.Files(), me, func(i int, up *Upload) error {
			if up.Task != "" {
				return uploadErr(i, "task", "a submission's files belong to no task")
			}
			return nil
		})
		if err != nil {
			return Submitted{}, err
		}
		var missing []catalog.FieldError
		var required []string
		if def.Attachments != nil {
			required = def.Attachments.Required
		}
		for _, k := range required {
			if !slices.ContainsFunc(staged, func(a Attachment) bool { return a.Kind == k }) {
				missing = append(missing, catalog.FieldError{Field: "/attachments", Rule: "required", Detail: fmt.Sprintf("attach the %s (the service requires one)", k)})
			}
		}
		if len(missing) > 0 {
			d.discard(ctx, staged)
			return Submitted{}, invalid("the request is not valid", missing...)
		}
	}
	recorded := false
	defer func() {
		if !recorded {
			d.discard(ctx, staged)
		}
	}()

	if key == "" {
		key = randomKey()
	}
	res := store.Reservation{Requester: me.ID, Key: key, Fingerprint: fp[0], Service: def.Key, Now: now, MaxOpen: def.Limits.MaxOpen}
	if p := def.Limits.PerPeriod; p != nil {
		res.PerPeriodMax, res.Period = p.Max, p.Period.Std()
	}
	sub, created, err := d.store.Reserve(ctx, res)
	var limit *store.LimitError
	if errors.As(err, &limit) {
		return Submitted{}, limitErr(limit)
	}
	if err != nil {
		return Submitted{}, fmt.Errorf("reserve a number: %w", err)
	}
	if !created {
		if out, ok, err := d.replay(ctx, me.ID, key, fp); ok {
			return out, err
		}
	}
	id := catalog.RequestID(sub.Number)
	// The files are recorded under the reserved number before the workflow starts, once per
	// submission: an attempt whose answer is lost after the start (the worker slow or down) has
	// recorded them, and its retry under the same key, answered as a replay above, drops its
	// own copy; an attempt that failed before the start is retried here and records them.
	if len(staged) > 0 {
		for i := range staged {
			staged[i].Request = id
			staged[i].ID = submittedFileID(id, i)
		}
		added, err := d.store.AddAttachmentsOnce(ctx, staged)
		if err != nil {
			return Submitted{}, fmt.Errorf("record the files of %s: %w", id, err)
		}
		recorded = added // false: an earlier attempt recorded its files; these are discarded
	}
	dept, err := d.store.Department(ctx, def.Department)
	if err != nil {
		return Submitted{}, fmt.Errorf("department %s: %w", def.Department, err)
	}
	// A start operation is good for one call: each attempt below makes its own (the first starts
	// the workflow; a later one uses it, by the conflict policy).
	newStart := func() client.WithStartWorkflowOperation {
		return d.temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID:                       workflows.RequestWorkflowID(id),
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:            fmt.Sprintf("%s: %s for %s", id, def.Name, me.Name),
			StaticDetails:            fmt.Sprintf("Service %s v%d (%s), requested by %s (%s), priority %s", def.Key, svc.Version, def.Department, me.Name, me.ID, priority),
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.AttrService.ValueSet(def.Key),
				workflows.AttrDepartment.ValueSet(def.Department),
				workflows.AttrStatus.ValueSet(catalog.StatusPendingApproval),
				workflows.AttrPriority.ValueSet(priority),
			),
		}, workflows.ServiceRequest, workflows.RequestInput{
			Number: sub.Number, Version: svc.Version, Definition: def, Requester: me,
			Form: formIn, Quantity: quantity, Priority: priority, Quote: &quote,
			Calendar: dept.Calendar, Webhook: dept.Webhook, Bounds: d.bounds,
		})
	}
	// The submission waits d.wait at most for the workflow to take it (see update); the workflow
	// is started either way, and a retry with the same idempotency key attaches to it.
	wctx, cancel := context.WithTimeout(ctx, d.wait)
	defer cancel()
	var out workflows.SubmitResult
	err = retryNotReady(wctx, func() error {
		handle, err := d.temporal.UpdateWithStartWorkflow(wctx, client.UpdateWithStartWorkflowOptions{
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
		return handle.Get(wctx, &out)
	})
	if err != nil {
		// The request was made, and closed before its submission was answered (an operator
		// cancelled or terminated it at once): the read model has its final state.
		var app *temporal.ApplicationError
		if (!errors.As(err, &app) || app.Type() == updateOutlived) && !errors.Is(err, context.DeadlineExceeded) {
			if st, rerr := d.store.Request(ctx, id); rerr == nil && catalog.Terminal(st.Status) {
				d.log.InfoContext(ctx, "request closed before its submission was answered", "request", id, "status", st.Status, "error", err)
				out = workflows.SubmitResult{ID: st.ID, Status: st.Status, Service: st.Service.Key, Version: st.Service.Version, Quote: st.Quote}
				err = nil
			}
		}
		if err != nil {
			return Submitted{}, d.workflowErr(ctx, id, fmt.Errorf("submit %s: %w", id, err))
		}
	}
	return Submitted{ID: out.ID, Status: out.Status, Service: out.Service, Version: out.Version, Quote: out.Quote, Replayed: !created}, nil
}

// replay answers a repeated submission (same requester and idempotency key) with the request
// it made, and reports whether it answered. The same key with another submission is refused
// (ReasonKeyReused). A key whose workflow does not exist (the first attempt died before starting
// it) is not answered here: the caller goes on to start it under the number already reserved.
//
// fp lists the fingerprints that stand for the submission: the first is the one a new
// reservation stores, the others are what older reservations stored for it.
func (d *Desk) replay(ctx context.Context, requester, key string, fp []string) (Submitted, bool, error) {
	sub, err := d.store.Submission(ctx, requester, key)
	if err != nil {
		return Submitted{}, false, nil
	}
	id := catalog.RequestID(sub.Number)
	if !slices.Contains(fp, sub.Fingerprint) {
		return Submitted{}, true, &Error{Kind: ErrConflict, Reason: ReasonKeyReused, Request: id,
			Detail: fmt.Sprintf("Idempotency-Key %q was used for a different submission, %s", key, id)}
	}
	st, err := d.liveState(ctx, id)
	if err != nil {
		return Submitted{}, false, nil
	}
	return Submitted{ID: id, Status: st.Status, Service: st.Service.Key, Version: st.Service.Version, Quote: st.Quote, Replayed: true}, true, nil
}

// fingerprint identifies what was submitted, so a reused idempotency key with another
// submission is caught.
func fingerprint(service string, form map[string]any, quantity int, priority string) string {
	b, _ := json.Marshal([]any{service, form, quantity, priority})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// quoteErr is a *ValidationError naming what could not be priced: the field a quote's bounds
// refused (/form/hours, /quantity), or the form when a price part's condition could not be
// evaluated.
func quoteErr(err error) error {
	var ve *catalog.ValidationError
	if errors.As(err, &ve) {
		return invalid("the price could not be worked out for this request", ve.Errors...)
	}
	return invalid("the price could not be worked out for this form", catalog.FieldError{
		Field: "/form", Rule: "cost", Detail: err.Error()})
}

// QuoteInput is a form being filled in and a quantity (1 when nil), to price.
type QuoteInput struct {
	Service  string
	Form     map[string]any
	Quantity *int
}

// Quoted is a price of a service at its current version.
type Quoted struct {
	Service string
	Version int
	Quote   catalog.Quote
}

// Quote prices a form being filled in without submitting anything: only the fields that price
// the request are checked (with their bounds), and those not given yet add nothing.
//
// Errors: ErrNotFound (no such service), *ValidationError (the quantity, a pricing field, a price
// that cannot be worked out).
func (d *Desk) Quote(ctx context.Context, me Actor, in QuoteInput) (Quoted, error) {
	sv, err := d.currentService(ctx, in.Service)
	if err != nil {
		return Quoted{}, err
	}
	def := sv.Definition
	quantity := 1
	var fields []catalog.FieldError
	if in.Quantity != nil {
		quantity = *in.Quantity
	}
	if quantity < 1 || quantity > def.MaxQuantity() {
		fields = append(fields, catalog.FieldError{Field: "/quantity", Rule: "range",
			Detail: fmt.Sprintf("from 1 to %d per request (the service's limits.max_quantity)", def.MaxQuantity())})
	}
	formIn := in.Form
	if formIn == nil {
		formIn = map[string]any{}
	}
	form, err := catalog.CompileForm(def.Request.Form)
	if err != nil {
		return Quoted{}, fmt.Errorf("service %s v%d form: %w", def.Key, sv.Version, err)
	}
	// A price part whose condition reads the whole form prices (and checks) the whole form.
	pricing, all := def.PricingFields()
	var errs []catalog.FieldError
	if all {
		errs = form.Validate(formIn)
	} else {
		errs = form.ValidateFields(formIn, pricing)
	}
	for _, fe := range errs {
		fe.Field = "/form" + fe.Field
		fields = append(fields, fe)
	}
	if len(fields) > 0 {
		return Quoted{}, invalid("the quote request is not valid", fields...)
	}
	price := def.QuotePartial
	if all {
		price = def.Quote
	}
	q, err := price(formIn, quantity, me)
	if err != nil {
		return Quoted{}, quoteErr(err)
	}
	return Quoted{Service: def.Key, Version: sv.Version, Quote: q}, nil
}

// MaxWait is the longest Request waits for a request to close.
const MaxWait = 30 * time.Second

// RequestInput names a request and how long to wait for it to close (0: not at all; at most
// MaxWait).
type RequestInput struct {
	ID   string
	Wait time.Duration
	// Files: answer the request's files too, and whether the actor may add one (a page showing
	// them asks; a poll does not).
	Files bool
}

// RequestView is a request as the actor may see it.
type RequestView struct {
	State catalog.RequestState
	// Waited: the call waited for the request to close (it was open and a wait was asked).
	Waited bool
	// Stale: the request's workflow did not answer, and the state is the read model's, which may
	// be a little behind.
	Stale bool
	// Files are the request's files, deleted ones with their DeletedAt (only when asked:
	// RequestInput.Files).
	Files []Attachment
	// MayAttach, when the actor may add files to it now (Attach's rule: who, the request open,
	// the service taking files, room left under max_files), is the service version's
	// attachments block (the kinds, types and sizes an added file must have); nil when not, or
	// not asked.
	MayAttach *catalog.Attachments
}

// Request answers a request the actor may see: a running one from its workflow (never stale),
// a closed one from the read model, which holds its final state; with a wait, an open one when
// it closes (or the wait runs out, or Config.Draining ends). Its timeline is whole: events the
// state no longer keeps come from the audit trail.
//
// Errors: ErrNotFound (no such request, or one the actor may not see).
func (d *Desk) Request(ctx context.Context, me Actor, in RequestInput) (RequestView, error) {
	st, delegators, err := d.visible(ctx, me, in.ID)
	if err != nil {
		return RequestView{}, err
	}
	var v RequestView
	if in.Files {
		if v.Files, v.MayAttach, err = d.filesOf(ctx, me, delegators, st); err != nil {
			return RequestView{}, err
		}
	}
	if in.Wait > 0 && !catalog.Terminal(st.Status) {
		v.Waited = true
		if d.awaitClose(ctx, st.ID, min(in.Wait, MaxWait)) {
			// The workflow writes its closed state to the read model before it completes.
			if closed, err := d.store.Request(ctx, st.ID); err == nil {
				st = closed
			}
		}
	}
	if !catalog.Terminal(st.Status) {
		live, err := d.liveState(ctx, st.ID)
		if err == nil {
			st = live
		} else {
			d.log.WarnContext(ctx, "query failed; answering from the read model", "request", st.ID, "error", err)
			v.Stale = true
		}
	}
	if len(st.Timeline) > 0 && st.Timeline[0].Seq > 1 {
		// A request of revision 4 keeps only its latest events in its state (the Query's and
		// the stored one); the audit trail has every one, the state's own stand for theirs.
		trail, err := d.store.EventsBefore(ctx, st.ID, st.Timeline[0].Seq)
		if err != nil {
			return RequestView{}, fmt.Errorf("events of %s: %w", st.ID, err)
		}
		st.MergeTimeline(trail)
	}
	v.State = st.UTC() // a state stored or queried before every instant was UTC
	return v, nil
}

// awaitClose waits until the request's workflow has closed, or wait has passed, or the caller
// has gone, or the desk stops waiting: a long poll of the workflow's history for its close
// event, the same call the SDK's run.Get makes, so that waiting costs one call instead of a
// Query every few milliseconds. It reports whether the workflow closed.
func (d *Desk) awaitClose(ctx context.Context, id string, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	defer context.AfterFunc(d.draining, cancel)()
	err := d.temporal.GetWorkflow(ctx, workflows.RequestWorkflowID(id), "").Get(ctx, nil)
	// Any answer before the deadline means the workflow closed (a failed or terminated one
	// answers with its error).
	return err == nil || ctx.Err() == nil
}

// RequestsInput narrows and pages the actor's requests.
type RequestsInput struct {
	// Status and Service narrow the list ("": any).
	Status  string
	Service string
	// Cursor is a NextCursor of a previous page ("": the first page).
	Cursor string
	// Limit is the page's size: 1 to 100 (0: 20).
	Limit int
	// Everyone lists every requester's requests, not the actor's own: operators only
	// (ErrForbidden). Breached keeps the open requests that missed their resolution target.
	Everyone bool
	Breached bool
	// Open keeps the requests that have not closed.
	Open bool
	// Words keeps the requests whose id, title or service key holds every word of it, ignoring
	// case: at most MaxWords words of at most 100 characters each.
	Words string
}

// MaxWords is the most words a list's text filter may hold.
const MaxWords = 5

// RequestList is a page of requests, newest first, and the cursor of the next (absent on the
// last page).
type RequestList struct {
	Items      []RequestRow
	NextCursor string
}

// Requests lists the actor's own requests, newest first, a page at a time.
//
// Errors: *ValidationError (a status that is not one, a cursor no page gave, too many words),
// ErrForbidden (everyone's requests asked by someone who is not an operator).
func (d *Desk) Requests(ctx context.Context, me Actor, in RequestsInput) (RequestList, error) {
	limit := in.Limit
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 100)
	f := store.RequestFilter{Requester: me.ID, Status: in.Status, Service: in.Service, Breached: in.Breached, Open: in.Open,
		Words: strings.Fields(in.Words), Limit: limit + 1}
	if len(f.Words) > MaxWords || slices.ContainsFunc(f.Words, func(w string) bool { return len(w) > 100 }) {
		return RequestList{}, invalid("a query parameter is not valid", catalog.FieldError{
			Field: "q", Rule: "maxLength", Detail: fmt.Sprintf("search with at most %d words of at most 100 characters", MaxWords)})
	}
	if in.Everyone {
		if !me.HasRole(catalog.RoleOperator) {
			return RequestList{}, forbidden("only operators list everyone's requests")
		}
		f.Requester = ""
	}
	if f.Status != "" && !slices.Contains(catalog.Statuses, f.Status) {
		return RequestList{}, invalid("a query parameter is not valid", catalog.FieldError{
			Field: "status", Rule: "enum", Detail: fmt.Sprintf("must be one of %v", catalog.Statuses)})
	}
	if in.Cursor != "" {
		n, ok := catalog.ParseRequestID(in.Cursor)
		if !ok {
			return RequestList{}, badCursor()
		}
		f.Before = n
	}
	rows, err := d.store.ListRequests(ctx, f)
	if err != nil {
		return RequestList{}, fmt.Errorf("list requests: %w", err)
	}
	out := RequestList{Items: rows}
	if len(rows) > limit {
		out.Items = rows[:limit]
		out.NextCursor = rows[limit-1].ID
	}
	return out, nil
}

// DecideInput is an approver's decision on a request: approve, reject (with a reason) or
// request_info (with a question).
type DecideInput struct {
	ID       string
	Decision string
	Comment  string
}

// Decided is where a decision left the request, and the step it decided.
type Decided struct {
	ID     string
	Status string
	Step   int
}

// Decide sends an approver's decision, in their own name or as the delegate of the approvers
// who delegated to them now. The workflow refuses anyone who is not an open step's approver
// before anything enters its history.
//
// Errors: ErrNotFound (a request the actor may not see), *ValidationError (the decision, a
// missing reason or question, a comment too long), ErrForbidden (not an approver of an open
// step, or the requester), ErrConflict (no open step, already decided, closed), ErrUnavailable.
func (d *Desk) Decide(ctx context.Context, me Actor, in DecideInput) (Decided, error) {
	st, delegators, err := d.visible(ctx, me, in.ID)
	if err != nil {
		return Decided{}, err
	}
	if err := checkDecision(in); err != nil {
		return Decided{}, err
	}
	if delegators == nil { // visible did not need them; the decision does
		if delegators, err = d.store.Delegators(ctx, me.ID, d.now()); err != nil {
			return Decided{}, fmt.Errorf("delegators of %s: %w", me.ID, err)
		}
	}
	return d.sendDecision(ctx, me, st.ID, delegators, in)
}

// checkDecision applies the rules of a decision's shape: the decision one of three, a reason to
// reject, a question to ask, a comment within MaxText.
func checkDecision(in DecideInput) error {
	switch in.Decision {
	case catalog.DecisionApprove, catalog.DecisionReject, catalog.DecisionRequestInfo:
	case "":
		return invalid("the decision is not valid", catalog.FieldError{Field: "/decision", Rule: "required", Detail: "approve, reject or request_info"})
	default:
		return invalid("the decision is not valid", catalog.FieldError{Field: "/decision", Rule: "enum", Detail: "must be approve, reject or request_info"})
	}
	if in.Decision != catalog.DecisionApprove && strings.TrimSpace(in.Comment) == "" {
		return invalid("the decision is not valid", catalog.FieldError{Field: "/comment", Rule: "required", Detail: "a rejection needs a reason, a request for information a question"})
	}
	if fe := checkText("/comment", in.Comment); fe != nil {
		return invalid("the decision is not valid", *fe)
	}
	return nil
}

// sendDecision sends a checked decision to the request's workflow, whose validator refuses
// anyone who may not decide: me in their own name, or on behalf of one of onBehalfOf.
func (d *Desk) sendDecision(ctx context.Context, me Actor, id string, onBehalfOf []string, in DecideInput) (Decided, error) {
	var res workflows.DecisionResult
	err := d.update(ctx, workflows.RequestWorkflowID(id), workflows.DecideUpdate, workflows.DecisionInput{
		Actor: Ref(me), OnBehalfOf: onBehalfOf, Decision: in.Decision, Comment: in.Comment,
	}, &res)
	if err != nil {
		return Decided{}, d.workflowErr(ctx, id, err)
	}
	return Decided{ID: id, Status: res.Status, Step: res.Step}, nil
}

// CancelInput withdraws a request, with an optional reason.
type CancelInput struct {
	ID     string
	Reason string
}

// Changed is a request's status after a change.
type Changed struct {
	ID     string
	Status string
}

// Cancel: the requester withdraws the request; pending approvers are told.
//
// Errors: ErrNotFound (a request the actor may not see), *ValidationError (a reason too long
// or not UTF-8: checkText),
// ErrForbidden (not the requester), ErrConflict (closed, or past the point of cancelling),
// ErrUnavailable.
func (d *Desk) Cancel(ctx context.Context, me Actor, in CancelInput) (Changed, error) {
	st, _, err := d.visible(ctx, me, in.ID)
	if err != nil {
		return Changed{}, err
	}
	if fe := checkText("/reason", in.Reason); fe != nil {
		return Changed{}, invalid("the reason is not valid", *fe)
	}
	var res workflows.ChangeResult
	if err := d.update(ctx, workflows.RequestWorkflowID(st.ID), workflows.CancelUpdate, workflows.CancelInput{Actor: Ref(me), Reason: in.Reason}, &res); err != nil {
		return Changed{}, d.workflowErr(ctx, st.ID, err)
	}
	return Changed{ID: st.ID, Status: res.Status}, nil
}

// CommentInput is a comment on a request.
type CommentInput struct {
	ID   string
	Text string
}

// Comment adds a comment to a request the actor may see; the requester's answers a request for
// information.
//
// Errors: ErrNotFound (a request the actor may not see), *ValidationError (empty, too long,
// not UTF-8: checkText),
// ErrConflict (closed), ErrUnavailable.
func (d *Desk) Comment(ctx context.Context, me Actor, in CommentInput) (Changed, error) {
	st, _, err := d.visible(ctx, me, in.ID)
	if err != nil {
		return Changed{}, err
	}
	if fe := checkText("/text", in.Text); fe != nil {
		return Changed{}, invalid("the comment is not valid", *fe)
	}
	if strings.TrimSpace(in.Text) == "" {
		return Changed{}, invalid("the comment is empty", catalog.FieldError{Field: "/text", Rule: "required", Detail: "say something"})
	}
	var res workflows.ChangeResult
	if err := d.update(ctx, workflows.RequestWorkflowID(st.ID), workflows.CommentUpdate, workflows.CommentInput{Actor: Ref(me), Text: in.Text}, &res); err != nil {
		return Changed{}, d.workflowErr(ctx, st.ID, err)
	}
	return Changed{ID: st.ID, Status: res.Status}, nil
}
