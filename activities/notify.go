package activities

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/notify"
	"github.com/esmhq/esm/store"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Categories of a notification: what later phases (business hours, digests, chat) act on.
const (
	// CategoryAction asks someone to act now: a step opened, a task entered a queue, a question.
	CategoryAction = "action"
	// CategoryReminder reminds or escalates to people: reminders, escalations, SLA notices.
	CategoryReminder = "reminder"
	// CategoryOutcome tells what became of a request or a step: decided, resolved, cancelled...
	CategoryOutcome = "outcome"
)

// Fact is one labelled line of a notification (notify.Fact): a reason, a task's output.
type Fact = notify.Fact

// Notification is one message to some people about one request.
type Notification struct {
	Request string `json:"request"`
	// To are person ids (revision 4 and before may name a group here: the SLA escalation to a
	// group); Groups are fulfiller groups, told at their own address when the directory has one,
	// else through each member (revision 5).
	To     []string `json:"to"`
	Groups []string `json:"groups,omitempty"`
	// Delegates says the people To delegated their approvals to are told as well.
	Delegates bool   `json:"delegates,omitempty"`
	Subject   string `json:"subject"`
	Text      string `json:"text"`
	// Facts are labelled lines under the text: a rejection's reason, a task's outputs.
	Facts []Fact `json:"facts,omitempty"`
	// Why tells the recipients why they get it ("you approve step \"Manager\" of REQ-000042").
	Why string `json:"why,omitempty"`
	// Kind names the event (approval.requested, request.resolved, sla.warning...); Seq numbers
	// the request's notifications in order; At is when the workflow sent it.
	Kind       string    `json:"kind,omitempty"`
	Seq        int       `json:"seq,omitempty"`
	At         time.Time `json:"at"`
	Department string    `json:"department,omitempty"`
	// ID is the notification's stable id (NotificationID), Category one of the Category
	// constants (revision 5; before it, the activity derives the id from Request and Seq).
	ID       string `json:"id,omitempty"`
	Category string `json:"category,omitempty"`
	// Urgent: a reminder that goes at once, outside the recipients' working hours too, and
	// never into a digest (the definition's remind_urgent, escalate.urgent, a level's urgent).
	Urgent bool `json:"urgent,omitempty"`
	// Step is the approval step (1-based) a reminder or escalation is about: one deferred to
	// working hours is dropped by the workflow when the step was settled meanwhile.
	Step int `json:"step,omitempty"`
}

// Deferrable says the notification waits for its recipients' working hours and may go into
// their digests: a reminder (revision 5, with an id) that is not urgent.
func (n Notification) Deferrable() bool {
	return n.ID != "" && n.Category == CategoryReminder && !n.Urgent
}

// NotificationID is a request's notification's stable id: REQ-000042.7.request.resolved, the
// request, the notification's number in the request (kept in the workflow's state, so a replay
// or a retry gives the same id) and its kind.
func NotificationID(request string, seq int, kind string) string {
	id := fmt.Sprintf("%s.%d", request, seq)
	if kind != "" {
		id += "." + kind
	}
	return id
}

// Notifier delivers notifications: the log channel (LogNotifier) when no mail server is set.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// LogNotifier writes notifications to a structured log.
type LogNotifier struct {
	Log *slog.Logger
}

// Notify logs the notification.
func (l LogNotifier) Notify(ctx context.Context, n Notification) error {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	to := slices.Concat(n.To, n.Groups)
	log.InfoContext(ctx, "notification", "id", n.ID, "request", n.Request, "to", strings.Join(to, ","), "subject", n.Subject, "text", n.Text)
	return nil
}

// Mailer sends one rendered message to one recipient (notify.Mailer; tests may wrap it).
type Mailer interface {
	Send(ctx context.Context, msg notify.Message) error
}

// Notifications is the activity that sends notifications: by mail when Mail is set (the
// recipients' addresses from the directory, a sent-log in the store), else through Notifier;
// and to the department's webhook when there is one.
type Notifications struct {
	Notifier Notifier
	Client   *http.Client
	// Mail and Store: email (issue 19). Both or neither.
	Mail  Mailer
	Store *store.Store
	// Log is the operators' log (a recipient without an address is reported there once).
	Log *slog.Logger
}

// NotifyInput is one notification, and the department webhook to send it to as well, if any.
type NotifyInput struct {
	Notification Notification
	Webhook      *catalog.Webhook
	// Now is the workflow's time of this call (a deferred notification's next call comes
	// after Notification.At); zero means Notification.At. Working hours are judged at it.
	Now time.Time `json:",omitzero"`
}

// NotifyResult says when to call again: Later is the earliest opening of the department of a
// recipient not mailed yet because it was closed at Now (a deferrable notification only);
// nil when every recipient has been dealt with.
type NotifyResult struct {
	Later *time.Time `json:",omitempty"`
}

// Notify sends one notification. By mail, each recipient is checked against the sent-log
// before and written to it after, so a retried activity mails nobody twice; a recipient whose
// mail server refuses is retried (the error), the others are not held up.
func (n *Notifications) Notify(ctx context.Context, in NotifyInput) (NotifyResult, error) {
	if len(in.Notification.To) == 0 && len(in.Notification.Groups) == 0 {
		return NotifyResult{}, nil
	}
	var res NotifyResult
	var mailErr error
	if n.Mail != nil && n.Store != nil {
		h := &hours{now: in.Now, opens: map[string]time.Time{}}
		if h.now.IsZero() {
			h.now = in.Notification.At
		}
		mailErr = n.mail(context.WithValue(ctx, hoursKey{}, h), in.Notification)
		res.Later = h.later
	} else {
		notifier := n.Notifier
		if notifier == nil {
			notifier = LogNotifier{Log: n.Log}
		}
		if err := notifier.Notify(ctx, in.Notification); err != nil {
			return NotifyResult{}, fmt.Errorf("notify %v: %w", in.Notification.To, err)
		}
	}
	// Chat channels have their own sent-log rows: a mail server that is down delays the mails,
	// not the channels (each retry posts only what has not been posted).
	var chatErr error
	if n.Store != nil && in.Now.IsZero() { // a deferred notification's next call posts nothing again
		chatErr = n.chats(ctx, in.Notification)
	}
	if mailErr != nil || chatErr != nil {
		return NotifyResult{}, errors.Join(mailErr, chatErr) // retried by the activity's retry policy
	}
	// The department webhook keeps no sent-log: it is posted once the rest went out, so that a
	// retry for a mail server that is down does not post it again and again.
	if in.Webhook != nil {
		if err := n.webhook(ctx, *in.Webhook, in.Notification); err != nil {
			return NotifyResult{}, err // retried by the activity's retry policy
		}
	}
	return res, nil
}

// recipient is one mailbox a notification goes to: a person, or a group's own address.
type recipient struct {
	key, name, address, why string
	// principal is the approver whose decision a person recipient of an approval mail may make:
	// themselves, or whoever delegated to them ("" for anyone else).
	principal string
}

// recipients resolves a notification's people, their delegates and groups to mailboxes, each
// once, in the order named. A name the directory does not have becomes a recipient without an
// address (it is reported, not retried).
func (n *Notifications) recipients(ctx context.Context, note Notification) ([]recipient, error) {
	var out []recipient
	seen := map[string]bool{}
	add := func(r recipient) {
		if !seen[r.key] {
			seen[r.key] = true
			out = append(out, r)
		}
	}
	person := func(id, why, principal string) error {
		p, err := n.Store.Person(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Revision 4 and before name a group in To (the SLA escalation to a group).
			if g, gerr := n.Store.Group(ctx, id); gerr == nil {
				return n.group(ctx, g, why, add)
			}
			add(recipient{key: id, why: why})
			return nil
		case err != nil:
			return err
		}
		add(recipient{key: p.ID, name: p.Name, address: p.Email, why: why, principal: principal})
		return nil
	}
	why := note.Why
	for _, id := range note.To {
		if err := person(id, why, id); err != nil {
			return nil, err
		}
	}
	if note.Delegates {
		at := note.At
		if at.IsZero() {
			at = time.Now()
		}
		for _, id := range note.To {
			ds, err := n.Store.DelegatesOf(ctx, id, at)
			if err != nil {
				return nil, err
			}
			for _, d := range ds {
				if err := person(d, fmt.Sprintf("%s delegated their approvals to you", id), id); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, key := range note.Groups {
		g, err := n.Store.Group(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			add(recipient{key: "group:" + key, why: why})
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := n.group(ctx, g, why, add); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// group adds a group's own address, or (without one) each of its members.
func (n *Notifications) group(ctx context.Context, g catalog.Group, why string, add func(recipient)) error {
	if why == "" {
		why = "you are in " + g.Name
	}
	if g.Email != "" {
		add(recipient{key: "group:" + g.Key, name: g.Name, address: g.Email, why: why})
		return nil
	}
	members, err := n.Store.GroupMembers(ctx, g.Key)
	if err != nil {
		return err
	}
	for _, m := range members {
		p, err := n.Store.Person(ctx, m.ID)
		if err != nil {
			return err
		}
		add(recipient{key: p.ID, name: p.Name, address: p.Email, why: fmt.Sprintf("you are in %s", g.Name)})
	}
	return nil
}

// mail sends the notification to each recipient not in the sent-log yet.
func (n *Notifications) mail(ctx context.Context, note Notification) error {
	log := n.Log
	if log == nil {
		log = slog.Default()
	}
	id := note.ID
	if id == "" {
		id = fallbackID(ctx, note)
	}
	rs, err := n.recipients(ctx, note)
	if err != nil {
		return fmt.Errorf("recipients of %s: %w", id, err)
	}
	var failed []error
	links := n.linker(ctx, note)
	for _, r := range rs {
		st, err := n.Store.SentStatus(ctx, id, r.key)
		if err != nil {
			return err
		}
		if st != "" {
			continue // sent already (a retry), or reported
		}
		// A reminder goes into the digest of who chose one, or waits for working hours.
		if held, err := n.hold(ctx, note, id, r.key, r.address); err != nil {
			return err
		} else if held {
			continue
		}
		row := store.Sent{Notification: id, Recipient: r.key, Request: note.Request, Kind: note.Kind, Address: r.address, At: time.Now()}
		if r.address == "" {
			row.Status, row.Detail = store.SentNoAddress, "no address in the directory"
			fresh, err := n.Store.RecordSent(ctx, row)
			if err != nil {
				return err
			}
			if fresh {
				log.WarnContext(ctx, "notification not mailed: the recipient has no address in the directory",
					"notification", id, "request", note.Request, "recipient", r.key, "subject", note.Subject)
			}
			continue
		}
		actions, err := links(r)
		if err != nil {
			return err
		}
		err = n.Mail.Send(ctx, notify.Message{ID: id, Request: note.Request, Thread: threadOf(ctx, note), Name: r.name, Address: r.address,
			Subject: note.Subject, Text: note.Text, Facts: note.Facts, Why: r.why, At: note.At, Actions: actions})
		var bad *notify.BadAddressError
		if errors.As(err, &bad) {
			row.Status, row.Detail = "bad_address", bad.Error()
			if fresh, rerr := n.Store.RecordSent(ctx, row); rerr != nil {
				return rerr
			} else if fresh {
				log.WarnContext(ctx, "notification not mailed: the recipient's address is malformed",
					"notification", id, "request", note.Request, "recipient", r.key, "error", bad.Error())
			}
			continue
		}
		if err != nil {
			failed = append(failed, err) // retried; the others go out meanwhile
			continue
		}
		// Between the send above and this write, a crash mails the recipient again on the
		// retry (docs/NOTIFICATIONS.md, "The window").
		row.Status = store.SentOK
		if _, err := n.Store.RecordSent(ctx, row); err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

// fallbackID is the stable id of a notification that carries none: a request's (revision 4
// and before) from its number in the request; anything else's (a service's lifecycle) from the
// activity's place in its workflow run, which a retry keeps.
func fallbackID(ctx context.Context, note Notification) string {
	if note.Request != "" && note.Seq > 0 {
		return NotificationID(note.Request, note.Seq, note.Kind)
	}
	info := activity.GetInfo(ctx)
	return fmt.Sprintf("%s.%s.%s", strings.ReplaceAll(info.WorkflowExecution.ID, "/", "."), info.WorkflowExecution.RunID, info.ActivityID)
}

// threadOf is what a notification without a request threads under: its workflow (a service's
// lifecycle, service.<key>).
func threadOf(ctx context.Context, note Notification) string {
	if note.Request != "" {
		return ""
	}
	return strings.ReplaceAll(activity.GetInfo(ctx).WorkflowExecution.ID, "/", ".")
}

// SignatureHeader carries the HMAC-SHA256 of the body: "sha256=<hex>".
const SignatureHeader = "X-ESM-Signature"

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhook POSTs the notification as JSON, signed with the secret from the environment.
func (n *Notifications) webhook(ctx context.Context, hook catalog.Webhook, note Notification) error {
	secret := os.Getenv(hook.SecretEnv)
	if secret == "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("webhook secret %s is not set on the worker", hook.SecretEnv), "WebhookSecretMissing", nil)
	}
	body, err := json.Marshal(note)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad webhook URL: "+err.Error(), "WebhookURL", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign([]byte(secret), body))
	req.Header.Set("Idempotency-Key", fmt.Sprintf("%s.notice.%d", note.Request, note.Seq))
	return n.post(req, "webhook "+hook.URL)
}

// post sends req with n.Client (a client with a 10 s timeout when nil): a 2xx answer is
// delivered (nil); no answer, or any other status, is an error naming what ("webhook <url>",
// "chat <url>") for the activity to retry.
func (n *Notifications) post(req *http.Request, what string) error {
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("%s answered %d", what, resp.StatusCode)
	}
	return nil
}
