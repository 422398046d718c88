package store

import (
	"context"
	"fmt"
	"time"
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
