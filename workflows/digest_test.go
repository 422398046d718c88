package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"go.temporal.io/sdk/testsuite"
)

// One run of the digest schedule mails the digests due at the workflow's time: none before
// the department opens, one at the first run after opening, none at a later run that day.
// The real notify activity on a real store (both databases), mail through a real SMTP server.
func TestDigestRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv, m := examplesWithMail(t, s)
		if err := s.SetReminders(ctx, "tara", catalog.RemindersDigest); err != nil { // IT: 08:00-18:00 London
			t.Fatal(err)
		}
		night := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC) // Monday, GMT
		if _, err := s.AddDigestItem(ctx, store.DigestItem{Notification: "REQ-000042.3.approval.reminded", Person: "tara",
			Request: "REQ-000042", Kind: "approval.reminded", Subject: "Reminder: approval needed", Body: "Step waits.", At: night}); err != nil {
			t.Fatal(err)
		}
		run := func(at time.Time) int {
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestWorkflowEnvironment()
			env.SetStartTime(at)
			env.RegisterActivity(&activities.Notifications{Mail: m, Store: s})
			env.ExecuteWorkflow(Digest)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("digest run at %s: %v", at, err)
			}
			var res activities.DigestResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			return res.Sent
		}
		for _, c := range []struct {
			at   time.Time
			sent int
		}{{night.Add(15 * time.Minute), 0}, {night.Add(6 * time.Hour), 1}, {night.Add(6*time.Hour + DigestEvery), 0}} {
			if got := run(c.at); got != c.sent {
				t.Errorf("run at %s sent %d digests, want %d", c.at.Format(time.TimeOnly), got, c.sent)
			}
		}
		msgs := srv.Messages()
		if len(msgs) != 1 || msgs[0].To != "tara@example.com" || msgs[0].Header.Get("Message-Id") != "<digest.tara.2026-03-02@esm.example.org>" {
			t.Fatalf("want one digest to tara, got %d: %v", len(msgs), msgs)
		}
	})
}
