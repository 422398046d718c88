package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/esmhq/esm/calendar"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/notify"
	"github.com/esmhq/esm/store"
	"go.temporal.io/sdk/temporal"
)

// hours is one Notify call's view of working hours: the instant judged (the workflow's time of
// the call), the departments' openings read so far, and the earliest opening of a recipient
// held back. It travels in the context (hoursKey) from Notify to mail's hold.
type hours struct {
	now   time.Time
	opens map[string]time.Time
	later *time.Time
}

type hoursKey struct{}

// hold keeps a deferrable notification (Notification.Deferrable) from a person recipient who
// chose the daily digest (a digest item, sent-log status digest) or whose department is
// closed at the call's time (nothing written: the workflow calls again at the opening, which
// hold records). It reports whether the recipient is held.
func (n *Notifications) hold(ctx context.Context, note Notification, id, key, address string) (bool, error) {
	h, _ := ctx.Value(hoursKey{}).(*hours)
	if h == nil || !note.Deferrable() || address == "" {
		return false, nil
	}
	dept := ""
	if g, ok := strings.CutPrefix(key, "group:"); ok {
		grp, err := n.Store.Group(ctx, g)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		dept = grp.Department
	} else {
		p, err := n.Store.Person(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		dept = p.Department
		how, err := n.Store.Reminders(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		if how == catalog.RemindersDigest {
			if _, err := n.Store.AddDigestItem(ctx, store.DigestItem{Notification: id, Person: key, Request: note.Request,
				Kind: note.Kind, Subject: note.Subject, Body: note.Text, At: note.At}); err != nil {
				return false, err
			}
			_, err := n.Store.RecordSent(ctx, store.Sent{Notification: id, Recipient: key, Request: note.Request, Kind: note.Kind,
				Address: address, Status: store.SentDigest, Detail: "kept for the daily digest", At: time.Now()})
			return true, err
		}
	}
	open, ok := h.opens[dept]
	if !ok {
		var err error
		if open, err = n.opening(ctx, dept, h.now); err != nil {
			return false, err
		}
		h.opens[dept] = open
	}
	if !open.After(h.now) {
		return false, nil
	}
	if h.later == nil || open.Before(*h.later) {
		h.later = &open
	}
	return true, nil
}

// opening is the first instant at or after now inside the working hours of a department's
// calendar: now itself for a 24x7 department, or one the directory does not have.
func (n *Notifications) opening(ctx context.Context, department string, now time.Time) (time.Time, error) {
	if department == "" {
		return now, nil
	}
	d, err := n.Store.Department(ctx, department)
	if errors.Is(err, store.ErrNotFound) {
		return now, nil
	}
	if err != nil {
		return now, err
	}
	return d.Calendar.Open(now), nil
}

// --- chat ---

// chats posts a request's notification to the chat channel of the request's (providing)
// department and of each group it tells, each once (the sent-log, recipient chat:<dept> or
// chat:group:<key>). Working hours do not apply: a channel is not a person.
func (n *Notifications) chats(ctx context.Context, note Notification) error {
	if note.Request == "" || note.ID == "" {
		return nil
	}
	type channel struct {
		key  string
		chat *catalog.Chat
	}
	var chs []channel
	if note.Department != "" {
		d, err := n.Store.Department(ctx, note.Department)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if d.Chat != nil {
			chs = append(chs, channel{"chat:" + d.Key, d.Chat})
		}
	}
	for _, g := range note.Groups {
		grp, err := n.Store.Group(ctx, g)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if grp.Chat != nil {
			chs = append(chs, channel{"chat:group:" + grp.Key, grp.Chat})
		}
	}
	var failed []error
	for _, c := range chs {
		st, err := n.Store.SentStatus(ctx, note.ID, c.key)
		if err != nil {
			return err
		}
		if st != "" {
			continue
		}
		if err := n.postChat(ctx, *c.chat, note); err != nil {
			failed = append(failed, err)
			continue
		}
		if _, err := n.Store.RecordSent(ctx, store.Sent{Notification: note.ID, Recipient: c.key, Request: note.Request, Kind: note.Kind,
			Address: c.chat.URL, Status: store.SentOK, At: time.Now()}); err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

// ChatPayload is the JSON body a notification makes for a chat channel of kind (catalog.ChatSlack:
// text and blocks; catalog.ChatTeams: a message with one Adaptive Card 1.4). link is the
// request's page in the portal ("" for none).
//
// What people typed (a request's title, a comment, a task's output) goes as text, never as the
// platform's markup: for Slack, &, < and > are escaped in the fallback text and the mrkdwn
// section alike (no <!channel> mention, no <url|label> link); for Teams, every piece of text is a
// TextRun of a RichTextBlock, where the card schema parses no markdown (a TextBlock or a FactSet
// would render "[Approve](https://...)" as a link). The only link is ESM's own.
func ChatPayload(kind string, note Notification, link string) ([]byte, error) {
	title := note.Subject
	var lines []string
	if note.Text != "" {
		lines = append(lines, note.Text)
	}
	for _, f := range note.Facts {
		lines = append(lines, f.Label+": "+f.Value)
	}
	switch kind {
	case catalog.ChatSlack:
		esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
		body := "*" + esc.Replace(title) + "*"
		if len(lines) > 0 {
			body += "\n" + esc.Replace(strings.Join(lines, "\n"))
		}
		if link != "" {
			body += "\n<" + link + "|Open " + esc.Replace(note.Request) + ">"
		}
		return json.Marshal(map[string]any{
			"text":   esc.Replace(title), // the notification's fallback text: Slack parses it too
			"blocks": []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": body}}},
		})
	case catalog.ChatTeams:
		run := func(text string, extra ...any) map[string]any {
			r := map[string]any{"type": "TextRun", "text": text}
			for i := 0; i+1 < len(extra); i += 2 {
				r[extra[i].(string)] = extra[i+1]
			}
			return r
		}
		block := func(runs ...any) map[string]any {
			return map[string]any{"type": "RichTextBlock", "inlines": runs}
		}
		items := []any{block(run(title, "weight", "Bolder", "size", "Medium"))}
		if note.Text != "" {
			items = append(items, block(run(note.Text)))
		}
		for _, f := range note.Facts {
			items = append(items, block(run(f.Label+": ", "weight", "Bolder"), run(f.Value)))
		}
		card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": items}
		if link != "" {
			card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open " + note.Request, "url": link}}
		}
		return json.Marshal(map[string]any{
			"type":        "message",
			"attachments": []any{map[string]any{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}},
		})
	}
	return nil, fmt.Errorf("chat kind %q: slack or teams", kind)
}

// postChat POSTs one notification to one channel; signed (SignatureHeader) when the channel
// names a secret; a 2xx answer is delivered, anything else is retried by the activity.
func (n *Notifications) postChat(ctx context.Context, c catalog.Chat, note Notification) error {
	link := ""
	if m, ok := n.Mail.(*notify.Mailer); ok && m != nil {
		link = m.Link(note.Request)
	}
	body, err := ChatPayload(c.Kind, note, link)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "ChatKind", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad chat URL: "+err.Error(), "ChatURL", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-ESM-Notification", note.ID)
	if c.SecretEnv != "" {
		secret := os.Getenv(c.SecretEnv)
		if secret == "" {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("chat secret %s is not set on the worker", c.SecretEnv), "ChatSecretMissing", nil)
		}
		req.Header.Set(SignatureHeader, Sign([]byte(secret), body))
	}
	return n.post(req, "chat "+c.URL)
}

// --- digest ---

// DigestInput is one run of the digest schedule: Now is its scheduled time.
type DigestInput struct {
	Now time.Time
}

// DigestResult counts the digests mailed.
type DigestResult struct {
	Sent int `json:"sent"`
}

// Digests mails each person with kept reminders (digest_items) one digest a day, once their
// department is open (at or after its opening on their local date; 24x7 departments from
// midnight UTC): the digest's id is digest.<person>.<YYYY-MM-DD>, checked in the sent-log
// before and written after, so a second run that day (or a retry) sends none. Items that come
// after the day's digest wait for the next day's.
func (n *Notifications) Digests(ctx context.Context, in DigestInput) (DigestResult, error) {
	var res DigestResult
	if n.Mail == nil || n.Store == nil {
		return res, nil
	}
	log := n.Log
	if log == nil {
		log = slog.Default()
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	people, err := n.Store.DigestPeople(ctx)
	if err != nil {
		return res, err
	}
	var failed []error
	for _, id := range people {
		p, err := n.Store.Person(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return res, err
		}
		var cal calendar.Calendar
		if d, err := n.Store.Department(ctx, p.Department); err == nil {
			cal = d.Calendar
		} else if !errors.Is(err, store.ErrNotFound) {
			return res, err
		}
		open, working := cal.Opening(now)
		if !working || now.Before(open) || cal.Open(now).After(now) {
			continue // not open now: a later run of the schedule sends it
		}
		digest := fmt.Sprintf("digest.%s.%s", id, open.Format(time.DateOnly))
		if st, err := n.Store.SentStatus(ctx, digest, id); err != nil {
			return res, err
		} else if st != "" {
			continue // today's went out; the rest wait for tomorrow's
		}
		items, err := n.Store.ClaimDigest(ctx, id, digest)
		if err != nil {
			return res, err
		}
		if len(items) == 0 {
			continue
		}
		row := store.Sent{Notification: digest, Recipient: id, Kind: "digest", Address: p.Email, At: time.Now()}
		if p.Email == "" {
			row.Status, row.Detail = store.SentNoAddress, "no address in the directory"
			if fresh, err := n.Store.RecordSent(ctx, row); err != nil {
				return res, err
			} else if fresh {
				log.WarnContext(ctx, "digest not mailed: the recipient has no address in the directory", "digest", digest, "recipient", id)
			}
			continue
		}
		facts := make([]Fact, 0, len(items))
		for _, it := range items {
			facts = append(facts, Fact{Label: it.Request, Value: it.Subject + ": " + it.Body})
		}
		err = n.Mail.Send(ctx, notify.Message{ID: digest, Thread: "digest." + id, Name: p.Name, Address: p.Email,
			Subject: fmt.Sprintf("Your reminders: %d waiting", len(items)),
			Text:    fmt.Sprintf("You chose a daily digest of reminders. %d reminders since your last one:", len(items)),
			Facts:   facts, Why: "you chose a daily digest of reminders (Preferences in the portal)", At: now})
		if err != nil {
			failed = append(failed, fmt.Errorf("digest %s: %w", digest, err))
			continue
		}
		row.Status = store.SentOK
		if _, err := n.Store.RecordSent(ctx, row); err != nil {
			return res, err
		}
		res.Sent++
	}
	return res, errors.Join(failed...)
}
