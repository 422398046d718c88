package store

import (
	"context"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
)

// Statuses of a sent-log row.
const (
	// SentOK: the mail server accepted the message for the recipient.
	SentOK = "sent"
	// SentNoAddress: the recipient has no address in the directory; reported once, not retried.
	SentNoAddress = "no_address"
)

// Sent is one row of the sent-log: one notification to one recipient (a person id, or
// "group:<key>" for a group's own address).
type Sent struct {
	Notification string    `db:"notification_id" json:"notification"`
	Recipient    string    `db:"recipient" json:"recipient"`
	Request      string    `db:"request_id" json:"request,omitempty"`
	Kind         string    `db:"kind" json:"kind,omitempty"`
	Address      string    `db:"address" json:"address,omitempty"`
	Status       string    `db:"status" json:"status"`
	Detail       string    `db:"detail" json:"detail,omitempty"`
	At           time.Time `db:"at" json:"at"`
}

// SentStatus returns the sent-log's status of a notification to a recipient, "" when there is
// no row (nothing went out, or it went out and the row was never written: the window the
// notify activity accepts, docs/NOTIFICATIONS.md).
func (s *Store) SentStatus(ctx context.Context, notification, recipient string) (string, error) {
	var out []string
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT status FROM sent_notifications
		WHERE notification_id = ? AND recipient = ?`), notification, recipient)
	if err != nil {
		return "", fmt.Errorf("sent-log %s %s: %w", notification, recipient, err)
	}
	if len(out) == 0 {
		return "", nil
	}
	return out[0], nil
}

// RecordSent writes a sent-log row; a row already there for the notification and recipient
// stays as it is. It reports whether the row is new.
func (s *Store) RecordSent(ctx context.Context, r Sent) (bool, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`INSERT INTO sent_notifications
		(notification_id, recipient, request_id, kind, address, status, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (notification_id, recipient) DO NOTHING`),
		r.Notification, r.Recipient, r.Request, r.Kind, r.Address, r.Status, r.Detail, r.At.UTC())
	if err != nil {
		return false, fmt.Errorf("record sent %s %s: %w", r.Notification, r.Recipient, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SentFor lists the sent-log of a request, in the order written.
func (s *Store) SentFor(ctx context.Context, request string) ([]Sent, error) {
	out := []Sent{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT notification_id, recipient, request_id, kind, address, status, detail, at
		FROM sent_notifications WHERE request_id = ? ORDER BY at, notification_id, recipient`), request)
	if err != nil {
		return nil, fmt.Errorf("sent-log of %s: %w", request, err)
	}
	return out, nil
}

// Group returns a group of the directory, or ErrNotFound.
func (s *Store) Group(ctx context.Context, key string) (catalog.Group, error) {
	var g catalog.Group
	err := s.DB.GetContext(ctx, &g, s.DB.Rebind(`SELECT key, name, department, email FROM org_groups WHERE key = ?`), key)
	if err != nil {
		return g, notFound(err)
	}
	return g, nil
}

// DelegatesOf returns the people a person's delegations name at now (they may decide the
// person's approvals), ordered by id.
func (s *Store) DelegatesOf(ctx context.Context, person string, now time.Time) ([]string, error) {
	out := []string{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT DISTINCT delegate_id FROM delegations
		WHERE person_id = ? AND starts_at <= ? AND ends_at > ? ORDER BY delegate_id`), person, now.UTC(), now.UTC())
	if err != nil {
		return nil, fmt.Errorf("delegates of %s: %w", person, err)
	}
	return out, nil
}
