package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/jmoiron/sqlx"
)

// Submission is a reserved request number for one (requester, Idempotency-Key).
type Submission struct {
	Number      int64     `db:"number"`
	RequesterID string    `db:"requester_id"`
	Key         string    `db:"idempotency_key"`
	Fingerprint string    `db:"fingerprint"`
	ServiceKey  string    `db:"service_key"`
	CreatedAt   time.Time `db:"created_at"`
}

// submissionByKey reads the submission of (requester, Idempotency-Key).
const submissionByKey = `SELECT number, requester_id, idempotency_key, fingerprint, service_key, created_at
	FROM submissions WHERE requester_id = ? AND idempotency_key = ?`

// Reservation asks for a request number, within a service's limits.
type Reservation struct {
	Requester   string
	Key         string
	Fingerprint string
	Service     string
	Now         time.Time
	// MaxOpen > 0 limits the requester's open requests of the service.
	MaxOpen int
	// PerPeriodMax > 0 limits the requester's requests of the service in a rolling Period.
	PerPeriodMax int
	Period       time.Duration
}

// LimitError says which limit a reservation hit, and when it resets (zero if it resets when an
// open request closes).
type LimitError struct {
	Limit    string
	Detail   string
	ResetsAt time.Time
	// Open lists the requester's open requests that count against max_open.
	Open []string
}

func (e *LimitError) Error() string { return e.Limit + ": " + e.Detail }

// orphanGrace is how long a reserved number whose workflow has not (yet) written the read model
// counts against limits: long enough to cover a submission in flight, short enough that a
// submission abandoned before its workflow started does not block the requester for long.
const orphanGrace = 10 * time.Minute

// ReserveSubmission reserves without limits; see Reserve.
func (s *Store) ReserveSubmission(ctx context.Context, requester, key, fingerprint string, now time.Time) (Submission, bool, error) {
	return s.Reserve(ctx, Reservation{Requester: requester, Key: key, Fingerprint: fingerprint, Now: now})
}

// Reserve returns the submission for (requester, key), creating it with the next request number
// when there is none; created says which. Creating checks the limits first, in the same
// transaction, serialized per requester, so two concurrent submissions cannot both slip under a
// limit. Two racing callers with the same key get the same row.
func (s *Store) Reserve(ctx context.Context, r Reservation) (sub Submission, created bool, err error) {
	now := r.Now.UTC()
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		if s.postgres {
			// SQLite transactions here are IMMEDIATE, so writers are already serialized.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "submit:"+r.Requester); err != nil {
				return fmt.Errorf("lock requester: %w", err)
			}
		}
		err := tx.GetContext(ctx, &sub, tx.Rebind(submissionByKey), r.Requester, r.Key)
		if err == nil {
			return nil
		}
		if notFound(err) != ErrNotFound {
			return fmt.Errorf("read submission: %w", err)
		}
		if err := s.checkLimits(ctx, tx, r, now); err != nil {
			return err
		}
		var number int64
		err = tx.GetContext(ctx, &number, tx.Rebind(`INSERT INTO submissions (requester_id, idempotency_key, fingerprint, service_key, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (requester_id, idempotency_key) DO NOTHING RETURNING number`),
			r.Requester, r.Key, r.Fingerprint, r.Service, now)
		switch notFound(err) {
		case nil:
			created = true
		case ErrNotFound: // another transaction inserted the key first
		default:
			return fmt.Errorf("reserve submission: %w", err)
		}
		err = tx.GetContext(ctx, &sub, tx.Rebind(submissionByKey), r.Requester, r.Key)
		if err != nil {
			return fmt.Errorf("read submission: %w", err)
		}
		return nil
	})
	return sub, created, err
}

// Submission returns the submission of (requester, key), or ErrNotFound.
func (s *Store) Submission(ctx context.Context, requester, key string) (Submission, error) {
	var sub Submission
	err := s.DB.GetContext(ctx, &sub, s.DB.Rebind(submissionByKey), requester, key)
	return sub, notFound(err)
}

// counted is a submission that counts against a limit.
type counted struct {
	Number    int64     `db:"number"`
	CreatedAt time.Time `db:"created_at"`
}

func (s *Store) checkLimits(ctx context.Context, tx *sqlx.Tx, r Reservation, now time.Time) error {
	if r.Service == "" || (r.MaxOpen <= 0 && r.PerPeriodMax <= 0) {
		return nil
	}
	orphanSince := now.Add(-orphanGrace)
	if r.MaxOpen > 0 {
		var open []counted
		q, args, err := sqlx.In(`SELECT s.number, s.created_at FROM submissions s LEFT JOIN requests q ON q.number = s.number
			WHERE s.requester_id = ? AND s.service_key = ?
			  AND ((q.status IS NULL AND s.created_at > ?) OR q.status IN (?))
			ORDER BY s.number`, r.Requester, r.Service, orphanSince, catalog.OpenStatuses)
		if err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &open, tx.Rebind(q), args...); err != nil {
			return fmt.Errorf("count open requests: %w", err)
		}
		if len(open) >= r.MaxOpen {
			ids := make([]string, len(open))
			for i, o := range open {
				ids[i] = catalog.RequestID(o.Number)
			}
			return &LimitError{Limit: "max_open", Open: ids,
				Detail: fmt.Sprintf("you may have %d open request(s) of this service at once and have %d (%v); the limit frees up when one of them closes", r.MaxOpen, len(open), ids)}
		}
	}
	if r.PerPeriodMax > 0 && r.Period > 0 {
		var recent []counted
		q, args, err := sqlx.In(`SELECT s.number, s.created_at FROM submissions s LEFT JOIN requests q ON q.number = s.number
			WHERE s.requester_id = ? AND s.service_key = ? AND s.created_at > ?
			  AND ((q.status IS NULL AND s.created_at > ?) OR q.status NOT IN (?))
			ORDER BY s.created_at`, r.Requester, r.Service, now.Add(-r.Period), orphanSince, refusedStatuses)
		if err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &recent, tx.Rebind(q), args...); err != nil {
			return fmt.Errorf("count recent requests: %w", err)
		}
		if len(recent) >= r.PerPeriodMax {
			resets := recent[len(recent)-r.PerPeriodMax].CreatedAt.Add(r.Period).UTC()
			return &LimitError{Limit: "per_period", ResetsAt: resets,
				Detail: fmt.Sprintf("you may make %d request(s) of this service per %s and have made %d; the next is possible from %s",
					r.PerPeriodMax, catalog.Duration(r.Period), len(recent), resets.Format(time.RFC3339))}
		}
	}
	return nil
}

var refusedStatuses = []string{catalog.StatusRejected, catalog.StatusCancelled, catalog.StatusFailed}

// Projected is what writing a request's state found.
type Projected struct {
	// Wrote says the state was newer than the stored one and was written.
	Wrote bool
	// ServiceRetiring says the state is a closed request's and its service is retiring: its
	// lifecycle is waiting to hear that the request closed.
	ServiceRetiring bool
	// ServiceStage is the service's stage as the transaction read it, for an opening or closed
	// state ("" otherwise).
	ServiceStage string
}

// ProjectRequest writes a request's state into the read model in one transaction, unless the
// stored state is as new or newer: states are ordered by (UpdatedAt, Seq), the instant of the
// state's last transition first. Along one workflow's history both only grow, so a retry or an
// older state arriving late writes nothing. A state projected by a workflow task that was never
// committed (its worker killed, the task timed out: the projection is a local activity, written
// before the task completes) is not in the history; the task that runs again instead has a later
// instant, so its first state replaces the lost one even at the same or a lower Seq, and the
// lost one's late writes are refused: the read model shows what the workflow's validators judge
// by. Events are appended by (request, seq), so replaying the same state writes nothing twice;
// the audit trail is append only, so a lost task's events stay in it (the state's timeline,
// which GET answers, is the committed one's).
//
// For a closed request it also reads, in the same transaction, whether the service is retiring.
// A lifecycle that starts retiring first records the stage and then lists the requests still
// open, so a request it lists sees the stage here: on Postgres the read shares-locks the
// service's row, so the stage cannot change between this read and the commit; on SQLite the
// write before it holds the database's write lock.
func (s *Store) ProjectRequest(ctx context.Context, r catalog.RequestState) (Projected, error) {
	return s.projectRequest(ctx, r, false)
}

// ProjectOpening writes a request's first state as ProjectRequest does, and reads its service's
// stage in the same transaction (share-locking the row on Postgres), so that a request written
// while its service retires knows it: a retiring service's lifecycle finds it before it retires
// (Retire), and a request that finds its service retired already cancels itself.
func (s *Store) ProjectOpening(ctx context.Context, r catalog.RequestState) (Projected, error) {
	return s.projectRequest(ctx, r, true)
}

func (s *Store) projectRequest(ctx context.Context, r catalog.RequestState, opening bool) (Projected, error) {
	var out Projected
	r = r.UTC()       // the stored state is answered as it is: every instant in UTC
	r.SetActionable() // which tasks the validators accept (on a copy: UTC clones the tasks)
	doc, err := json.Marshal(r)
	if err != nil {
		return out, err
	}
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO requests (id, number, seq, service_key, service_version, department,
				requester_id, title, status, stage, priority, submitted_at, updated_at, closed_at, state, due_at, breached, escalation_level, sla_outcome, updated_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, status = excluded.status, stage = excluded.stage,
				priority = excluded.priority, updated_at = excluded.updated_at, closed_at = excluded.closed_at, state = excluded.state,
				due_at = excluded.due_at, breached = excluded.breached, escalation_level = excluded.escalation_level,
				sla_outcome = excluded.sla_outcome, updated_us = excluded.updated_us
			WHERE (requests.updated_us > 0 AND requests.updated_us < excluded.updated_us)
				OR ((requests.updated_us = excluded.updated_us OR requests.updated_us = 0) AND requests.seq < excluded.seq)`),
			r.ID, r.Number, r.Seq, r.Service.Key, r.Service.Version, r.Service.Department, r.Requester.ID, r.Title(),
			r.Status, r.Stage, r.Priority, r.SubmittedAt.UTC(), r.UpdatedAt.UTC(), utcPtr(r.ClosedAt), string(doc),
			utcPtr(r.DueAt), r.Breached, r.EscalationLevel, nullString(SLAOutcome(r)), r.UpdatedAt.UnixMicro())
		if err != nil {
			return fmt.Errorf("upsert request %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n > 0 { // else a newer state is already there
			out.Wrote = true
			if err := writeDerived(ctx, tx, r); err != nil {
				return err
			}
		}
		if r.ClosedAt == nil && !opening {
			return nil
		}
		var stage string
		lock := ""
		if s.postgres {
			lock = " FOR SHARE"
		}
		if err := tx.GetContext(ctx, &stage, tx.Rebind(`SELECT stage FROM services WHERE key = ?`+lock), r.Service.Key); err != nil && notFound(err) != ErrNotFound {
			return fmt.Errorf("stage of %s: %w", r.Service.Key, err)
		}
		out.ServiceRetiring = stage == catalog.StageRetiring && r.ClosedAt != nil
		out.ServiceStage = stage
		return nil
	})
	return out, err
}

// writeDerived appends a newly written state's events and replaces its derived rows, a
// statement a table (each a round trip on Postgres).
func writeDerived(ctx context.Context, tx *sqlx.Tx, r catalog.RequestState) error {
	events := make([][]any, 0, len(r.Timeline))
	for _, e := range r.Timeline {
		events = append(events, []any{r.ID, e.Seq, e.At.UTC(), e.Type, e.Actor, e.Detail})
	}
	if err := insertRows(ctx, tx, "request_events (request_id, seq, at, type, actor, detail)", events, " ON CONFLICT (request_id, seq) DO NOTHING"); err != nil {
		return fmt.Errorf("append events of %s: %w", r.ID, err)
	}
	// Pending approvals and open tasks are derived rows: replace them with the new state's.
	var tasks [][]any
	for _, t := range r.Tasks {
		since := r.SubmittedAt
		if t.OpenedAt != nil {
			since = *t.OpenedAt
		}
		tasks = append(tasks, []any{r.ID, t.ID, t.Name, t.Group, t.State, t.Assignee, since.UTC(), t.Actionable})
	}
	for _, d := range []struct {
		table, columns string
		rows           [][]any
	}{
		{"request_approvers", approverColumns, approverRows(r)},
		{"request_tasks", "request_id, task_id, name, group_key, state, assignee, since, actionable", tasks},
		{"request_barred", barredColumns, barredRows(r)},
	} {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM `+d.table+` WHERE request_id = ?`), r.ID); err != nil {
			return fmt.Errorf("%s of %s: %w", d.table, r.ID, err)
		}
		if err := insertRows(ctx, tx, d.table+" ("+d.columns+")", d.rows, ""); err != nil {
			return fmt.Errorf("%s of %s: %w", d.table, r.ID, err)
		}
	}
	return nil
}

const approverColumns = "request_id, step, person_id, step_name, status, since, due_at, due"

// approverRows are the request_approvers rows of a state: one per approver of each step, with
// the step's next deadline that has not fired and which it is.
func approverRows(r catalog.RequestState) [][]any {
	var rows [][]any
	for _, a := range r.Approvals {
		due, what := a.NextDeadline()
		for _, p := range a.Approvers {
			status := a.Status
			if p.Decision != "" {
				status = p.Decision
			}
			rows = append(rows, []any{r.ID, a.Step, p.ID, a.Name, status, a.OpenedAt.UTC(), utcPtr(due), what})
		}
	}
	return rows
}

const barredColumns = "request_id, person_id, on_behalf"

// barredRows are the request_barred rows of a state: one per person who may not decide its
// open step (Barred), on_behalf when nobody may decide it for them either (BarredOnBehalf).
func barredRows(r catalog.RequestState) [][]any {
	rows := make([][]any, 0, len(r.Barred))
	for _, id := range r.Barred {
		rows = append(rows, []any{r.ID, id, slices.Contains(r.BarredOnBehalf, id)})
	}
	return rows
}

// rederiveBarred writes the request_barred rows of every request waiting on approval from its
// stored state and the policy of the definition version it is pinned to (the states a revision 4
// workflow projects them), after the migration that added them. A state that already carries
// its own Barred (projected by a workflow meanwhile) is written as it is.
func (s *Store) rederiveBarred(ctx context.Context) error {
	q, args, err := sqlx.In(`SELECT id FROM requests WHERE closed_at IS NULL AND status IN (?) ORDER BY number`,
		[]string{catalog.StatusPendingApproval, catalog.StatusWaitingOnRequester})
	if err != nil {
		return err
	}
	return s.eachStoredState(ctx, "barred", s.DB.Rebind(q), args, func(tx *sqlx.Tx, r catalog.RequestState) error {
		if r.Barred == nil {
			// The pinned version's policy; without it (never so), the default: no repeats.
			var def string
			var d catalog.Definition
			err := tx.GetContext(ctx, &def, tx.Rebind(`SELECT definition FROM service_versions WHERE service_key = ? AND version = ?`), r.Service.Key, r.Service.Version)
			if err != nil && notFound(err) != ErrNotFound {
				return fmt.Errorf("definition %s v%d: %w", r.Service.Key, r.Service.Version, err)
			}
			if err == nil {
				if err := json.Unmarshal([]byte(def), &d); err != nil {
					return fmt.Errorf("decode definition %s v%d: %w", r.Service.Key, r.Service.Version, err)
				}
			}
			r.SetBarred(d.Approval.AllowRepeatDeciders)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM request_barred WHERE request_id = ?`), r.ID); err != nil {
			return err
		}
		return insertRows(ctx, tx, "request_barred ("+barredColumns+")", barredRows(r), "")
	})
}

// rederiveApprovers writes the request_approvers rows of every open request again from its
// stored state, after a migration that changed what they hold.
func (s *Store) rederiveApprovers(ctx context.Context) error {
	return s.eachStoredState(ctx, "approvers", `SELECT id FROM requests WHERE closed_at IS NULL ORDER BY number`, nil,
		func(tx *sqlx.Tx, r catalog.RequestState) error {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM request_approvers WHERE request_id = ?`), r.ID); err != nil {
				return err
			}
			return insertRows(ctx, tx, "request_approvers ("+approverColumns+")", approverRows(r), "")
		})
}

// eachStoredState runs fn on the stored state of every request the query (ids, already
// rebound) lists, after a migration that derives rows from the states. Each request is read and
// written in one transaction, its row locked on Postgres, so a projection running meanwhile is
// never overwritten with an older state's rows. what names the rows in errors.
func (s *Store) eachStoredState(ctx context.Context, what, query string, args []any, fn func(tx *sqlx.Tx, r catalog.RequestState) error) error {
	var ids []string
	if err := s.DB.SelectContext(ctx, &ids, query, args...); err != nil {
		return fmt.Errorf("requests to derive %s of: %w", what, err)
	}
	lock := ""
	if s.postgres {
		lock = " FOR UPDATE"
	}
	for _, id := range ids {
		err := s.tx(ctx, func(tx *sqlx.Tx) error {
			var doc string
			if err := tx.GetContext(ctx, &doc, tx.Rebind(`SELECT state FROM requests WHERE id = ?`+lock), id); err != nil {
				return err
			}
			var r catalog.RequestState
			if err := json.Unmarshal([]byte(doc), &r); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
			return fn(tx, r)
		})
		if err != nil {
			return fmt.Errorf("%s of %s: %w", what, id, err)
		}
	}
	return nil
}

// insertRows inserts rows into into ("table (columns)") with one statement for up to
// rowsPerInsert rows, each statement ending in suffix.
func insertRows(ctx context.Context, tx *sqlx.Tx, into string, rows [][]any, suffix string) error {
	for len(rows) > 0 {
		n := min(len(rows), rowsPerInsert)
		var q strings.Builder
		q.WriteString("INSERT INTO " + into + " VALUES ")
		var args []any
		for i, row := range rows[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + strings.TrimSuffix(strings.Repeat("?, ", len(row)), ", ") + ")")
			args = append(args, row...)
		}
		q.WriteString(suffix)
		if _, err := tx.ExecContext(ctx, tx.Rebind(q.String()), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// rowsPerInsert keeps a statement's parameters far under both databases' limits.
const rowsPerInsert = 500

func utcPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// RequestRow is one request as the read model lists it.
type RequestRow struct {
	ID             string     `db:"id" json:"id"`
	Number         int64      `db:"number" json:"-"`
	Seq            int64      `db:"seq" json:"-"`
	ServiceKey     string     `db:"service_key" json:"service"`
	ServiceVersion int        `db:"service_version" json:"version"`
	Department     string     `db:"department" json:"department"`
	RequesterID    string     `db:"requester_id" json:"requester"`
	Title          string     `db:"title" json:"title"`
	Status         string     `db:"status" json:"status"`
	Stage          string     `db:"stage" json:"stage"`
	Priority       string     `db:"priority" json:"priority"`
	SubmittedAt    time.Time  `db:"submitted_at" json:"submitted_at"`
	UpdatedAt      time.Time  `db:"updated_at" json:"updated_at"`
	ClosedAt       *time.Time `db:"closed_at" json:"closed_at,omitempty"`
	DueAt          *time.Time `db:"due_at" json:"due_at,omitempty"`
	Breached       bool       `db:"breached" json:"breached"`
	Escalation     int        `db:"escalation_level" json:"escalation_level"`
}

const requestCols = `r.id, r.number, r.seq, r.service_key, r.service_version, r.department, r.requester_id, r.title,
	r.status, r.stage, r.priority, r.submitted_at, r.updated_at, r.closed_at, r.due_at, r.breached, r.escalation_level`

// Request returns the stored state of a request, or ErrNotFound.
func (s *Store) Request(ctx context.Context, id string) (catalog.RequestState, error) {
	var doc string
	if err := s.DB.GetContext(ctx, &doc, s.DB.Rebind(`SELECT state FROM requests WHERE id = ?`), id); err != nil {
		return catalog.RequestState{}, notFound(err)
	}
	var r catalog.RequestState
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return r, fmt.Errorf("decode request %s: %w", id, err)
	}
	r.SetActionable() // states stored before Actionable existed carry it too
	return r, nil
}

// RequestFilter narrows ListRequests.
type RequestFilter struct {
	Requester string
	Status    string
	Service   string
	// Breached keeps only requests that missed their resolution target and are still open.
	Breached bool
	// Open keeps only the requests that have not closed.
	Open bool
	// Words keeps the requests whose id, title or service key holds every word, ignoring case
	// (each a substring; at most a few, the caller bounds them).
	Words []string
	// Before is a cursor: only requests with a smaller number. 0 means from the newest.
	Before int64
	Limit  int
}

// likeEscaper escapes what LIKE reads as a wildcard (the queries say ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListRequests returns requests newest first.
func (s *Store) ListRequests(ctx context.Context, f RequestFilter) ([]RequestRow, error) {
	q := `SELECT ` + requestCols + ` FROM requests r WHERE 1 = 1`
	var args []any
	if f.Requester != "" {
		q += ` AND r.requester_id = ?`
		args = append(args, f.Requester)
	}
	if f.Status != "" {
		q += ` AND r.status = ?`
		args = append(args, f.Status)
	}
	if f.Service != "" {
		q += ` AND r.service_key = ?`
		args = append(args, f.Service)
	}
	if f.Breached {
		q += ` AND r.breached AND r.closed_at IS NULL`
	}
	if f.Open {
		q += ` AND r.closed_at IS NULL`
	}
	for _, w := range f.Words {
		q += ` AND (LOWER(r.id) LIKE ? ESCAPE '\' OR LOWER(r.title) LIKE ? ESCAPE '\' OR LOWER(r.service_key) LIKE ? ESCAPE '\')`
		like := "%" + likeEscaper.Replace(strings.ToLower(w)) + "%"
		args = append(args, like, like, like)
	}
	if f.Before > 0 {
		q += ` AND r.number < ?`
		args = append(args, f.Before)
	}
	q += ` ORDER BY r.number DESC LIMIT ?`
	args = append(args, f.Limit)
	rows := []RequestRow{}
	if err := s.DB.SelectContext(ctx, &rows, s.DB.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return rows, nil
}

// PendingApproval is one approval waiting for one person.
type PendingApproval struct {
	RequestID string    `db:"request_id" json:"request"`
	Step      int       `db:"step" json:"step"`
	StepName  string    `db:"step_name" json:"step_name"`
	Since     time.Time `db:"since" json:"since"`
	// DueAt is the step's next deadline that has not fired yet, and Due which it is: a
	// reminder, an escalation or the expiry.
	DueAt *time.Time `db:"due_at" json:"due_at,omitempty"`
	Due   string     `db:"due" json:"due,omitempty"`
	// Approver is whose approval it is; OnBehalfOf is set when that is not the caller (the
	// caller is their delegate).
	Approver    string `db:"person_id" json:"approver"`
	OnBehalfOf  string `db:"-" json:"on_behalf_of,omitempty"`
	Title       string `db:"title" json:"title"`
	ServiceKey  string `db:"service_key" json:"service"`
	RequesterID string `db:"requester_id" json:"requester"`
	Priority    string `db:"priority" json:"priority"`
	// Status is the request's: pending_approval, or waiting_on_requester while an approver's
	// question is unanswered (approve and reject are still accepted).
	Status string `db:"status" json:"status"`
}

// InboxFilter says whose approvals PendingApprovals lists, and which page.
type InboxFilter struct {
	// Caller is who asks: a request they made is never in their inbox, not even as a
	// delegate of its approver.
	Caller string
	// People are the approvers listed: the caller and whoever delegated to them now.
	People []string
	// Cursor is the next cursor of the previous page ("" for the first page).
	Cursor string
	Limit  int
}

// ErrBadCursor is a cursor no page gave.
var ErrBadCursor = errors.New("not a cursor from a previous page")

// A cursor is the position of a page's last item in its list's order: the list's letter, the
// item's since (RFC 3339 in UTC) and its two keys, joined by "|" and base64url-encoded. Keyset
// pages are stable while work arrives: a new item sorts after every item already listed (its
// since is later), and an item that leaves the list moves no other.
type cursor struct {
	since   time.Time
	request string
	key     string
}

// maxCursor bounds what is decoded.
const maxCursor = 512

func encodeCursor(list string, since time.Time, request, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + "|" + since.UTC().Format(time.RFC3339Nano) + "|" + request + "|" + key))
}

// decodeCursor reads a cursor of list; "" is the first page (nil).
func decodeCursor(list, s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxCursor {
		return nil, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadCursor
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 4 || parts[0] != list || parts[3] == "" {
		return nil, ErrBadCursor
	}
	since, err := time.Parse(time.RFC3339Nano, parts[1])
	if _, ok := catalog.ParseRequestID(parts[2]); err != nil || !ok {
		return nil, ErrBadCursor
	}
	return &cursor{since: since.UTC(), request: parts[2], key: parts[3]}, nil
}

// PendingApprovals returns a page of the approvals waiting on any of f.People, oldest first,
// and the cursor of the next page ("" when this is the last).
func (s *Store) PendingApprovals(ctx context.Context, f InboxFilter) ([]PendingApproval, string, error) {
	f.Limit = max(f.Limit, 1)
	out := []PendingApproval{}
	after, err := decodeCursor("a", f.Cursor)
	if err != nil || len(f.People) == 0 {
		return out, "", err
	}
	// The literal status lets both databases use the partial index of pending approvals. Nobody
	// is shown a request they made, nor one whose approver is its requester, nor a step the
	// decision validator would refuse them: they may not decide it (request_barred), or not
	// for the approver they would act for (on_behalf). A step stays listed while its request
	// waits on the requester's answer to an approver (catalog.RequestState.OpenStep): the
	// validator still accepts approve and reject then, and status says it waits.
	q := `SELECT a.request_id, a.step, a.step_name, a.since, a.due_at, a.due, a.person_id, r.title, r.service_key, r.requester_id, r.priority, r.status
		FROM request_approvers a JOIN requests r ON r.id = a.request_id
		WHERE a.person_id IN (?) AND a.status = 'pending' AND r.status IN (?) AND r.requester_id <> ? AND a.person_id <> r.requester_id
		  AND NOT EXISTS (SELECT 1 FROM request_barred b WHERE b.request_id = a.request_id
			AND (b.person_id = ? OR (b.person_id = a.person_id AND b.on_behalf)))`
	args := []any{f.People, []string{catalog.StatusPendingApproval, catalog.StatusWaitingOnRequester}, f.Caller, f.Caller}
	if after != nil {
		q += ` AND (a.since, a.request_id, a.person_id) > (?, ?, ?)`
		args = append(args, after.since, after.request, after.key)
	}
	q += ` ORDER BY a.since, a.request_id, a.person_id LIMIT ?`
	args = append(args, f.Limit+1)
	q, args, err = sqlx.In(q, args...)
	if err != nil {
		return nil, "", err
	}
	if err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(q), args...); err != nil {
		return nil, "", fmt.Errorf("pending approvals: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = encodeCursor("a", last.Since, last.RequestID, last.Approver)
	}
	return out, next, nil
}

// QueuedTask is one task in a fulfiller group's queue.
type QueuedTask struct {
	// ID is the task's id in the API: REQ-000042.prepare.
	ID          string    `db:"-" json:"id"`
	RequestID   string    `db:"request_id" json:"request"`
	TaskID      string    `db:"task_id" json:"task"`
	Name        string    `db:"name" json:"name"`
	Group       string    `db:"group_key" json:"group"`
	State       string    `db:"state" json:"state"`
	Assignee    string    `db:"assignee" json:"assignee,omitempty"`
	Since       time.Time `db:"since" json:"since"`
	Title       string    `db:"title" json:"title"`
	ServiceKey  string    `db:"service_key" json:"service"`
	RequesterID string    `db:"requester_id" json:"requester"`
	Priority    string    `db:"priority" json:"priority"`
}

// QueueFilter says which tasks TaskQueue lists, and which page.
type QueueFilter struct {
	Groups []string
	States []string
	// Caller, when set, never sees a task of a request they made: nobody fulfils their own
	// request (catalog.RequestState.TaskRefusal, the task validators' rule).
	Caller string
	// Assignee, when set, keeps the tasks claimed by (or, done, completed by) this person;
	// Unassigned keeps those nobody holds (open ones, and those closed without anyone).
	Assignee   string
	Unassigned bool
	// Cursor is the next cursor of the previous page ("" for the first page).
	Cursor string
	Limit  int
}

// TaskQueue returns a page of the tasks of f.Groups in f.States, oldest first, and the cursor of
// the next page ("" when this is the last).
func (s *Store) TaskQueue(ctx context.Context, f QueueFilter) ([]QueuedTask, string, error) {
	f.Limit = max(f.Limit, 1)
	out := []QueuedTask{}
	after, err := decodeCursor("t", f.Cursor)
	if err != nil || len(f.Groups) == 0 || len(f.States) == 0 {
		return out, "", err
	}
	// Open work, the usual question, is asked with the partial index's own literal condition, so
	// both databases use it; other states (done) are read through the full index.
	open := ""
	if !slices.ContainsFunc(f.States, func(s string) bool { return s != catalog.TaskOpen && s != catalog.TaskClaimed }) {
		open = ` AND t.state IN ('open', 'claimed')`
	}
	// An open or claimed task is listed only when the task validators accept an action on it
	// (actionable: catalog.RequestState.TaskRefusal finds nothing), so that claiming what the
	// queue lists never answers 409; while the request waits on the requester, its tasks leave
	// the queue and come back with the answer.
	open += ` AND (t.actionable OR t.state NOT IN ('open', 'claimed'))`
	q := `SELECT t.request_id, t.task_id, t.name, t.group_key, t.state, t.assignee, t.since,
			r.title, r.service_key, r.requester_id, r.priority
		FROM request_tasks t JOIN requests r ON r.id = t.request_id
		WHERE t.group_key IN (?) AND t.state IN (?)` + open
	args := []any{f.Groups, f.States}
	if f.Caller != "" {
		q += ` AND r.requester_id <> ?`
		args = append(args, f.Caller)
	}
	if f.Assignee != "" {
		q += ` AND t.assignee = ?`
		args = append(args, f.Assignee)
	}
	if f.Unassigned {
		q += ` AND t.assignee = ''`
	}
	if after != nil {
		q += ` AND (t.since, t.request_id, t.task_id) > (?, ?, ?)`
		args = append(args, after.since, after.request, after.key)
	}
	q += ` ORDER BY t.since, t.request_id, t.task_id LIMIT ?`
	args = append(args, f.Limit+1)
	q, args, err = sqlx.In(q, args...)
	if err != nil {
		return nil, "", err
	}
	if err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(q), args...); err != nil {
		return nil, "", fmt.Errorf("task queue: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = encodeCursor("t", last.Since, last.RequestID, last.TaskID)
	}
	for i := range out {
		out[i].ID = catalog.TaskRef(out[i].RequestID, out[i].TaskID)
	}
	return out, next, nil
}

// Events returns a request's audit trail in order.
func (s *Store) Events(ctx context.Context, requestID string) ([]catalog.Event, error) {
	out := []catalog.Event{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT seq, at, type, actor, detail FROM request_events
		WHERE request_id = ? ORDER BY seq`), requestID)
	if err != nil {
		return nil, fmt.Errorf("events %s: %w", requestID, err)
	}
	return out, nil
}

// EventsBefore returns a request's audit events with a seq below before, in order: those a
// state of revision 4 no longer holds in its timeline.
func (s *Store) EventsBefore(ctx context.Context, requestID string, before int) ([]catalog.Event, error) {
	out := []catalog.Event{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT seq, at, type, actor, detail FROM request_events
		WHERE request_id = ? AND seq < ? ORDER BY seq`), requestID, before)
	if err != nil {
		return nil, fmt.Errorf("events %s: %w", requestID, err)
	}
	return out, nil
}

// Attainment is SLA attainment of one service over a period: of the requests closed in it whose
// clocks ran (store.SLAOutcome), how many met their resolution target. Closed counts them all;
// Met + Breached are the ones with a verdict, and Percent is Met of those; Excluded (rejected
// or cancelled before breaching) have none; Percent is null when no request has one.
type Attainment struct {
	Service    string   `db:"service_key" json:"service"`
	Department string   `db:"department" json:"department"`
	Closed     int      `db:"closed" json:"closed"`
	Met        int      `db:"met" json:"met"`
	Breached   int      `db:"breached_count" json:"breached"`
	Excluded   int      `db:"excluded" json:"excluded"`
	Percent    *float64 `db:"-" json:"attainment_percent"`
}

// SLAAttainment reports, per service, the requests with SLA clocks closed in [from, to), each
// once, by the verdict of its resolution clock. department narrows it ("" for all).
func (s *Store) SLAAttainment(ctx context.Context, from, to time.Time, department string) ([]Attainment, error) {
	q := `SELECT service_key, department, COUNT(*) AS closed,
			SUM(CASE WHEN sla_outcome = 'met' THEN 1 ELSE 0 END) AS met,
			SUM(CASE WHEN sla_outcome = 'missed' THEN 1 ELSE 0 END) AS breached_count,
			SUM(CASE WHEN sla_outcome = 'excluded' THEN 1 ELSE 0 END) AS excluded
		FROM requests WHERE closed_at >= ? AND closed_at < ? AND sla_outcome IS NOT NULL`
	args := []any{from.UTC(), to.UTC()}
	if department != "" {
		q += ` AND department = ?`
		args = append(args, department)
	}
	q += ` GROUP BY service_key, department ORDER BY department, service_key`
	out := []Attainment{}
	if err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("sla attainment: %w", err)
	}
	for i := range out {
		if n := out[i].Met + out[i].Breached; n > 0 {
			p := float64(out[i].Met) * 100 / float64(n)
			out[i].Percent = &p
		}
	}
	return out, nil
}
