package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/notify"
	"github.com/esmhq/esm/notify/mailtest"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
)

// A reminder due at night waits for the approver's department to open (IT: 08:00-18:00,
// Europe/London); an urgent one goes when due. Time-skipping test environment, the real notify
// and directory activities on a real store, mail through a real SMTP server in the test.
func TestReminderWaitsForWorkingHours(t *testing.T) {
	for _, urgent := range []bool{false, true} {
		name := "at opening"
		if urgent {
			name = "urgent at once"
		}
		t.Run(name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				reminders := runNightReminder(t, s, urgent)
				// Monday 2 March 2026, 00:30 GMT: the step opens; its reminder is due at 01:30.
				if urgent {
					if reminders["01:31"] != 1 {
						t.Fatalf("urgent: want the reminder by 01:31, saw %v", reminders)
					}
					return
				}
				if reminders["01:31"] != 0 || reminders["07:59"] != 0 || reminders["08:01"] != 1 || reminders["09:00"] != 1 {
					t.Fatalf("want the reminder at 08:00 (opening) and once, saw by time %v", reminders)
				}
			})
		})
	}
}

// examplesWithMail applies the example catalog to s and starts a real SMTP server for the
// test, answering it and a mailer sending through it (links under http://esm.test/portal).
func examplesWithMail(t *testing.T, s *store.Store) (*mailtest.Server, *notify.Mailer) {
	t.Helper()
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := mailtest.Start(t)
	m, err := notify.NewMailer(srv.URL(), "ESM <desk@esm.example.org>", "http://esm.test/portal")
	if err != nil {
		t.Fatal(err)
	}
	return srv, m
}

func runNightReminder(t *testing.T, s *store.Store, urgent bool) map[string]int {
	ctx := context.Background()
	srv, m := examplesWithMail(t, s)
	dave, err := s.Person(ctx, "dave") // IT; his manager tara approves, in IT too
	if err != nil {
		t.Fatal(err)
	}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	start := time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC)
	env.SetStartTime(start)
	env.RegisterActivity(&activities.Directory{Store: s})
	env.RegisterActivity(&activities.Notifications{Mail: m, Store: s})
	env.RegisterWorkflow(FulfilmentTask)
	var proj *activities.Projection
	env.RegisterActivity(proj.Project)
	env.OnActivity(proj.Project, mock.Anything, mock.Anything).Return(activities.ProjectResult{Wrote: true, ServiceStage: catalog.StagePublished}, nil)
	var ful *activities.Fulfilment
	env.RegisterActivity(ful.Call)

	d := catalog.Definition{Key: "laptop", Name: "Laptop", Department: "it", Owner: "ivan",
		Approval: catalog.ApprovalPolicy{Steps: []catalog.ApprovalStep{{Name: "manager", Mode: catalog.ModeAny,
			Approvers: catalog.Approvers{Manager: true}, RemindAfter: catalog.Duration(time.Hour), RemindUrgent: urgent}}},
		Fulfilment: catalog.Fulfilment{Tasks: []catalog.TaskSpec{{ID: "prepare", Name: "Prepare", Group: "it-service-desk", Kind: catalog.TaskManual}}}}

	seen := map[string]int{}
	for _, at := range []string{"01:31", "07:59", "08:01", "09:00"} {
		hm, _ := time.Parse("15:04", at)
		when := time.Date(2026, 3, 2, hm.Hour(), hm.Minute(), 0, 0, time.UTC)
		env.RegisterDelayedCallback(func() {
			n := 0
			for _, msg := range srv.Messages() {
				if strings.HasPrefix(msg.Header.Get("Subject"), "Reminder:") && msg.To == "tara@example.com" {
					n++
				}
			}
			seen[at] = n
		}, when.Sub(start))
	}
	env.RegisterDelayedCallback(env.CancelWorkflow, 9*time.Hour)
	env.ExecuteWorkflow(ServiceRequest, RequestInput{Number: 42, Version: 1, Definition: d, Requester: dave,
		Form: map[string]any{}, Quantity: 1, Priority: "normal"})
	if !env.IsWorkflowCompleted() {
		t.Fatal("the workflow did not end")
	}
	return seen
}

// A reminder held for working hours goes, at opening, only to the approvers of the step who
// have still not decided: tara and nina must both approve (mode all), the reminder is due at
// 01:30 and held until 08:00, tara approves at 07:00; at opening nina is reminded, tara is not
// (she was told "Step ... is waiting for you" about a step she had decided). Time-skipping
// environment, the real notify and directory activities, a real SMTP server; both DBs.
func TestHeldReminderSkipsWhoDecided(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv, m := examplesWithMail(t, s)
		dave, err := s.Person(ctx, "dave")
		if err != nil {
			t.Fatal(err)
		}
		var ts testsuite.WorkflowTestSuite
		env := ts.NewTestWorkflowEnvironment()
		start := time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC) // Monday; IT opens at 08:00 London
		env.SetStartTime(start)
		env.RegisterActivity(&activities.Directory{Store: s})
		env.RegisterActivity(&activities.Notifications{Mail: m, Store: s})
		var proj *activities.Projection
		env.RegisterActivity(proj.Project)
		env.OnActivity(proj.Project, mock.Anything, mock.Anything).Return(activities.ProjectResult{Wrote: true, ServiceStage: catalog.StagePublished}, nil)
		d := catalog.Definition{Key: "laptop", Name: "Laptop", Department: "it", Owner: "ivan",
			Approval: catalog.ApprovalPolicy{Steps: []catalog.ApprovalStep{{Name: "both", Mode: catalog.ModeAll,
				Approvers: catalog.Approvers{People: []string{"tara", "nina"}}, RemindAfter: catalog.Duration(time.Hour)}}},
			Fulfilment: catalog.Fulfilment{Tasks: []catalog.TaskSpec{{ID: "prepare", Name: "Prepare", Group: "it-service-desk", Kind: catalog.TaskManual}}}}
		reminded := func(to string) int {
			n := 0
			for _, msg := range srv.Messages() {
				if strings.HasPrefix(msg.Header.Get("Subject"), "Reminder:") && msg.To == to {
					n++
				}
			}
			return n
		}
		var decideErr error
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(DecideUpdate, "", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { decideErr = err }, OnAccept: func() {},
				OnComplete: func(_ interface{}, err error) {
					if err != nil {
						decideErr = err
					}
				},
			}, DecisionInput{Actor: catalog.PersonRef{ID: "tara", Name: "Tara Singh", Department: "it"}, Decision: catalog.DecisionApprove})
		}, 7*time.Hour-30*time.Minute) // 07:00
		var at0730, at0801 [2]int
		env.RegisterDelayedCallback(func() { at0730 = [2]int{reminded("tara@example.com"), reminded("nina@example.com")} }, 7*time.Hour)
		env.RegisterDelayedCallback(func() { at0801 = [2]int{reminded("tara@example.com"), reminded("nina@example.com")} }, 7*time.Hour+31*time.Minute)
		env.RegisterDelayedCallback(env.CancelWorkflow, 9*time.Hour)
		env.ExecuteWorkflow(ServiceRequest, RequestInput{Number: 43, Version: 1, Definition: d, Requester: dave,
			Form: map[string]any{}, Quantity: 1, Priority: "normal"})
		if !env.IsWorkflowCompleted() {
			t.Fatal("the workflow did not end")
		}
		if decideErr != nil {
			t.Fatalf("tara's approval: %v", decideErr)
		}
		if at0730 != [2]int{0, 0} {
			t.Fatalf("reminders (tara, nina) before opening: %v, want none", at0730)
		}
		if at0801 != [2]int{0, 1} {
			t.Fatalf("reminders (tara, nina) at opening: %v, want nina only (tara approved at 07:00)", at0801)
		}
	})
}
