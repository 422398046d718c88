// Package workflows holds the ESM workflows. Everything here is deterministic: no store, no
// clock, no network. Names the API needs (task queue, updates, queries, ids, search attributes)
// live here as constants so that no other package spells them.
package workflows

import (
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// TaskQueue is where every ESM workflow and activity runs.
const TaskQueue = "esm"

// Update and query names of the ServiceRequest workflow.
const (
	SubmitUpdate       = "submit"
	SubmitUpdateID     = "submit" // one submit per workflow: the server dedupes repeats by this id
	DecideUpdate       = "decide"
	CancelUpdate       = "cancel"
	CommentUpdate      = "comment"
	ClaimTaskUpdate    = "claim_task"
	ReleaseTaskUpdate  = "release_task"
	AssignTaskUpdate   = "assign_task"
	CompleteTaskUpdate = "complete_task"
	FailTaskUpdate     = "fail_task"
	AskTaskUpdate      = "ask_task"
	StateQuery         = "state"
)

// RequestRevision is the ServiceRequest workflow's workflow.GetVersion change id. Each version
// changes the workflow's commands; histories recorded before it still replay through the old
// branch (workflows/testdata/histories). There is one id, read once when a request starts, so a
// request records one version marker (and the SDK one TemporalChangeVersion search attribute)
// however many changes there are, and a request keeps the behaviour it started with:
//
//  1. A closing request signals its service's lifecycle only when the service is retiring; its
//     automated tasks make their calls as local activities.
//  2. The search attributes are upserted by the projector alone, whenever what they show differs
//     from what was last upserted, so a request that moves on within its first workflow task
//     (auto-approved: submitted to in fulfilment) shows where it is, not where it started.
//  3. Issue 15's fixes that change commands (each site checks w.revision >= 3): approval steps
//     never lower the bar and never fail for the shape of the org chart; escalations never add
//     someone who may not decide; the response clock stops at the first reply to the requester;
//     a priority without targets in the SLA policy falls back to the default priority's.
//  4. Issue 16, the request workflow's second revision (each site checks w.revision >= 4): tasks
//     run inside the request (activities and state, no child workflow per task); an operator's
//     cancel ends the request as cancelled, compensated and projected; SLA levels keep their
//     instants and approval deadlines move by business time; the history stays bounded.
//  5. Issue 19, who is told what (each site checks w.revision >= 5): the requester on every
//     outcome, the fulfiller group when a task enters its queue, the approvers' delegates when
//     a step opens; texts that say the true cause; every notification with a stable id, retried
//     with backoff for up to a day (docs/NOTIFICATIONS.md).
//  6. Issue 21, retention of a request's files (checks w.revision >= 6): a request whose pinned
//     definition has a retention starts its RequestRetention (retention/<request>) as an
//     abandoned child when it closes, once the closed state is projected.
const RequestRevision = "request-revision"

// requestRevision is the version new requests run.
const requestRevision = 6

// RequestWorkflowID is the workflow id of a request: request/REQ-000042.
func RequestWorkflowID(requestID string) string { return "request/" + requestID }

// Application error types that handlers and validators return; the API maps each to a status.
const (
	ErrInvalid   = "InvalidInput"  // 422: the input breaks a rule
	ErrForbidden = "Forbidden"     // 403: the caller may not do this
	ErrConflict  = "Conflict"      // 409: not now: the step or task is not open, or was decided
	ErrNotFound  = "NotFound"      // 404: no such task
	ErrNoOne     = "NoApprovers"   // the policy resolved to nobody
	ErrBadPolicy = "InvalidPolicy" // the pinned definition cannot run
)

// Search attributes, typed. Registered on the dev server by SearchAttributeFlags and on a real
// cluster by `esm setup`. They carry no personal data.
var (
	AttrService    = temporal.NewSearchAttributeKeyKeyword("EsmService")
	AttrDepartment = temporal.NewSearchAttributeKeyKeyword("EsmDepartment")
	AttrStatus     = temporal.NewSearchAttributeKeyKeyword("EsmStatus")
	AttrPriority   = temporal.NewSearchAttributeKeyKeyword("EsmPriority")
	AttrStage      = temporal.NewSearchAttributeKeyKeyword("EsmStage")
	AttrBreached   = temporal.NewSearchAttributeKeyBool("EsmBreached")
	AttrDueAt      = temporal.NewSearchAttributeKeyTime("EsmDueAt")
	// AttrOpenGroups are the fulfiller groups with open work on the request (open or claimed
	// tasks, automations running), revision 4 on: EsmOpenGroups="facilities-desk" lists
	// everything waiting on that group.
	AttrOpenGroups = temporal.NewSearchAttributeKeyKeywordList("EsmOpenGroups")
)

// SearchAttributes lists every custom search attribute with its type name, as
// `temporal server start-dev --search-attribute Name=Type` takes them.
func SearchAttributes() map[string]string {
	return map[string]string{
		AttrService.GetName():    "Keyword",
		AttrDepartment.GetName(): "Keyword",
		AttrStatus.GetName():     "Keyword",
		AttrPriority.GetName():   "Keyword",
		AttrStage.GetName():      "Keyword",
		AttrBreached.GetName():   "Bool",
		AttrDueAt.GetName():      "Datetime",
		AttrOpenGroups.GetName(): "KeywordList",
	}
}

// SearchAttributeFlags returns the start-dev flags registering SearchAttributes.
func SearchAttributeFlags() []string {
	attrs := SearchAttributes()
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		out = append(out, "--search-attribute", name+"="+attrs[name])
	}
	return out
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }
