package catalog

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request statuses, as the API and the read model spell them.
const (
	StatusPendingApproval    = "pending_approval"
	StatusInFulfilment       = "in_fulfilment"
	StatusWaitingOnRequester = "waiting_on_requester"
	StatusResolved           = "resolved"
	StatusRejected           = "rejected"
	StatusCancelled          = "cancelled"
	StatusFailed             = "failed"
)

// Statuses lists every request status.
var Statuses = []string{StatusPendingApproval, StatusInFulfilment, StatusWaitingOnRequester,
	StatusResolved, StatusRejected, StatusCancelled, StatusFailed}

// OpenStatuses lists the statuses of a request in flight (not Terminal).
var OpenStatuses = []string{StatusPendingApproval, StatusInFulfilment, StatusWaitingOnRequester}

// Terminal reports whether a request in this status will never change again.
func Terminal(status string) bool {
	return terminal[status]
}

var terminal = map[string]bool{StatusResolved: true, StatusRejected: true, StatusCancelled: true, StatusFailed: true}

// TaskClosed reports whether a task will not change again (but for compensation).
func TaskClosed(state string) bool {
	switch state {
	case TaskDone, TaskFailed, TaskSkipped, TaskCancelled:
		return true
	}
	return false
}

// Decisions and the states of approvals and tasks.
const (
	DecisionApprove     = "approve"
	DecisionReject      = "reject"
	DecisionRequestInfo = "request_info" // ask the requester a question; the step waits for the answer

	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"

	TaskWaiting   = "waiting"   // its turn has not come
	TaskOpen      = "open"      // in the group's queue, unclaimed
	TaskClaimed   = "claimed"   // someone is working on it
	TaskRunning   = "running"   // an automation is making its call
	TaskDone      = "done"      // finished, with its outputs
	TaskFailed    = "failed"    // could not be done
	TaskSkipped   = "skipped"   // its condition does not hold
	TaskCancelled = "cancelled" // the request was cancelled before the task was done
)

// RequestID formats a request number as the API shows it: REQ-000042.
func RequestID(number int64) string { return fmt.Sprintf("REQ-%06d", number) }

// ParseRequestID is the inverse of RequestID.
func ParseRequestID(id string) (int64, bool) {
	rest, ok := strings.CutPrefix(id, "REQ-")
	if !ok || len(rest) < 6 {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n <= 0 || RequestID(n) != id {
		return 0, false
	}
	return n, true
}

// TaskRef names one task of one request, as the API shows it: REQ-000042.prepare.
func TaskRef(requestID, taskID string) string { return requestID + "." + taskID }

// ParseTaskRef splits a TaskRef.
func ParseTaskRef(ref string) (requestID, taskID string, ok bool) {
	requestID, taskID, ok = strings.Cut(ref, ".")
	if !ok {
		return "", "", false
	}
	if _, valid := ParseRequestID(requestID); !valid || !keyPattern.MatchString(taskID) {
		return "", "", false
	}
	return requestID, taskID, true
}

// ServiceRef is the pinned service of a request.
type ServiceRef struct {
	Key        string `json:"key"`
	Name       string `json:"name"`
	Department string `json:"department"`
	Version    int    `json:"version"`
}

// PersonRef is a snapshot of a person taken when it mattered (at submission, at a decision).
type PersonRef struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Department string `json:"department,omitempty"`
}

// RequestState is the whole state of one request: what its workflow's Query answers, what the
// read model stores, and what GET /v1/requests/{id} returns.
type RequestState struct {
	ID          string          `json:"id"`
	Number      int64           `json:"number"`
	Service     ServiceRef      `json:"service"`
	Requester   PersonRef       `json:"requester"`
	Form        map[string]any  `json:"form"`
	Quantity    int             `json:"quantity"`
	Quote       *Quote          `json:"quote,omitempty"`
	Priority    string          `json:"priority"`
	Status      string          `json:"status"`
	Stage       string          `json:"stage"`
	Reason      string          `json:"reason,omitempty"`
	SubmittedAt time.Time       `json:"submitted_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	ClosedAt    *time.Time      `json:"closed_at,omitempty"`
	Approvals   []ApprovalState `json:"approvals"`
	Tasks       []TaskState     `json:"tasks"`
	// SLA holds the response and resolution clocks (none when the service has no target for
	// the priority). DueAt and Breached summarise the resolution clock.
	SLA             []SLAClock `json:"sla"`
	DueAt           *time.Time `json:"due_at,omitempty"`
	Breached        bool       `json:"breached"`
	EscalationLevel int        `json:"escalation_level"`
	Timeline        []Event    `json:"timeline"`
	// Barred lists who may not decide the open step (the decision validator refuses them, see
	// Bars); BarredOnBehalf lists whose approval of it nobody may decide as their delegate. The
	// approval inbox hides what these would refuse. Both are empty when no step is open.
	Barred         []string `json:"barred,omitempty"`
	BarredOnBehalf []string `json:"barred_on_behalf,omitempty"`
	// Seq counts the request's transitions; the read model never replaces a newer Seq with an
	// older one.
	Seq int64 `json:"seq"`
}

// Title is a one-line description: "Laptop for Alice Chen".
func (r RequestState) Title() string { return r.Service.Name + " for " + r.Requester.Name }

// OpenStep is the approval step waiting for decisions, if any: the last step, while it is
// pending and the request waits on approval (or on the requester's answer to an approver).
func (r *RequestState) OpenStep() *ApprovalState {
	if len(r.Approvals) == 0 || (r.Status != StatusPendingApproval && r.Status != StatusWaitingOnRequester) {
		return nil
	}
	a := &r.Approvals[len(r.Approvals)-1]
	if a.Status != ApprovalPending {
		return nil
	}
	return a
}

// TookPart lists who took part in the request's decided steps (all but the last, which may be
// open), with why: each approver who decided, each delegate who decided for one, and the
// person a delegate decided for. Separation of duties keeps them from deciding another step
// unless the policy allows repeat deciders.
func (r RequestState) TookPart() map[string]string {
	out := map[string]string{}
	if len(r.Approvals) == 0 {
		return out
	}
	for _, s := range r.Approvals[:len(r.Approvals)-1] {
		for _, a := range s.Approvers {
			if a.Decision == "" {
				continue
			}
			if a.DecidedBy != nil {
				out[a.DecidedBy.ID] = fmt.Sprintf("decided step %q already", s.Name)
				out[a.ID] = fmt.Sprintf("%s decided step %q for them already", a.DecidedBy.Name, s.Name)
			} else {
				out[a.ID] = fmt.Sprintf("decided step %q already", s.Name)
			}
		}
	}
	return out
}

// Bars lists who may not decide the open step, nor have a delegate decide it for them, and
// why: the requester (nobody decides their own request) and, unless repeatDeciders, everyone
// who took part in an earlier step (TookPart). The decision validator refuses them, and the
// approval inbox hides the step from them (through Barred and BarredOnBehalf).
func (r RequestState) Bars(repeatDeciders bool) map[string]string {
	out := map[string]string{}
	if !repeatDeciders {
		out = r.TookPart()
	}
	out[r.Requester.ID] = "nobody decides their own request"
	return out
}

// Deciders lists who decided the step already, as an approver or as someone's delegate:
// nobody decides one step twice (a delegate of theirs may still decide the approval of the
// person they delegated for, if it is open).
func (a ApprovalState) Deciders() []string {
	var out []string
	for _, p := range a.Approvers {
		if p.Decision == "" {
			continue
		}
		out = append(out, p.ID)
		if p.DecidedBy != nil {
			out = append(out, p.DecidedBy.ID)
		}
	}
	return out
}

// SetBarred fills Barred and BarredOnBehalf for the open step by the rules of Bars and
// Deciders, which the decision validator applies: Barred holds everyone Bars names and everyone
// who decided the step already; BarredOnBehalf those Bars names. Both are sorted, and nil when
// no step is open.
func (r *RequestState) SetBarred(repeatDeciders bool) {
	r.Barred, r.BarredOnBehalf = nil, nil
	step := r.OpenStep()
	if step == nil {
		return
	}
	bars := r.Bars(repeatDeciders)
	r.BarredOnBehalf = slices.Sorted(maps.Keys(bars))
	self := maps.Clone(bars)
	for _, id := range step.Deciders() {
		self[id] = "decided the step already"
	}
	r.Barred = slices.Sorted(maps.Keys(self))
}

// ApprovalState is one approval step of one request.
type ApprovalState struct {
	Step   int    `json:"step"`
	Name   string `json:"name"`
	Mode   string `json:"mode"`
	Status string `json:"status"`
	// Required is how many approvals settle the step now (it grows when escalation adds
	// approvers to an all or percent step).
	Required  int        `json:"required"`
	Approvers []Approver `json:"approvers"`
	// Excluded lists people the policy named who may not decide, and why.
	Excluded []Exclusion `json:"excluded,omitempty"`
	OpenedAt time.Time   `json:"opened_at"`
	ClosedAt *time.Time  `json:"closed_at,omitempty"`
	// Outcome says how the step closed when no one decided it: auto-approved, expired.
	Outcome string `json:"outcome,omitempty"`
	// The step's deadlines; each moves later while the request waits on the requester.
	RemindAt   *time.Time `json:"remind_at,omitempty"`
	EscalateAt *time.Time `json:"escalate_at,omitempty"`
	ExpireAt   *time.Time `json:"expire_at,omitempty"`
	Reminded   bool       `json:"reminded,omitempty"`
	Escalated  bool       `json:"escalated,omitempty"`
}

// DueAt is when the step must be settled by: its expiry, else its escalation.
func (a ApprovalState) DueAt() *time.Time {
	if a.ExpireAt != nil {
		return a.ExpireAt
	}
	return a.EscalateAt
}

// Deadline kinds of an approval step, in NextDeadline.
const (
	DueReminder   = "reminder"
	DueEscalation = "escalation"
	DueExpiry     = "expiry"
)

// NextDeadline is the step's earliest deadline that has not fired yet, and which it is
// (DueReminder, DueEscalation, DueExpiry); nil when none is left.
func (a ApprovalState) NextDeadline() (*time.Time, string) {
	var next *time.Time
	what := ""
	for _, d := range []struct {
		at    *time.Time
		fired bool
		name  string
	}{{a.RemindAt, a.Reminded, DueReminder}, {a.EscalateAt, a.Escalated, DueEscalation}, {a.ExpireAt, false, DueExpiry}} {
		if d.at != nil && !d.fired && (next == nil || d.at.Before(*next)) {
			next, what = d.at, d.name
		}
	}
	return next, what
}

// Exclusion is someone the policy named who may not decide.
type Exclusion struct {
	ID  string `json:"id"`
	Why string `json:"why"`
}

// Approver is one person asked to decide a step, and their decision once made.
type Approver struct {
	PersonRef
	// AddedBy says why the person was added after the step opened ("escalation").
	AddedBy  string `json:"added_by,omitempty"`
	Decision string `json:"decision,omitempty"`
	Comment  string `json:"comment,omitempty"`
	// DecidedBy is the delegate who decided on this approver's behalf.
	DecidedBy *PersonRef `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// TaskState is one fulfilment task of one request.
type TaskState struct {
	// Ref is the task's id in the API: REQ-000042.prepare.
	Ref      string         `json:"ref"`
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Group    string         `json:"group"`
	Kind     string         `json:"kind"`
	State    string         `json:"state"`
	Needs    []string       `json:"needs,omitempty"`
	Assignee string         `json:"assignee,omitempty"`
	Outputs  map[string]any `json:"outputs,omitempty"`
	// Reason says why the task failed or was skipped.
	Reason string `json:"reason,omitempty"`
	// Fallback is set when a failed automation became a manual task.
	Fallback bool `json:"fallback,omitempty"`
	// Compensation is the outcome of undoing the task: "done" or "failed: ...".
	Compensation string     `json:"compensation,omitempty"`
	OpenedAt     *time.Time `json:"opened_at,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	// Actionable says a member of the task's group may act on it now (claim, release, assign,
	// complete, fail, ask): RequestState.TaskRefusal finds nothing against it. The state Query and
	// the read model set it (SetActionable) by the task validators' own rule, and the queue lists
	// open and claimed tasks only when actionable. It is nobody's in particular: the requester,
	// even in the group, never acts on their request's tasks (TaskRefusal with who), and the
	// queue never lists them those.
	Actionable bool `json:"actionable"`
}

// OwnRequestRefusal is TaskRefusal's answer to the requester: separation of duties, as for
// decisions. The task validators answer it 403, the other refusals 409.
const OwnRequestRefusal = "nobody fulfils their own request"

// TaskRefusal is why nobody may act on task t of the request now ("" when a member of its
// group may): the task is not open or claimed, or the request waits on the requester's
// answer. The task updates' validators refuse with it, and Actionable is its negation, so
// what a read shows as actionable is what the workflow accepts.
//
// Given who (the person who would act on the task, or to whom a lead would assign it), it is
// also why that person may not: nobody fulfils their own request (OwnRequestRefusal), whatever
// their group or lead role. The task queue applies the same rule to its caller
// (store.QueueFilter.Caller).
func (r RequestState) TaskRefusal(t TaskState, who ...string) string {
	for _, id := range who {
		if id != "" && id == r.Requester.ID {
			return OwnRequestRefusal
		}
	}
	if t.State != TaskOpen && t.State != TaskClaimed {
		return fmt.Sprintf("task %s is %s", t.Ref, t.State)
	}
	if r.Status == StatusWaitingOnRequester {
		return "the request is waiting on the requester's answer"
	}
	return ""
}

// SetActionable sets every task's Actionable by TaskRefusal.
func (r *RequestState) SetActionable() {
	for i := range r.Tasks {
		r.Tasks[i].Actionable = r.TaskRefusal(r.Tasks[i]) == ""
	}
}

// Event is one entry of a request's audit trail.
type Event struct {
	Seq    int       `json:"seq"`
	At     time.Time `json:"at"`
	Type   string    `json:"type"`
	Actor  string    `json:"actor,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// NextEventSeq is the Seq of the request's next event: one past the timeline's last. A request
// workflow of revision 4 keeps only the latest events in its state once the read model holds
// them (the audit trail, request_events, has every one), so the timeline's length is no count.
func (r *RequestState) NextEventSeq() int {
	if n := len(r.Timeline); n > 0 {
		return r.Timeline[n-1].Seq + 1
	}
	return 1
}

// MergeTimeline puts before the state's timeline the events of the audit trail it no longer
// holds (those with a Seq below its first), so that the state reads with every event. The
// state's own events stand for the Seqs it holds.
func (r *RequestState) MergeTimeline(trail []Event) {
	first := r.NextEventSeq()
	if len(r.Timeline) > 0 {
		first = r.Timeline[0].Seq
	}
	var before []Event
	for _, e := range trail {
		if e.Seq < first {
			before = append(before, e)
		}
	}
	if len(before) > 0 {
		r.Timeline = append(before, r.Timeline...)
	}
}

// Stages of a service's life, as its lifecycle workflow moves it and the store records it.
const (
	StageDraft      = "draft"
	StageReview     = "review"
	StagePublished  = "published"
	StageDeprecated = "deprecated"
	StageRetiring   = "retiring"
	StageRetired    = "retired"
)

// SLA clock names.
const (
	ClockResponse   = "response"   // until the first approval decision or task claim
	ClockResolution = "resolution" // until the request closes
)

// SLAClock is one SLA clock: its target in business time, the business time spent, and, while
// it runs, the instant it is due. It stops (paused) while the request waits on the requester.
type SLAClock struct {
	Name   string   `json:"name"`
	Target Duration `json:"target"`
	// Spent is the business time spent before the current running stretch began at RunningSince.
	Spent        Duration   `json:"spent"`
	RunningSince *time.Time `json:"running_since,omitempty"`
	DueAt        *time.Time `json:"due_at,omitempty"`
	Paused       bool       `json:"paused"`
	StoppedAt    *time.Time `json:"stopped_at,omitempty"`
	Met          *bool      `json:"met,omitempty"`
	Warned       []int      `json:"warned,omitempty"`
	Breached     bool       `json:"breached"`
}
