package store

import (
	"context"
	"encoding/json"
	"fmt"
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
	CreatedAt   time.Time `db:"created_at"`
}

// ReserveSubmission returns the submission for (requester, key), creating it with the next
// request number when there is none. created says which. Two racing callers get the same row.
func (s *Store) ReserveSubmission(ctx context.Context, requester, key, fingerprint string, now time.Time) (sub Submission, created bool, err error) {
	var number int64
	err = s.DB.GetContext(ctx, &number, s.DB.Rebind(`INSERT INTO submissions (requester_id, idempotency_key, fingerprint, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (requester_id, idempotency_key) DO NOTHING RETURNING number`),
		requester, key, fingerprint, now.UTC())
	switch notFound(err) {
	case nil:
		created = true
	case ErrNotFound: // the key was used before
	default:
		return Submission{}, false, fmt.Errorf("reserve submission: %w", err)
	}
	err = s.DB.GetContext(ctx, &sub, s.DB.Rebind(`SELECT number, requester_id, idempotency_key, fingerprint, created_at
		FROM submissions WHERE requester_id = ? AND idempotency_key = ?`), requester, key)
	if err != nil {
		return Submission{}, false, fmt.Errorf("read submission: %w", err)
	}
	return sub, created, nil
}

// ProjectRequest writes a request's state into the read model in one transaction, unless the
// stored state is as new or newer (its seq is not smaller). Events are appended by (request,
// seq), so replaying the same state writes nothing twice. It reports whether it wrote.
func (s *Store) ProjectRequest(ctx context.Context, r catalog.RequestState) (bool, error) {
	doc, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	wrote := false
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO requests (id, number, seq, service_key, service_version, department,
				requester_id, title, status, stage, priority, submitted_at, updated_at, closed_at, state)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, status = excluded.status, stage = excluded.stage,
				priority = excluded.priority, updated_at = excluded.updated_at, closed_at = excluded.closed_at, state = excluded.state
			WHERE requests.seq < excluded.seq`),
			r.ID, r.Number, r.Seq, r.Service.Key, r.Service.Version, r.Service.Department, r.Requester.ID, r.Title(),
			r.Status, r.Stage, r.Priority, r.SubmittedAt.UTC(), r.UpdatedAt.UTC(), utcPtr(r.ClosedAt), string(doc))
		if err != nil {
			return fmt.Errorf("upsert request %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a newer state is already there
		}
		wrote = true
		for _, e := range r.Timeline {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO request_events (request_id, seq, at, type, actor, detail)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_id, seq) DO NOTHING`),
				r.ID, e.Seq, e.At.UTC(), e.Type, e.Actor, e.Detail); err != nil {
				return fmt.Errorf("append event %s/%d: %w", r.ID, e.Seq, err)
			}
		}
		// Pending approvals and open tasks are derived rows: replace them with the new state's.
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM request_approvers WHERE request_id = ?`), r.ID); err != nil {
			return err
		}
		for _, a := range r.Approvals {
			for _, p := range a.Approvers {
				status := a.Status
				if p.Decision != "" {
					status = p.Decision
				}
				if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO request_approvers (request_id, step, person_id, step_name, status, since)
					VALUES (?, ?, ?, ?, ?, ?)`), r.ID, a.Step, p.ID, a.Name, status, a.OpenedAt.UTC()); err != nil {
					return fmt.Errorf("approver %s/%d/%s: %w", r.ID, a.Step, p.ID, err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM request_tasks WHERE request_id = ?`), r.ID); err != nil {
			return err
		}
		for _, t := range r.Tasks {
			since := r.SubmittedAt
			if t.OpenedAt != nil {
				since = *t.OpenedAt
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO request_tasks (request_id, task_id, name, group_key, state, assignee, since)
				VALUES (?, ?, ?, ?, ?, ?, ?)`), r.ID, t.ID, t.Name, t.Group, t.State, t.Assignee, since.UTC()); err != nil {
				return fmt.Errorf("task %s/%s: %w", r.ID, t.ID, err)
			}
		}
		return nil
	})
	return wrote, err
}

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
}

const requestCols = `r.id, r.number, r.seq, r.service_key, r.service_version, r.department, r.requester_id, r.title,
	r.status, r.stage, r.priority, r.submitted_at, r.updated_at, r.closed_at`

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
	return r, nil
}

// RequestFilter narrows ListRequests.
type RequestFilter struct {
	Requester string
	Status    string
	Service   string
	// Before is a cursor: only requests with a smaller number. 0 means from the newest.
	Before int64
	Limit  int
}

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
	RequestID   string    `db:"request_id" json:"request"`
	Step        int       `db:"step" json:"step"`
	StepName    string    `db:"step_name" json:"step_name"`
	Since       time.Time `db:"since" json:"since"`
	Title       string    `db:"title" json:"title"`
	ServiceKey  string    `db:"service_key" json:"service"`
	RequesterID string    `db:"requester_id" json:"requester"`
	Priority    string    `db:"priority" json:"priority"`
}

// PendingApprovals returns the approvals waiting on any of the given people, oldest first.
func (s *Store) PendingApprovals(ctx context.Context, people []string, limit int) ([]PendingApproval, error) {
	out := []PendingApproval{}
	if len(people) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT a.request_id, a.step, a.step_name, a.since, r.title, r.service_key, r.requester_id, r.priority
		FROM request_approvers a JOIN requests r ON r.id = a.request_id
		WHERE a.person_id IN (?) AND a.status = ? ORDER BY a.since, a.request_id LIMIT ?`, people, catalog.ApprovalPending, limit)
	if err != nil {
		return nil, err
	}
	if err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("pending approvals: %w", err)
	}
	return out, nil
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

// TaskQueue returns the tasks of the given groups in the given states, oldest first.
func (s *Store) TaskQueue(ctx context.Context, groups, states []string, limit int) ([]QueuedTask, error) {
	out := []QueuedTask{}
	if len(groups) == 0 || len(states) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT t.request_id, t.task_id, t.name, t.group_key, t.state, t.assignee, t.since,
			r.title, r.service_key, r.requester_id, r.priority
		FROM request_tasks t JOIN requests r ON r.id = t.request_id
		WHERE t.group_key IN (?) AND t.state IN (?) ORDER BY t.since, t.request_id, t.task_id LIMIT ?`, groups, states, limit)
	if err != nil {
		return nil, err
	}
	if err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("task queue: %w", err)
	}
	for i := range out {
		out[i].ID = catalog.TaskRef(out[i].RequestID, out[i].TaskID)
	}
	return out, nil
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
