// Package catalog holds the domain types of the service catalog (departments, people, groups and
// versioned service definitions) and the pure rules over them: validation, form checking and
// content hashing. It does no I/O beyond reading catalog files, so workflows may import it.
package catalog

import (
	"github.com/esmhq/esm/calendar"

	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Department is a service provider: IT, HR, Finance...
type Department struct {
	Key  string `yaml:"key" json:"key"`
	Name string `yaml:"name" json:"name"`
	// Head is the person id of the department head.
	Head string `yaml:"head,omitempty" json:"head,omitempty"`
	// Calendar is the business calendar SLAs and deadlines count on; empty means 24x7.
	Calendar calendar.Calendar `yaml:"calendar,omitempty" json:"calendar,omitempty"`
	// Webhook receives the department's notifications (SLA warnings, escalations), signed.
	Webhook *Webhook `yaml:"webhook,omitempty" json:"webhook,omitempty"`
	// Chat is the department's chat channel: its requests' notifications are posted there
	// (docs/NOTIFICATIONS.md, "Chat").
	Chat *Chat `yaml:"chat,omitempty" json:"chat,omitempty"`
}

// Chat kinds: the message format a chat channel's incoming webhook takes.
const (
	ChatSlack = "slack" // Slack incoming webhook: {"text", "blocks"}
	ChatTeams = "teams" // Microsoft Teams incoming webhook (or Workflows): an Adaptive Card message
)

// Chat is a Slack- or Teams-compatible incoming webhook. When SecretEnv names an environment
// variable of the worker, each POST carries X-ESM-Signature (HMAC-SHA256 of the body, as the
// department webhook); neither platform checks it, a relay in front of them may.
type Chat struct {
	URL       string `yaml:"url" json:"url"`
	Kind      string `yaml:"kind" json:"kind"`
	SecretEnv string `yaml:"secret_env,omitempty" json:"secret_env,omitempty"`
}

// Webhook is a notification endpoint: a JSON POST signed with HMAC-SHA256 (header
// X-ESM-Signature: sha256=<hex>) under the secret held in the environment variable SecretEnv.
type Webhook struct {
	URL       string `yaml:"url" json:"url"`
	SecretEnv string `yaml:"secret_env" json:"secret_env"`
}

// Group is a set of people, usually a fulfiller team or an approval board. Membership is kept on
// the person (Person.Groups).
type Group struct {
	Key        string `yaml:"key" json:"key"`
	Name       string `yaml:"name" json:"name"`
	Department string `yaml:"department" json:"department"`
	// Email is the group's own address (a shared mailbox): a task entering the group's queue is
	// mailed there; without one, to each member with an address (docs/NOTIFICATIONS.md).
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// Chat is the group's chat channel: what the group is told (a task entering its queue,
	// an escalation to it) is posted there as well.
	Chat *Chat `yaml:"chat,omitempty" json:"chat,omitempty"`
}

// Person is someone in the directory.
type Person struct {
	ID         string            `yaml:"id" json:"id"`
	Name       string            `yaml:"name" json:"name"`
	Email      string            `yaml:"email,omitempty" json:"email,omitempty"`
	Department string            `yaml:"department" json:"department"`
	Manager    string            `yaml:"manager,omitempty" json:"manager,omitempty"`
	Groups     []string          `yaml:"groups,omitempty" json:"groups,omitempty"`
	Roles      []string          `yaml:"roles,omitempty" json:"roles,omitempty"`
	Attributes map[string]string `yaml:"attributes,omitempty" json:"attributes,omitempty"`
	// Reminders is how the person gets reminders and escalations: "immediate" (each by mail,
	// inside their department's working hours) or "digest" (one mail a day at their
	// department's opening). Empty keeps what the person chose in the portal (immediate for
	// someone new).
	Reminders string `yaml:"reminders,omitempty" json:"reminders,omitempty"`
	// Active false deactivates the person (they leave, as a SCIM deactivation: requests in
	// flight are told, store.ApplyBundle records the change). Omitted or true changes nothing:
	// it does not reactivate someone deactivated, and a person missing from the YAML is not
	// deactivated either (a file that lost a line must not make people leave).
	Active *bool `yaml:"active,omitempty" json:"active,omitempty"`
}

// Reminder preferences (Person.Reminders).
const (
	RemindersImmediate = "immediate"
	RemindersDigest    = "digest"
)

// InGroup reports whether p is a member of group.
func (p Person) InGroup(group string) bool {
	for _, g := range p.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// HasRole reports whether p holds role.
func (p Person) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// RoleOperator may read every request and workflow.
const RoleOperator = "operator"

// RoleAdmin may do everything a service's owner and its department's head may, on every
// service: the last people an approval step goes to.
const RoleAdmin = "admin"

// Definition is one version of a service definition: what the service is, and the internal
// processes that deliver it.
type Definition struct {
	Key         string   `yaml:"key" json:"key"`
	Name        string   `yaml:"name" json:"name"`
	Department  string   `yaml:"department" json:"department"`
	Category    string   `yaml:"category,omitempty" json:"category,omitempty"`
	Owner       string   `yaml:"owner" json:"owner"`
	Summary     string   `yaml:"summary,omitempty" json:"summary,omitempty"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Tags        []string `yaml:"tags,omitempty" json:"tags,omitempty"`

	// Eligibility says who may request the service; nil means everyone.
	Eligibility *Eligibility `yaml:"eligibility,omitempty" json:"eligibility,omitempty"`
	// Limits are the service's limitations.
	Limits Limits `yaml:"limits,omitempty" json:"limits,omitempty"`
	// Cost is what a request costs and who pays; zero means free.
	Cost Cost `yaml:"cost,omitempty" json:"cost,omitempty"`
	// Request is how to request the service: instructions and the form.
	Request RequestSpec `yaml:"request" json:"request"`
	// Help is how to get help with the service.
	Help Help `yaml:"help,omitempty" json:"help,omitempty"`

	// The internal processes: who approves, how it is fulfilled, what is promised.
	Approval   ApprovalPolicy `yaml:"approval" json:"approval"`
	Fulfilment Fulfilment     `yaml:"fulfilment" json:"fulfilment"`
	SLA        SLAPolicy      `yaml:"sla,omitempty" json:"sla,omitempty"`

	// The service's own life: who reviews a new version, how often the service is reviewed,
	// and how it retires.
	Governance *ApprovalStep     `yaml:"governance,omitempty" json:"governance,omitempty"`
	Review     *ReviewPolicy     `yaml:"review,omitempty" json:"review,omitempty"`
	Retirement *RetirementPolicy `yaml:"retirement,omitempty" json:"retirement,omitempty"`

	// Attachments says which files the service takes with a request; nil: none.
	Attachments *Attachments `yaml:"attachments,omitempty" json:"attachments,omitempty"`
	// Retention is how long a request's files are kept after it closes (0: as long as the
	// request is kept); then the request's workflow deletes them (revision 6 on).
	Retention Duration `yaml:"retention,omitempty" json:"retention,omitempty"`
}

// ReviewPolicy schedules periodic reviews: Cron (five fields, robfig/cron) gives the next review
// instant; a review not done within EscalateAfter goes to the department head.
type ReviewPolicy struct {
	Cron          string   `yaml:"cron" json:"cron"`
	EscalateAfter Duration `yaml:"escalate_after,omitempty" json:"escalate_after,omitempty"`
}

// Retirement policies.
const (
	RetireDrain  = "drain"  // requests in flight finish; the service is retired after the last
	RetireCancel = "cancel" // requests in flight are cancelled, with compensation
)

// RetirementPolicy says what retiring does to requests in flight, and what replaces the service.
type RetirementPolicy struct {
	Policy    string `yaml:"policy" json:"policy"`
	Successor string `yaml:"successor,omitempty" json:"successor,omitempty"`
	Sunset    string `yaml:"sunset,omitempty" json:"sunset,omitempty"` // YYYY-MM-DD, announced
}

// RequestSpec says how to request a service.
type RequestSpec struct {
	Instructions string `yaml:"instructions,omitempty" json:"instructions,omitempty"`
	// Form is a JSON Schema (draft 2020-12) for the request form.
	Form map[string]any `yaml:"form" json:"form"`
	// Priority is the priority a request gets ("normal" when empty); Priorities are the others
	// a requester may choose from (none by default: Priority applies). With SLA targets, every
	// priority here has a target, so no request runs without the clocks the service promises.
	Priority   string   `yaml:"priority,omitempty" json:"priority,omitempty"`
	Priorities []string `yaml:"priorities,omitempty" json:"priorities,omitempty"`
}

// DefaultPriority is the priority a request gets when the requester chooses none.
func (d Definition) DefaultPriority() string {
	if d.Request.Priority != "" {
		return d.Request.Priority
	}
	return "normal"
}

// OffersPriority reports whether a requester may choose priority p: the default, or one the
// definition offers.
func (d Definition) OffersPriority(p string) bool {
	return p == d.DefaultPriority() || slices.Contains(d.Request.Priorities, p)
}

// OfferedPriorities lists what a requester may choose, the default first.
func (d Definition) OfferedPriorities() []string {
	out := []string{d.DefaultPriority()}
	for _, p := range d.Request.Priorities {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Help says where a requester gets help with the service.
type Help struct {
	Group    string   `yaml:"group,omitempty" json:"group,omitempty"`
	Channels []string `yaml:"channels,omitempty" json:"channels,omitempty"`
	Hours    string   `yaml:"hours,omitempty" json:"hours,omitempty"`
}

// ApprovalPolicy is the ordered list of approval steps a request passes before fulfilment.
// An empty policy means the service needs no approval.
type ApprovalPolicy struct {
	// AutoApprove, a CEL condition over form, quantity, requester and quote, approves the
	// request without asking anyone when it holds (small amounts, say).
	AutoApprove string `yaml:"auto_approve,omitempty" json:"auto_approve,omitempty"`
	// AllowRepeatDeciders lets one person decide several steps of one request; by default
	// someone who decided a step is not asked again.
	AllowRepeatDeciders bool           `yaml:"allow_repeat_deciders,omitempty" json:"allow_repeat_deciders,omitempty"`
	Steps               []ApprovalStep `yaml:"steps,omitempty" json:"steps,omitempty"`
}

// Approval modes.
const (
	ModeAny     = "any"     // the first decision settles the step
	ModeAll     = "all"     // every approver must approve; one rejection rejects
	ModeQuorum  = "quorum"  // Quorum approvals approve; rejected once the quorum is out of reach
	ModePercent = "percent" // Percent of the approvers (rounded up) must approve
)

// Default outcomes of an expired step.
const (
	OutcomeApprove = "approve"
	OutcomeReject  = "reject"
	OutcomeCancel  = "cancel"
)

// ApprovalStep names who must agree, how many of them, and what happens when they do not answer.
type ApprovalStep struct {
	Name string `yaml:"name" json:"name"`
	// When, a CEL condition over form, quantity, requester and quote, makes the step apply
	// only when it holds (quote.total > 1000).
	When      string    `yaml:"when,omitempty" json:"when,omitempty"`
	Approvers Approvers `yaml:"approvers" json:"approvers"`
	Mode      string    `yaml:"mode,omitempty" json:"mode,omitempty"`
	Quorum    int       `yaml:"quorum,omitempty" json:"quorum,omitempty"`
	Percent   int       `yaml:"percent,omitempty" json:"percent,omitempty"`
	// RemindAfter sends the pending approvers a reminder.
	RemindAfter Duration `yaml:"remind_after,omitempty" json:"remind_after,omitempty"`
	// Escalate adds approvers when nobody has settled the step in time.
	Escalate *Escalation `yaml:"escalate,omitempty" json:"escalate,omitempty"`
	// RemindUrgent sends the reminder when it is due even outside the approvers' working
	// hours (and never into a digest); without it a reminder waits for the recipient's
	// department to open (docs/NOTIFICATIONS.md). Needs remind_after.
	RemindUrgent bool `yaml:"remind_urgent,omitempty" json:"remind_urgent,omitempty"`
	// Expire settles the step with a default outcome when it is still open.
	Expire *Expiry `yaml:"expire,omitempty" json:"expire,omitempty"`
}

// Escalation adds approvers After the step opened: the pending approvers' managers, or a group.
type Escalation struct {
	After Duration `yaml:"after" json:"after"`
	// To is "manager" (each pending approver's manager) or "group".
	To    string `yaml:"to" json:"to"`
	Group string `yaml:"group,omitempty" json:"group,omitempty"`
	// Urgent mails the people the escalation adds at once, outside their working hours too
	// (and never into a digest).
	Urgent bool `yaml:"urgent,omitempty" json:"urgent,omitempty"`
}

// Expiry settles a step still open After it opened.
type Expiry struct {
	After   Duration `yaml:"after" json:"after"`
	Outcome string   `yaml:"outcome" json:"outcome"` // approve, reject or cancel
}

// Approvers selects the people asked to decide a step. Every selector that is set contributes.
type Approvers struct {
	// Manager asks the requester's manager; Levels > 1 walks further up the chain.
	Manager bool `yaml:"manager,omitempty" json:"manager,omitempty"`
	Levels  int  `yaml:"levels,omitempty" json:"levels,omitempty"`
	// Group asks every member of a group.
	Group string `yaml:"group,omitempty" json:"group,omitempty"`
	// Role asks everyone with a role.
	Role string `yaml:"role,omitempty" json:"role,omitempty"`
	// People asks named people.
	People []string `yaml:"people,omitempty" json:"people,omitempty"`
	// Owner asks the service owner.
	Owner bool `yaml:"owner,omitempty" json:"owner,omitempty"`
	// DepartmentHead asks the head of the requester's department ("requester") or of the
	// department providing the service ("service").
	DepartmentHead string `yaml:"department_head,omitempty" json:"department_head,omitempty"`
}

// Empty reports whether no selector is set.
func (a Approvers) Empty() bool {
	return !a.Manager && a.Group == "" && a.Role == "" && len(a.People) == 0 && !a.Owner && a.DepartmentHead == ""
}

// Needs is how many approvals settle a step of this mode whose approvers name named people,
// counted before anyone is excluded (the requester, earlier deciders) and counting every
// manager level and department head the step asks for, even one the org chart does not have.
// It never shrinks to the people left who may decide: a quorum of 2 needs 2, and "all" of a
// two-level manager chain needs 2; when fewer may decide, the request workflow adds approvers
// (docs/ACCESS.md). Requests of revision 3 and later count with it, and so do the lifecycle's
// reviews of lifecycle-revision 2 and later.
func (s ApprovalStep) Needs(named int) int {
	switch s.Mode {
	case ModeAll:
		return max(named, 1)
	case ModeQuorum:
		return max(s.Quorum, 1)
	case ModePercent:
		return max(1, (named*s.Percent+99)/100)
	}
	return 1
}

// Required is how many approvals settled a step of this mode among the n approvers left who
// may decide, as requests before revision 3 and the lifecycle's reviews before
// lifecycle-revision 2 count: it shrinks with n (a quorum becomes min(quorum, n)). New requests
// and reviews count with Needs.
func (s ApprovalStep) Required(n int) int {
	switch s.Mode {
	case ModeAll:
		return n
	case ModeQuorum:
		return min(s.Quorum, n)
	case ModePercent:
		return max(1, (n*s.Percent+99)/100)
	}
	return 1
}

// Fulfilment is the plan of tasks that deliver the service: a graph in which every task whose
// needs are done starts, in parallel with the others.
type Fulfilment struct {
	Tasks []TaskSpec `yaml:"tasks" json:"tasks"`
}

// Task kinds.
const (
	TaskManual    = "manual"    // a fulfiller group does it
	TaskAutomated = "automated" // an HTTP call does it
)

// On a task's failure.
const (
	OnFailureFail     = "fail"     // the request fails; what was done stays done
	OnFailureRollback = "rollback" // the completed automated tasks are compensated, newest first
)

// TaskSpec is one unit of fulfilment.
type TaskSpec struct {
	ID    string   `yaml:"id" json:"id"`
	Name  string   `yaml:"name" json:"name"`
	Group string   `yaml:"group" json:"group"`
	Kind  string   `yaml:"kind,omitempty" json:"kind,omitempty"`
	Needs []string `yaml:"needs,omitempty" json:"needs,omitempty"`
	// When, a CEL condition over form, quantity, requester and quote, makes the task apply
	// only when it holds; a task that does not apply counts as done for those who need it.
	When string `yaml:"when,omitempty" json:"when,omitempty"`
	// Target is how long the task should take.
	Target Duration `yaml:"target,omitempty" json:"target,omitempty"`
	// Outputs is a JSON Schema for what the fulfiller records on completion (manual tasks).
	Outputs map[string]any `yaml:"outputs,omitempty" json:"outputs,omitempty"`
	// HTTP is the call an automated task makes; its JSON answer becomes the task's outputs. A
	// top-level "files" list of {name, kind, content_base64} in the answer (requests of revision
	// 4 on) is stored as the request's attachments, outputs of this task: each file at most 10
	// MiB and the service's max_bytes, its kind among the attachments block's kinds (any kind
	// without a block), its type sniffed from the bytes and among the block's types (PDF, JPEG,
	// PNG without one); the outputs then hold [{id, name, kind, content_type, size, sha256}]
	// instead of the bytes (activities.Fulfilment). A file refused fails the call for good.
	HTTP *HTTPCall `yaml:"http,omitempty" json:"http,omitempty"`
	// Compensate undoes a completed automated task when the request is cancelled or rolled back.
	Compensate *HTTPCall `yaml:"compensate,omitempty" json:"compensate,omitempty"`
	// Fallback "manual" turns a failed automation into a manual task for the group.
	Fallback  string `yaml:"fallback,omitempty" json:"fallback,omitempty"`
	OnFailure string `yaml:"on_failure,omitempty" json:"on_failure,omitempty"`
}

// HTTPCall describes a call. String values in URL, headers and body may hold {{path}}
// placeholders: request.id, request.number, requester.id, requester.email, service.key, form.X,
// quantity, tasks.ID.outputs.X. A body value that is exactly one placeholder keeps its type.
type HTTPCall struct {
	Method  string            `yaml:"method" json:"method"`
	URL     string            `yaml:"url" json:"url"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body    map[string]any    `yaml:"body,omitempty" json:"body,omitempty"`
}

// Hash is the content hash of a definition: two definitions with equal hashes are the same
// version. It hashes the canonical JSON encoding (map keys sorted by encoding/json).
func (d Definition) Hash() string {
	b, err := json.Marshal(d)
	if err != nil {
		// A Definition is plain data decoded from JSON or YAML; it always marshals.
		panic("catalog: marshal definition: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Customer returns the customer-facing parts of the definition, without internal processes.
func (d Definition) Customer() CustomerView {
	v := CustomerView{
		Key: d.Key, Name: d.Name, Department: d.Department, Category: d.Category,
		Summary: d.Summary, Description: d.Description, Tags: d.Tags,
		Limits: d.Limits, Cost: d.Cost, Request: d.Request, Help: d.Help, Attachments: d.Attachments,
	}
	if v.Limits.MaxQuantity == 0 {
		v.Limits.MaxQuantity = 1
	}
	if v.Cost.Recurrence == "" {
		v.Cost.Recurrence = OneOff
	}
	if d.Eligibility != nil {
		v.Eligibility = d.Eligibility.Message
	}
	return v
}

// CustomerView is what a requester sees of a service: what it is, who may request it, its
// limitations and cost, how to request it and how to get help.
type CustomerView struct {
	Key         string      `json:"key"`
	Name        string      `json:"name"`
	Department  string      `json:"department"`
	Category    string      `json:"category,omitempty"`
	Summary     string      `json:"summary,omitempty"`
	Description string      `json:"description,omitempty"`
	Tags        []string    `json:"tags,omitempty"`
	Eligibility string      `json:"eligibility,omitempty"`
	Limits      Limits      `json:"limits"`
	Cost        Cost        `json:"cost"`
	Request     RequestSpec `json:"request"`
	Help        Help        `json:"help"`
	// Attachments: the files a request takes (nil: none), so that a form can offer them.
	Attachments *Attachments `json:"attachments,omitempty"`
}

// Processes are a definition's internal processes.
type Processes struct {
	Owner       string            `json:"owner"`
	Eligibility *Eligibility      `json:"eligibility,omitempty"`
	Approval    ApprovalPolicy    `json:"approval"`
	Fulfilment  Fulfilment        `json:"fulfilment"`
	SLA         SLAPolicy         `json:"sla"`
	Governance  *ApprovalStep     `json:"governance,omitempty"`
	Review      *ReviewPolicy     `json:"review,omitempty"`
	Retirement  *RetirementPolicy `json:"retirement,omitempty"`
}

// Processes returns the internal processes of the definition.
func (d Definition) Processes() Processes {
	return Processes{Owner: d.Owner, Eligibility: d.Eligibility, Approval: d.Approval, Fulfilment: d.Fulfilment, SLA: d.SLA,
		Governance: d.Governance, Review: d.Review, Retirement: d.Retirement}
}
