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
	var row struct {
		catalog.Group
		ChatJSON string `db:"chat_json"`
	}
	err := s.DB.GetContext(ctx, &row, s.DB.Rebind(`SELECT key, name, department, email, chat AS chat_json FROM org_groups WHERE key = ?`), key)
	if err != nil {
		return row.Group, notFound(err)
	}
	g := row.Group
	if g.Chat, err = parseChat(row.ChatJSON); err != nil {
		return g, fmt.Errorf("group %s chat: %w", key, err)
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

// SentDigest is the sent-log status of a reminder that went into the person's digest
// (digest_items) instead of a mail of its own.
const SentDigest = "digest"

// Reminders returns how a person gets reminders: catalog.RemindersImmediate or
// catalog.RemindersDigest; ErrNotFound for someone not in the directory.
func (s *Store) Reminders(ctx context.Context, person string) (string, error) {
	var out string
	if err := s.DB.GetContext(ctx, &out, s.DB.Rebind(`SELECT reminders FROM people WHERE id = ?`), person); err != nil {
		return "", notFound(err)
	}
	return out, nil
}

// SetReminders sets how a person gets reminders (immediate or digest; anything else is an
// error). The directory's YAML overrides it on the next apply only where it says reminders:.
func (s *Store) SetReminders(ctx context.Context, person, how string) error {
	if how != catalog.RemindersImmediate && how != catalog.RemindersDigest {
		return fmt.Errorf("reminders are %s or %s, not %q", catalog.RemindersImmediate, catalog.RemindersDigest, how)
	}
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE people SET reminders = ? WHERE id = ?`), how, person)
	if err != nil {
		return fmt.Errorf("reminders of %s: %w", person, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DigestItem is a reminder kept for a person's daily digest.
type DigestItem struct {
	Notification string    `db:"notification_id" json:"notification"`
	Person       string    `db:"person_id" json:"person"`
	Request      string    `db:"request_id" json:"request,omitempty"`
	Kind         string    `db:"kind" json:"kind,omitempty"`
	Subject      string    `db:"subject" json:"subject"`
	Body         string    `db:"body" json:"body,omitempty"`
	At           time.Time `db:"at" json:"at"`
	Digest       string    `db:"digest_id" json:"digest,omitempty"`
}

// AddDigestItem keeps a reminder for a person's digest; the same notification twice (a retried
// activity) stays one item. It reports whether the item is new.
func (s *Store) AddDigestItem(ctx context.Context, it DigestItem) (bool, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`INSERT INTO digest_items
		(notification_id, person_id, request_id, kind, subject, body, at, digest_id) VALUES (?, ?, ?, ?, ?, ?, ?, '')
		ON CONFLICT (notification_id, person_id) DO NOTHING`),
		it.Notification, it.Person, it.Request, it.Kind, it.Subject, it.Body, it.At.UTC())
	if err != nil {
		return false, fmt.Errorf("digest item %s %s: %w", it.Notification, it.Person, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// undigested is the condition of an item no sent digest holds: not taken, or taken by a digest
// whose mail never went out (its attempts ran out): the next digest takes it.
const undigested = `(digest_id = '' OR NOT EXISTS (SELECT 1 FROM sent_notifications n
	WHERE n.notification_id = digest_items.digest_id AND n.recipient = digest_items.person_id))`

// DigestPeople lists the people with reminders no sent digest holds yet, ordered by id.
func (s *Store) DigestPeople(ctx context.Context) ([]string, error) {
	out := []string{}
	err := s.DB.SelectContext(ctx, &out, `SELECT DISTINCT person_id FROM digest_items WHERE `+undigested+` ORDER BY person_id`)
	if err != nil {
		return nil, fmt.Errorf("digest people: %w", err)
	}
	return out, nil
}

// ClaimDigest gives the person's items no sent digest holds to the digest id, and returns
// every item of that digest (those taken by an earlier attempt of the same digest as well), in
// the order they came: a retried digest mails the same items under the same id.
func (s *Store) ClaimDigest(ctx context.Context, person, digest string) ([]DigestItem, error) {
	if _, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE digest_items SET digest_id = ? WHERE person_id = ? AND `+undigested), digest, person); err != nil {
		return nil, fmt.Errorf("claim digest %s: %w", digest, err)
	}
	out := []DigestItem{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT notification_id, person_id, request_id, kind, subject, body, at, digest_id
		FROM digest_items WHERE person_id = ? AND digest_id = ? ORDER BY at, notification_id`), person, digest)
	if err != nil {
		return nil, fmt.Errorf("digest %s: %w", digest, err)
	}
	return out, nil
}
