package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/jmoiron/sqlx"
)

// Attachment is a file of a request: its metadata (the bytes are in blob storage, encrypted,
// under BlobKey).
type Attachment struct {
	ID      string `db:"id" json:"id"`
	Request string `db:"request_id" json:"request"`
	// Kind is the definition's kind of file (receipt, contract, photo...).
	Kind string `db:"kind" json:"kind"`
	// Name is the sanitised file name; ContentType was sniffed from the bytes.
	Name        string `db:"name" json:"name"`
	ContentType string `db:"content_type" json:"content_type"`
	Size        int64  `db:"size" json:"size"`
	// SHA256 is the hex SHA-256 of the plaintext.
	SHA256  string `db:"sha256" json:"sha256"`
	BlobKey string `db:"blob_key" json:"-"`
	// Task is the task whose output carries the file ("" for none).
	Task       string     `db:"task_id" json:"task,omitempty"`
	UploadedBy string     `db:"uploaded_by" json:"uploaded_by"`
	UploadedAt time.Time  `db:"uploaded_at" json:"uploaded_at"`
	DeletedAt  *time.Time `db:"deleted_at" json:"deleted_at,omitempty"`
}

const attachmentCols = `id, request_id, kind, name, content_type, size, sha256, blob_key, task_id, uploaded_by, uploaded_at, deleted_at`

// AddAttachments records files stored for a request, in one transaction.
func (s *Store) AddAttachments(ctx context.Context, list []Attachment) error {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, a := range list {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO attachments (`+attachmentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`),
			a.ID, a.Request, a.Kind, a.Name, a.ContentType, a.Size, a.SHA256, a.BlobKey, a.Task, a.UploadedBy, a.UploadedAt.UTC()); err != nil {
			return fmt.Errorf("record attachment %s of %s: %w", a.ID, a.Request, err)
		}
	}
	return tx.Commit()
}

// ErrTooManyFiles is AddAttachmentsUpTo's refusal: recording the files would leave their
// request with more than its limit (the service's attachments.max_files).
var ErrTooManyFiles = errors.New("too many files for the request")

// AddAttachmentsUpTo records files stored for one request (every one of list is of
// list[0].Request) in one transaction, unless the request would then have more than limit
// files, deleted ones counted; then it records none and answers an error wrapping
// ErrTooManyFiles. The count and the inserts are one transaction serialized per request (an
// advisory lock on Postgres; SQLite's transactions here are IMMEDIATE, and s.tx serializes
// writers), so two calls at once cannot together pass the limit.
func (s *Store) AddAttachmentsUpTo(ctx context.Context, list []Attachment, limit int) error {
	if len(list) == 0 {
		return nil
	}
	request := list[0].Request
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		if s.postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "attachments:"+request); err != nil {
				return fmt.Errorf("lock the files of %s: %w", request, err)
			}
		}
		var have int
		if err := tx.GetContext(ctx, &have, tx.Rebind(`SELECT COUNT(*) FROM attachments WHERE request_id = ?`), request); err != nil {
			return fmt.Errorf("count the files of %s: %w", request, err)
		}
		if have+len(list) > limit {
			return fmt.Errorf("%w: %s has %d of at most %d files, %d more refused", ErrTooManyFiles, request, have, limit, len(list))
		}
		for _, a := range list {
			if a.Request != request {
				return fmt.Errorf("record attachment %s: of %s, not %s", a.ID, a.Request, request)
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO attachments (`+attachmentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`),
				a.ID, a.Request, a.Kind, a.Name, a.ContentType, a.Size, a.SHA256, a.BlobKey, a.Task, a.UploadedBy, a.UploadedAt.UTC()); err != nil {
				return fmt.Errorf("record attachment %s of %s: %w", a.ID, a.Request, err)
			}
		}
		return nil
	})
}

// AddAttachmentsOnce records the files of one submission, in one transaction, unless a file
// with the id of list[0] is already recorded (an earlier attempt of the same submission, whose
// ids are the same: desk.submittedFileID); then it records nothing and answers false. Two
// attempts at once are decided by the primary key, on either database.
func (s *Store) AddAttachmentsOnce(ctx context.Context, list []Attachment) (bool, error) {
	if len(list) == 0 {
		return false, nil
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	for i, a := range list {
		q := `INSERT INTO attachments (` + attachmentCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`
		if i == 0 {
			q += ` ON CONFLICT (id) DO NOTHING`
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(q),
			a.ID, a.Request, a.Kind, a.Name, a.ContentType, a.Size, a.SHA256, a.BlobKey, a.Task, a.UploadedBy, a.UploadedAt.UTC())
		if err != nil {
			return false, fmt.Errorf("record attachment %s of %s: %w", a.ID, a.Request, err)
		}
		if i == 0 {
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return false, err
			}
		}
	}
	return true, tx.Commit()
}

// Attachments lists a request's files, deleted ones included, oldest first.
func (s *Store) Attachments(ctx context.Context, requestID string) ([]Attachment, error) {
	out := []Attachment{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT `+attachmentCols+` FROM attachments WHERE request_id = ? ORDER BY uploaded_at, id`), requestID)
	return out, err
}

// AttachmentOf returns one file of a request, or ErrNotFound.
func (s *Store) AttachmentOf(ctx context.Context, requestID, id string) (Attachment, error) {
	var a Attachment
	err := s.DB.GetContext(ctx, &a, s.DB.Rebind(`SELECT `+attachmentCols+` FROM attachments WHERE request_id = ? AND id = ?`), requestID, id)
	return a, notFound(err)
}

// MarkAttachmentDeleted records that a file's object was deleted (at the first deletion; a
// retry keeps the first instant).
func (s *Store) MarkAttachmentDeleted(ctx context.Context, id string, at time.Time) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE attachments SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`), at.UTC(), id)
	return err
}

// FilesDeletedEvent is the audit event retention records once a request's files are deleted.
const FilesDeletedEvent = "files.deleted"

// RecordFilesDeleted appends ev (its Seq is set here) to a request's audit trail and to its
// stored state's timeline, in one transaction, so GET /v1/requests/{id} and the request page
// show it: the state's seq moves on and its updated instant becomes ev.At, so an older
// projection never overwrites it. It is idempotent: a request whose trail already holds an
// event of ev.Type is left as it is (false). Errors: ErrNotFound (no such request).
func (s *Store) RecordFilesDeleted(ctx context.Context, requestID string, ev catalog.Event) (bool, error) {
	wrote := false
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, tx.Rebind(`SELECT COUNT(*) FROM request_events WHERE request_id = ? AND type = ?`), requestID, ev.Type); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var doc string
		if err := tx.GetContext(ctx, &doc, tx.Rebind(`SELECT state FROM requests WHERE id = ?`), requestID); err != nil {
			return notFound(err)
		}
		var r catalog.RequestState
		if err := json.Unmarshal([]byte(doc), &r); err != nil {
			return fmt.Errorf("decode request %s: %w", requestID, err)
		}
		var last sql.NullInt64 // the trail may hold more than the state's kept timeline
		if err := tx.GetContext(ctx, &last, tx.Rebind(`SELECT MAX(seq) FROM request_events WHERE request_id = ?`), requestID); err != nil {
			return err
		}
		ev.Seq = max(r.NextEventSeq(), int(last.Int64)+1)
		ev.At = ev.At.UTC()
		r.Timeline = append(r.Timeline, ev)
		r.Seq++
		if ev.At.After(r.UpdatedAt) {
			r.UpdatedAt = ev.At
		}
		out, err := json.Marshal(r.UTC())
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE requests SET seq = ?, updated_at = ?, state = ?, updated_us = ? WHERE id = ?`),
			r.Seq, r.UpdatedAt.UTC(), string(out), r.UpdatedAt.UnixMicro(), requestID); err != nil {
			return fmt.Errorf("record %s of %s: %w", ev.Type, requestID, err)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO request_events (request_id, seq, at, type, actor, detail) VALUES (?, ?, ?, ?, ?, ?)`),
			requestID, ev.Seq, ev.At, ev.Type, ev.Actor, ev.Detail); err != nil {
			return fmt.Errorf("append %s to %s: %w", ev.Type, requestID, err)
		}
		wrote = true
		return nil
	})
	return wrote, err
}

// OrphanAttachments lists up to limit files recorded before before under a request number that
// has no request row, ordered by id, after the id after ("" for the first page). They are what
// a submission attempt leaves that recorded its files (AddAttachmentsOnce) and never started its
// workflow, and was never retried; the caller makes sure no workflow runs under the number
// either (its row is written by the workflow) before it deletes any (DeleteOrphanAttachment).
// Rows already marked deleted are listed too: their object may be gone, their row not yet.
func (s *Store) OrphanAttachments(ctx context.Context, before time.Time, after string, limit int) ([]Attachment, error) {
	out := []Attachment{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT `+attachmentCols+` FROM attachments a
		WHERE a.uploaded_at < ? AND a.id > ? AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = a.request_id)
		ORDER BY a.id LIMIT ?`), before.UTC(), after, limit)
	return out, err
}

// DeleteOrphanAttachment deletes the row of a file whose request number still has no request
// row, and answers whether it did (false: no such row, or the request exists by now). The
// caller deletes the object first, so a failure in between leaves a row the next sweep finds.
func (s *Store) DeleteOrphanAttachment(ctx context.Context, id string) (bool, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM attachments WHERE id = ?
		AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = attachments.request_id)`), id)
	if err != nil {
		return false, fmt.Errorf("delete the orphan file %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
