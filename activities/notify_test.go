package activities_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/notify"
	"github.com/esmhq/esm/notify/mailtest"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// mailer is the notify activity mailing through a real SMTP server in the test process, with
// the example directory and the sent-log in s; log collects the operators' log.
func mailer(t *testing.T, s *store.Store) (*activities.Notifications, *mailtest.Server, *bytes.Buffer) {
	t.Helper()
	directory(t, s)
	srv := mailtest.Start(t)
	m, err := notify.NewMailer(srv.URL(), "ESM Service Desk <desk@esm.example.org>", "http://esm.test/portal")
	if err != nil {
		t.Fatal(err)
	}
	m.Timeout = 3 * time.Second
	var log bytes.Buffer
	return &activities.Notifications{Mail: m, Store: s, Log: slog.New(slog.NewTextHandler(&log, nil))}, srv, &log
}

func note(to ...string) activities.NotifyInput {
	return activities.NotifyInput{Notification: activities.Notification{
		ID: activities.NotificationID("REQ-000042", 3, "request.rejected"), Request: "REQ-000042", Kind: "request.rejected",
		Category: activities.CategoryOutcome, To: to, Subject: "Rejected: Laptop for Alice Chen",
		Text: "REQ-000042 is rejected.", Facts: []activities.Fact{{Label: "Reason", Value: "budget <frozen> & spent"}},
		Why: "you requested REQ-000042", Seq: 3, At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	}}
}

// A mail has the headers a mail reader threads by, both bodies, and the portal's link; a retry
// of the activity after it succeeded sends nothing again (the sent-log).
func TestMailHeadersAndSentOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		n, srv, _ := mailer(t, s)
		ctx := context.Background()
		for range 2 { // the second call is the activity retried after its success
			if _, err := n.Notify(ctx, note("alice")); err != nil {
				t.Fatal(err)
			}
		}
		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("want one message, got %d:\n%s", len(msgs), mailtest.Summary(msgs))
		}
		m := msgs[0]
		for h, want := range map[string]string{
			"Message-Id":  "<REQ-000042.3.request.rejected@esm.example.org>",
			"In-Reply-To": "<REQ-000042@esm.example.org>",
			"References":  "<REQ-000042@esm.example.org>",
			"Subject":     "Rejected: Laptop for Alice Chen",
		} {
			if got := m.Header.Get(h); got != want {
				t.Errorf("%s: got %q, want %q", h, got, want)
			}
		}
		if from := m.Header.Get("From"); !strings.Contains(from, "<desk@esm.example.org>") {
			t.Errorf("From: %q", from)
		}
		if to := m.Header.Get("To"); !strings.Contains(to, "<alice@example.com>") || m.To != "alice@example.com" {
			t.Errorf("To: header %q, envelope %q", to, m.To)
		}
		for _, want := range []string{"Hello Alice Chen,", "REQ-000042 is rejected.", "Reason: budget <frozen> & spent", "http://esm.test/portal/requests/REQ-000042", "you requested REQ-000042"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("text part lacks %q:\n%s", want, m.Text)
			}
		}
		for _, want := range []string{`<a href="http://esm.test/portal/requests/REQ-000042">`, "budget &lt;frozen&gt; &amp; spent"} {
			if !strings.Contains(m.HTML, want) {
				t.Errorf("html part lacks %q:\n%s", want, m.HTML)
			}
		}
		log, err := s.SentFor(ctx, "REQ-000042")
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 1 || log[0].Status != store.SentOK || log[0].Recipient != "alice" || log[0].Address != "alice@example.com" {
			t.Fatalf("sent-log: %+v", log)
		}
	})
}

// A person without an address is reported once to the operators' log and recorded, never
// retried: the activity succeeds, and a second run reports nothing again.
func TestMailNoAddressReportedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		n, srv, log := mailer(t, s)
		ctx := context.Background()
		if _, err := s.DB.ExecContext(ctx, `UPDATE people SET email = '' WHERE id = 'alice'`); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := n.Notify(ctx, note("alice", "bob")); err != nil {
				t.Fatalf("a missing address must not fail the activity: %v", err)
			}
		}
		if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].To != "bob@example.com" {
			t.Fatalf("want bob's message only:\n%s", mailtest.Summary(msgs))
		}
		if c := strings.Count(log.String(), "no address"); c != 1 {
			t.Fatalf("want the missing address reported once, got %d times:\n%s", c, log)
		}
		st, err := s.SentStatus(ctx, "REQ-000042.3.request.rejected", "alice")
		if err != nil || st != store.SentNoAddress {
			t.Fatalf("sent-log of alice: %q, %v", st, err)
		}
	})
}

// A mail server that is down fails the activity (Temporal retries it with backoff); once it
// is back, the retry mails each recipient once.
func TestMailServerDownThenUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		n, srv, _ := mailer(t, s)
		ctx := context.Background()
		srv.Stop()
		if _, err := n.Notify(ctx, note("alice")); err == nil {
			t.Fatal("the server is down: want an error for the retry")
		}
		if st, _ := s.SentStatus(ctx, "REQ-000042.3.request.rejected", "alice"); st != "" {
			t.Fatalf("nothing went out, yet the sent-log says %q", st)
		}
		srv.Restart()
		for range 2 {
			if _, err := n.Notify(ctx, note("alice")); err != nil {
				t.Fatal(err)
			}
		}
		if msgs := srv.Messages(); len(msgs) != 1 {
			t.Fatalf("want one message:\n%s", mailtest.Summary(msgs))
		}
	})
}

// A group is mailed at its own address when the directory has one, else each member; the
// approvers' delegates are told when the notification says so.
func TestMailGroupsAndDelegates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		n, srv, _ := mailer(t, s)
		ctx := context.Background()
		in := note()
		in.Notification.ID, in.Notification.Kind, in.Notification.Groups = "REQ-000042.4.task.queued", "task.queued", []string{"it-service-desk"}
		if _, err := n.Notify(ctx, in); err != nil {
			t.Fatal(err)
		}
		got := recipients(srv.Messages())
		if got != "dave@example.com frank@example.com tara@example.com" {
			t.Fatalf("members of it-service-desk: got %q", got)
		}
		if _, err := s.DB.ExecContext(ctx, `UPDATE org_groups SET email = 'network@example.com' WHERE key = 'it-network'`); err != nil {
			t.Fatal(err)
		}
		in.Notification.ID, in.Notification.Groups = "REQ-000042.5.task.queued", []string{"it-network"}
		if _, err := n.Notify(ctx, in); err != nil {
			t.Fatal(err)
		}
		if got := recipients(srv.Messages()[3:]); got != "network@example.com" {
			t.Fatalf("it-network has an address: got %q", got)
		}
		now := time.Now()
		if _, err := s.CreateDelegation(ctx, store.Delegation{Person: "bob", Delegate: "carol", StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		in = note("bob")
		in.Notification.ID, in.Notification.Delegates, in.Notification.At = "REQ-000042.6.approval.requested", true, now
		if _, err := n.Notify(ctx, in); err != nil {
			t.Fatal(err)
		}
		msgs := srv.Messages()[4:]
		if got := recipients(msgs); got != "bob@example.com carol@example.com" {
			t.Fatalf("bob and his delegate: got %q", got)
		}
		for _, m := range msgs {
			if m.To == "carol@example.com" && !strings.Contains(m.Text, "bob delegated their approvals to you") {
				t.Errorf("the delegate's mail says why they get it:\n%s", m.Text)
			}
		}
	})
}

func recipients(msgs []mailtest.Message) string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.To)
	}
	return strings.Join(out, " ")
}
