package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/notify/mailtest"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
)

// injectWindow makes the database refuse the sent-log write of Bob's approval mails: the
// notify activity's attempt then fails after the SMTP server's 250 and before its row, as an
// attempt whose worker dies (or whose database goes away) between the two. heal lifts it.
func injectWindow(t *testing.T, s *store.Store) (heal func()) {
	t.Helper()
	ctx := context.Background()
	var create, drop []string
	switch s.Dialect() {
	case "postgres":
		create = []string{`CREATE FUNCTION esm_test_window() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.recipient = 'bob' AND NEW.kind = 'approval.requested' THEN
					RAISE EXCEPTION 'injected: the attempt ends between the 250 and the sent-log write';
				END IF;
				RETURN NEW;
			END $$`,
			`CREATE TRIGGER esm_test_window BEFORE INSERT ON sent_notifications FOR EACH ROW EXECUTE FUNCTION esm_test_window()`}
		drop = []string{`DROP TRIGGER esm_test_window ON sent_notifications`, `DROP FUNCTION esm_test_window()`}
	default:
		create = []string{`CREATE TRIGGER esm_test_window BEFORE INSERT ON sent_notifications
			WHEN NEW.recipient = 'bob' AND NEW.kind = 'approval.requested'
			BEGIN SELECT RAISE(ABORT, 'injected: the attempt ends between the 250 and the sent-log write'); END`}
		drop = []string{`DROP TRIGGER esm_test_window`}
	}
	for _, q := range create {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, q := range drop {
			if _, err := s.DB.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSentLogWindow is the acceptance's "even when the worker is killed between sending and
// recording", as far as SMTP allows (docs/NOTIFICATIONS.md, "The window"): an attempt of the
// notify activity that ends after the server accepted Bob's approval mail and before the
// sent-log row (the database refuses the write) is retried by Temporal; the retry mails Bob
// again under the same Message-ID, never a second distinct message, and the sent-log ends with
// one row. Real dev server, real SMTP server, both databases.
func TestSentLogWindow(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e, srv := newMailEnv(t, dialect)
			ctx := context.Background()
			heal := injectWindow(t, e.store)
			id := submitLaptop(t, e, "alice")
			mailTo(t, srv, "bob@example.com", "Approval needed: ", id)
			// The attempt that sent it failed on the write: Temporal says so.
			deadline := time.Now().Add(20 * time.Second)
			for failed := false; !failed; time.Sleep(100 * time.Millisecond) {
				d, err := e.tc.DescribeWorkflowExecution(ctx, workflows.RequestWorkflowID(id), "")
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range d.GetPendingActivities() {
					if strings.Contains(a.GetLastFailure().GetMessage(), "injected") {
						failed = true
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("no notify attempt failed on the sent-log write")
				}
			}
			heal()
			bobs := func(msgs []mailtest.Message) (out []mailtest.Message) {
				for _, m := range msgs {
					if m.To == "bob@example.com" && strings.HasPrefix(m.Header.Get("Subject"), "Approval needed: ") &&
						strings.Contains(m.Header.Get("References"), id+"@") {
						out = append(out, m)
					}
				}
				return out
			}
			var notification string
			deadline = time.Now().Add(30 * time.Second)
			for notification == "" {
				rows, err := e.store.SentFor(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					if r.Recipient == "bob" && r.Kind == "approval.requested" {
						notification = r.Notification
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("the retry wrote no sent-log row")
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(3 * time.Second) // longer than the next retry's backoff: nothing more comes
			got := bobs(srv.Messages())
			ids := map[string]bool{}
			for _, m := range got {
				ids[m.Header.Get("Message-Id")] = true
			}
			if len(got) < 2 || len(ids) != 1 || !ids["<"+notification+"@esm.example.org>"] {
				t.Fatalf("want the mail again under one Message-ID <%s@...>, got %d mails with ids %v", notification, len(got), ids)
			}
			if len(got) != 2 {
				t.Errorf("want exactly one resend (one failed write), got %d mails", len(got))
			}
			rows, err := e.store.SentFor(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range rows {
				if r.Notification == notification && r.Recipient == "bob" {
					n++
					if r.Status != store.SentOK {
						t.Errorf("bob's row: %+v", r)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%d sent-log rows for bob's %s", n, notification)
			}
			// Everything else went once.
			seen := map[string]bool{}
			for _, m := range srv.Messages() {
				k := m.To + " " + m.Header.Get("Message-Id")
				if seen[k] && m.Header.Get("Message-Id") != "<"+notification+"@esm.example.org>" {
					t.Errorf("%s got %s twice", m.To, m.Header.Get("Message-Id"))
				}
				seen[k] = true
			}
		})
	}
}
