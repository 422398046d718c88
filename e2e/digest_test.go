package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/notify/mailtest"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/worker"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
)

// The digest schedule on a real dev server: the worker's start creates it once however often it
// runs (every 15 minutes, the Digest workflow on the ESM queue); one trigger mails the digest
// through a real SMTP server, and a second trigger the same day mails nothing more.
func TestDigestSchedule(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e, srv := newMailEnv(t, dialect)
			ctx := context.Background()
			for range 2 { // two worker starts
				if err := worker.EnsureDigestSchedule(ctx, e.tc); err != nil {
					t.Fatal(err)
				}
			}
			h := e.tc.ScheduleClient().GetHandle(ctx, workflows.DigestScheduleID)
			t.Cleanup(func() { _ = h.Delete(context.Background()) })
			d, err := h.Describe(ctx)
			if err != nil {
				t.Fatalf("the schedule does not exist after start: %v", err)
			}
			act, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
			if !ok || act.Workflow != "Digest" || act.TaskQueue != workflows.TaskQueue ||
				len(d.Schedule.Spec.Intervals) != 1 || d.Schedule.Spec.Intervals[0].Every != workflows.DigestEvery {
				t.Fatalf("schedule: action %+v spec %+v", d.Schedule.Action, d.Schedule.Spec)
			}
			n := 0
			it, err := e.tc.ScheduleClient().List(ctx, client.ScheduleListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for it.HasNext() {
				s, err := it.Next()
				if err != nil {
					t.Fatal(err)
				}
				if s.ID == workflows.DigestScheduleID {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d digest schedules", n)
			}

			// Tara chose the digest; she works in a 24x7 department, so her digest is due whatever
			// the time of the test; one reminder waits in it.
			if err := e.store.SetReminders(ctx, "tara", catalog.RemindersDigest); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.DB.ExecContext(ctx, `UPDATE people SET department = 'test-ops' WHERE id = 'tara'`); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.AddDigestItem(ctx, store.DigestItem{Notification: "REQ-000099.3.approval.reminded", Person: "tara",
				Request: "REQ-000099", Kind: "approval.reminded", Subject: "Reminder: approval needed", Body: "Step manager waits.", At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			// finished waits until the schedule has started k runs since the test began and none runs.
			// (A trigger while a run is going is skipped: the overlap policy.)
			before := -1
			finished := func(k int) {
				deadline := time.Now().Add(30 * time.Second)
				for {
					d, err := h.Describe(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if before < 0 {
						before = len(d.Info.RecentActions)
					}
					if len(d.Info.RecentActions) >= before+k && len(d.Info.RunningWorkflows) == 0 {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("run %d did not finish: %d runs, %d running", k, len(d.Info.RecentActions)-before, len(d.Info.RunningWorkflows))
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
			digests := func(msgs []mailtest.Message) (out []mailtest.Message) {
				for _, m := range msgs {
					if m.To == "tara@example.com" && strings.HasPrefix(m.Header.Get("Message-Id"), "<digest.tara.") {
						out = append(out, m)
					}
				}
				return out
			}
			finished(0)
			if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
				t.Fatal(err)
			}
			srv.Wait(t, 30*time.Second, "tara's digest", func(msgs []mailtest.Message) bool { return len(digests(msgs)) > 0 })
			finished(1)
			// A second run the same day runs to completion and mails nothing.
			if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
				t.Fatal(err)
			}
			finished(2)
			got := digests(srv.Messages())
			if len(got) != 1 || !strings.Contains(got[0].Text, "Reminder: approval needed") {
				t.Fatalf("want one digest holding the reminder, got %d", len(got))
			}
			sent, err := e.store.SentStatus(ctx, "digest.tara."+time.Now().UTC().Format(time.DateOnly), "tara")
			if err != nil || sent != store.SentOK {
				t.Fatalf("sent-log of the digest: %q %v", sent, err)
			}
		})
	}
}
