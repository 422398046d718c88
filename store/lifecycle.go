package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/jmoiron/sqlx"
)

// ServiceInfo is a service's row: its stage, live and draft versions, successor.
type ServiceInfo struct {
	Key        string `db:"key" json:"key"`
	Department string `db:"department" json:"department"`
	Stage      string `db:"stage" json:"stage"`
	Live       int    `db:"current_version" json:"live_version"`
	Draft      int    `db:"draft_version" json:"draft_version,omitempty"`
	Successor  string `db:"successor" json:"successor,omitempty"`
}

// Service returns a service's row, or ErrNotFound.
func (s *Store) Service(ctx context.Context, key string) (ServiceInfo, error) {
	var si ServiceInfo
	err := s.DB.GetContext(ctx, &si, s.DB.Rebind(`SELECT key, department, stage, current_version, draft_version, successor
		FROM services WHERE key = ?`), key)
	return si, notFound(err)
}

// AllServices lists every service row.
func (s *Store) AllServices(ctx context.Context) ([]ServiceInfo, error) {
	out := []ServiceInfo{}
	err := s.DB.SelectContext(ctx, &out, `SELECT key, department, stage, current_version, draft_version, successor FROM services ORDER BY key`)
	return out, err
}

// SaveDraft stores d as a new version that is not live: the service's draft. A service that did
// not exist is created in the draft stage. The service's row is locked first, so writers of one
// service (drafts, catalog apply) wait for each other instead of taking the same number.
//
// known is the draft version the caller knew of (0 for none): when the service's draft has
// moved past it to a version with d's very content, that version is this save retried after it
// committed (an activity whose answer was lost), and it is returned instead of a second one.
func (s *Store) SaveDraft(ctx context.Context, d catalog.Definition, known int, now time.Time) (int, error) {
	doc, err := json.Marshal(d)
	if err != nil {
		return 0, err
	}
	hash := d.Hash()
	var version int
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO services (key, department, current_version, updated_at, stage)
			VALUES (?, ?, 0, ?, ?) ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at`), d.Key, d.Department, now.UTC(), catalog.StageDraft); err != nil {
			return fmt.Errorf("service %s: %w", d.Key, err)
		}
		var cur struct {
			Draft int    `db:"draft_version"`
			Hash  string `db:"hash"`
		}
		if err := tx.GetContext(ctx, &cur, tx.Rebind(`SELECT s.draft_version, COALESCE(v.hash, '') AS hash FROM services s
			LEFT JOIN service_versions v ON v.service_key = s.key AND v.version = s.draft_version WHERE s.key = ?`), d.Key); err != nil {
			return fmt.Errorf("service %s: %w", d.Key, err)
		}
		if cur.Draft > known && cur.Hash == hash {
			version = cur.Draft
			return nil
		}
		if err := tx.GetContext(ctx, &version, tx.Rebind(`SELECT COALESCE(MAX(version), 0) + 1 FROM service_versions WHERE service_key = ?`), d.Key); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO service_versions (service_key, version, hash, definition, created_at) VALUES (?, ?, ?, ?, ?)`),
			d.Key, version, hash, string(doc), now.UTC()); err != nil {
			return fmt.Errorf("service %s version %d: %w", d.Key, version, err)
		}
		_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE services SET draft_version = ?, updated_at = ? WHERE key = ?`), version, now.UTC(), d.Key)
		return err
	})
	return version, err
}

// SetStage records a service's stage (and successor, when retiring), as its lifecycle workflow
// decides; publishing a version makes it live and clears the draft.
func (s *Store) SetStage(ctx context.Context, key, stage string, live, draft int, successor string, now time.Time) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE services SET stage = ?, current_version = ?, draft_version = ?, successor = ?, updated_at = ?
		WHERE key = ?`), stage, live, draft, successor, now.UTC(), key)
	if err != nil {
		return fmt.Errorf("service %s stage: %w", key, err)
	}
	return nil
}

// Retire records a retiring service retired, unless requests of it are still open: then it
// records nothing and lists them. The lifecycle calls it once every request it knows of has
// closed, and the check and the write are one transaction that locks the service's row first,
// so a request whose first state is written (ProjectOpening, which reads the stage under a
// share lock) is either listed here (it committed first) or finds the service retired (it
// waited for this transaction): a submission that passed the API's stage check before the
// retirement and was written after the lifecycle listed the requests in flight is never left
// behind. On SQLite every transaction of the store holds its write lock.
func (s *Store) Retire(ctx context.Context, key string, live, draft int, successor string, now time.Time) ([]string, error) {
	open := []string{}
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		lock := ""
		if s.postgres {
			lock = " FOR UPDATE"
		}
		var stage string
		if err := tx.GetContext(ctx, &stage, tx.Rebind(`SELECT stage FROM services WHERE key = ?`+lock), key); err != nil {
			return fmt.Errorf("service %s: %w", key, notFound(err))
		}
		ids, err := openRequests(ctx, tx, key)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			open = ids
			return nil
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE services SET stage = ?, current_version = ?, draft_version = ?, successor = ?, updated_at = ?
			WHERE key = ?`), catalog.StageRetired, live, draft, successor, now.UTC(), key)
		return err
	})
	return open, err
}

// OpenRequests lists the requests of a service that have not closed.
func (s *Store) OpenRequests(ctx context.Context, service string) ([]string, error) {
	return openRequests(ctx, s.DB, service)
}

// openRequests is OpenRequests on db, the store's or a transaction's.
func openRequests(ctx context.Context, db sqlx.ExtContext, service string) ([]string, error) {
	out := []string{}
	q, args, err := sqlx.In(`SELECT id FROM requests WHERE service_key = ? AND status IN (?) ORDER BY number`, service, catalog.OpenStatuses)
	if err != nil {
		return nil, err
	}
	if err := sqlx.SelectContext(ctx, db, &out, db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("open requests of %s: %w", service, err)
	}
	return out, nil
}
