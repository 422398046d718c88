package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/notify/mailtest"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
)

// The rows of docs/NOTIFICATIONS.md's table that need a timer or a failure, played by
// TestWhoIsToldWhat (mail_test.go) on each database with the services of
// testdata/catalog/notify.yaml: deadlines of seconds in a 24x7 department, so real time
// drives them.

// wantMail is one mail a row expects: to an address, its subject beginning with prefix.
type wantMail struct{ to, prefix string }

func (w wantMail) String() string { return w.to + " " + strings.TrimSpace(w.prefix) }

// about lists the mails about request id (their References name it), in the order received.
func about(msgs []mailtest.Message, id string) []mailtest.Message {
	var out []mailtest.Message
	for _, m := range msgs {
		if strings.Contains(m.Header.Get("References"), "<"+id+"@") {
			out = append(out, m)
		}
	}
	return out
}

// match pairs each mail with a wanted one (to the address, the subject's prefix), each wanted
// mail once; it returns the mails no wanted one took and the wanted ones no mail matched.
func match(msgs []mailtest.Message, wants []wantMail) (extra []string, missing []wantMail) {
	used := make([]bool, len(wants))
	for _, m := range msgs {
		found := false
		for i, w := range wants {
			if !used[i] && m.To == w.to && strings.HasPrefix(m.Header.Get("Subject"), w.prefix) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			extra = append(extra, m.To+" "+m.Header.Get("Subject"))
		}
	}
	for i, w := range wants {
		if !used[i] {
			missing = append(missing, w)
		}
	}
	return extra, missing
}

// toldExactly waits until every wanted mail about request id has come, waits settle more,
// and fails unless the mails about id are exactly the wanted ones: the right people, each
// once, nobody else. It returns the mails about id.
func toldExactly(t *testing.T, srv *mailtest.Server, id string, settle time.Duration, wants ...wantMail) []mailtest.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, missing := match(about(srv.Messages(), id), wants)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still missing %v; got:\n%s", id, missing, mailtest.Summary(about(srv.Messages(), id)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(settle)
	got := about(srv.Messages(), id)
	if extra, missing := match(got, wants); len(extra) > 0 || len(missing) > 0 {
		t.Fatalf("%s: mails nobody should have had: %v; missing: %v", id, extra, missing)
	}
	return got
}

// pick is the mail to addr whose subject begins with prefix.
func pick(t *testing.T, msgs []mailtest.Message, addr, prefix string) mailtest.Message {
	t.Helper()
	for _, m := range msgs {
		if m.To == addr && strings.HasPrefix(m.Header.Get("Subject"), prefix) {
			return m
		}
	}
	t.Fatalf("no mail to %s %q", addr, prefix)
	return mailtest.Message{}
}

// says fails the test unless the mail's text holds each of parts.
func says(t *testing.T, m mailtest.Message, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(m.Text, p) {
			t.Errorf("the mail to %s %q does not say %q:\n%s", m.To, m.Header.Get("Subject"), p, m.Text)
		}
	}
}

func submit(t *testing.T, e *env, who, service string) string {
	t.Helper()
	r := e.ok("POST", "/v1/requests", who, map[string]any{"service": service, "form": map[string]any{}})
	return r.Body["id"].(string)
}

// rowDeadlines: one step's reminder (2 s), escalation (4 s) and expiry (6 s), all urgent.
// Bob (Alice's manager) and Carol (his delegate) are asked and reminded; the escalation adds
// Grace (Bob's manager); the expiry tells the approvers who had not decided (Bob, Grace; not
// the delegate), and the request's rejection tells Alice why.
func rowDeadlines(t *testing.T, e *env, srv *mailtest.Server) {
	id := submit(t, e, "alice", "test-deadlines")
	got := toldExactly(t, srv, id, 1500*time.Millisecond,
		wantMail{"bob@example.com", "Approval needed: "}, wantMail{"carol@example.com", "Approval needed: "},
		wantMail{"bob@example.com", "Reminder: approval needed: "}, wantMail{"carol@example.com", "Reminder: approval needed: "},
		wantMail{"grace@example.com", "Escalated to you: "},
		wantMail{"bob@example.com", "Expired: "}, wantMail{"grace@example.com", "Expired: "},
		wantMail{"alice@example.com", "Rejected: "})
	says(t, pick(t, got, "bob@example.com", "Reminder: "), `Step "manager" of `+id+" is waiting for you.")
	says(t, pick(t, got, "carol@example.com", "Reminder: "), "bob delegated their approvals to you")
	says(t, pick(t, got, "grace@example.com", "Escalated to you: "), `Step "manager" of `+id+" was escalated to you.", "escalated to the approvers' managers")
	for _, who := range []string{"bob", "grace"} {
		says(t, pick(t, got, who+"@example.com", "Expired: "), `Step "manager" of `+id+" expired undecided; its default applies: reject.")
	}
	says(t, pick(t, got, "alice@example.com", "Rejected: "), `approval step "manager" expired undecided and its default is to reject`)
	waitFor(t, e, id, "alice", func(r response) bool { return r.Body["status"] == "rejected" })
}

// rowUnderstaffed: three levels of managers, all to approve, for Grace, who has none: the
// directory adds only the admin Adam, the step waits, and the operators (Oscar) are told what
// it lacks.
func rowUnderstaffed(t *testing.T, e *env, srv *mailtest.Server) {
	id := submit(t, e, "grace", "test-understaffed")
	got := toldExactly(t, srv, id, time.Second,
		wantMail{"adam@example.com", "Approval needed: "},
		wantMail{"oscar@example.com", "Nobody may decide: "})
	says(t, pick(t, got, "oscar@example.com", "Nobody may decide: "),
		`step "board" needs 3 approvals (all) and 0 of the people it names may decide`,
		"nobody else may decide: the step waits with 1 approvers", "you operate the service desk")
	e.ok("POST", "/v1/requests/"+id+"/cancel", "grace", map[string]any{"reason": "asked too many"})
	waitFor(t, e, id, "grace", func(r response) bool { return r.Body["status"] == "cancelled" })
}

// rowFailed: the automated task's endpoint refuses it for good (405): the request fails and
// Alice, only she, is told the reason.
func rowFailed(t *testing.T, e *env, srv *mailtest.Server) {
	id := submit(t, e, "alice", "test-fails")
	got := toldExactly(t, srv, id, time.Second, wantMail{"alice@example.com", "Failed: "})
	says(t, got[0], id+" could not be fulfilled", "Reason: ", "GET ", "/hooks/accounts answered 405")
	waitFor(t, e, id, "alice", func(r response) bool { return r.Body["status"] == "failed" })
}

// rowSLA: the response (3 s) and resolution (4 s) clocks warn at 50 % and breach; the open
// task is unassigned, so the service's owner Erin is told each; the escalation level at the
// resolution's breach tells Grace.
func rowSLA(t *testing.T, e *env, srv *mailtest.Server) {
	id := submit(t, e, "alice", "test-sla-mail")
	got := toldExactly(t, srv, id, 1500*time.Millisecond,
		wantMail{"dave@example.com", "In your queue: "}, wantMail{"frank@example.com", "In your queue: "},
		wantMail{"tara@example.com", "In your queue: "},
		wantMail{"erin@example.com", "SLA warning: " + id + " response at 50%"},
		wantMail{"erin@example.com", "SLA breached: " + id + " response target missed"},
		wantMail{"erin@example.com", "SLA warning: " + id + " resolution at 50%"},
		wantMail{"erin@example.com", "SLA breached: " + id + " resolution target missed"},
		wantMail{"grace@example.com", "Escalation level 1: " + id})
	says(t, pick(t, got, "erin@example.com", "SLA warning: "), "sla.warning: ")
	says(t, pick(t, got, "erin@example.com", "SLA breached: "), "sla.breached: ")
	says(t, pick(t, got, "grace@example.com", "Escalation level 1: "), "sla.escalation: ")
	e.ok("POST", "/v1/tasks/"+id+".do/complete", "dave", map[string]any{})
	mailTo(t, srv, "alice@example.com", "Resolved: ", id)
}

// rowDeferred: Ruth's department is closed (test-night); the step's reminder (1 s, not
// urgent) is not mailed: the workflow sleeps on a timer until her department's opening, and
// the sent-log has no row of it. The requester's withdrawal closes the request and drops it.
func rowDeferred(t *testing.T, e *env, srv *mailtest.Server) {
	ctx := context.Background()
	if _, err := e.store.DB.ExecContext(ctx, `UPDATE people SET department = 'test-night' WHERE id = 'ruth'`); err != nil {
		t.Fatal(err)
	}
	id := submit(t, e, "alice", "test-night")
	mailTo(t, srv, "ruth@example.com", "Approval needed: ", id)
	// The reminder's timer, with its summary and when it fires.
	var fires time.Time
	var summary string
	for deadline := time.Now().Add(20 * time.Second); fires.IsZero(); time.Sleep(200 * time.Millisecond) {
		it := e.tc.GetWorkflowHistory(ctx, workflows.RequestWorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			a := ev.GetTimerStartedEventAttributes()
			if a == nil || ev.GetUserMetadata().GetSummary() == nil {
				continue
			}
			var s string
			if err := payloadCodec.DataConverter().FromPayload(ev.GetUserMetadata().GetSummary(), &s); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(s, "working hours: ") {
				summary, fires = s, ev.GetEventTime().AsTime().Add(a.GetStartToFireTimeout().AsDuration())
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the workflow started no working-hours timer for the reminder")
		}
	}
	if !strings.HasPrefix(summary, "working hours: "+id+".") || !strings.HasSuffix(summary, ".approval.reminded") {
		t.Errorf("the timer is %q, want the reminder's", summary)
	}
	d, err := e.store.Department(ctx, "test-night")
	if err != nil {
		t.Fatal(err)
	}
	if open := d.Calendar.Open(time.Now()); fires.Sub(open).Abs() > 5*time.Second {
		t.Errorf("the reminder waits until %s, the department opens at %s", fires, open)
	}
	rows, err := e.store.SentFor(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Kind == "approval.reminded" {
			t.Errorf("the sent-log has the deferred reminder: %+v", r)
		}
	}
	e.ok("POST", "/v1/requests/"+id+"/cancel", "alice", map[string]any{"reason": "not tonight"})
	toldExactly(t, srv, id, time.Second,
		wantMail{"ruth@example.com", "Approval needed: "},
		wantMail{"ruth@example.com", "Withdrawn by the requester: "},
		wantMail{"alice@example.com", "Withdrawn by the requester: "})
	// Closing dropped the waiting reminder: the workflow is done, not asleep on the timer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		desc, err := e.tc.DescribeWorkflowExecution(ctx, workflows.RequestWorkflowID(id), "")
		if err != nil {
			t.Fatal(err)
		}
		if st := desc.WorkflowExecutionInfo.Status; st == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the workflow is %s after the withdrawal", st)
		}
	}
}
