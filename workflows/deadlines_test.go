package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/calendar"
	"github.com/esmhq/esm/catalog"
)

// Issue 16 §7: SLA levels and approval deadlines keep their instants in business time.

var london, _ = time.LoadLocation("Europe/London")

// itCalendar is IT's calendar in examples/directory.yaml: weekdays 08:00-18:00, London.
func itCalendar() calendar.Calendar {
	return calendar.Calendar{TimeZone: "Europe/London", Hours: map[string]string{
		"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00", "fri": "08:00-18:00"}}
}

// laptopSLA is the laptop's SLA policy (examples/services/it.yaml).
func laptopSLA() catalog.Definition {
	d := definition("")
	d.SLA = catalog.SLAPolicy{
		Targets: map[string]catalog.SLATarget{
			"normal": {Response: catalog.Duration(8 * time.Hour), Resolution: catalog.Duration(40 * time.Hour)},
			"high":   {Response: catalog.Duration(4 * time.Hour), Resolution: catalog.Duration(24 * time.Hour)},
		},
		Warnings: []int{50, 75, 90},
		Escalation: []catalog.EscalationLevel{
			{At: "75%", Notify: &catalog.NotifyTargets{People: []string{"tara"}}},
			{At: "breach", Notify: &catalog.NotifyTargets{People: []string{"ivan"}}, RaisePriority: true},
			{At: "breach+8h", Reassign: "it-service-desk-seniors"},
		},
	}
	return d
}

// escalations lists "type at Mon 15:04" (London) of the timeline's escalation events.
func (s *requestSuite) escalations() []string {
	var out []string
	for _, e := range s.state().Timeline {
		if e.Type == "sla.escalation" || e.Type == "sla.breached" || e.Type == "sla.escalation.priority" || e.Type == "sla.escalation.reassign" {
			out = append(out, e.Type+" at "+e.At.In(london).Format("Mon 15:04"))
		}
	}
	return out
}

// slaLevelsRun submits a normal laptop request on Monday 30 November 2026 09:00 and resolves
// it the next Monday.
func (s *requestSuite) slaLevelsRun() {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	s.env.SetStartTime(time.Date(2026, 11, 30, 9, 0, 0, 0, london))
	in := input(laptopSLA())
	in.Calendar = itCalendar()
	s.update(7*24*time.Hour, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk-seniors"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
}

// TestSLALevelsKeepTheirInstants: the breach (40 business hours: Friday 09:00) raises the
// priority to high (24 h), and breach+8h still fires at 48 business hours (Friday 17:00), not
// at once with the breach.
func (s *requestSuite) TestSLALevelsKeepTheirInstants() {
	s.slaLevelsRun()
	s.Equal([]string{
		"sla.breached at Mon 17:00", // response: 8 h
		"sla.escalation at Thu 09:00",
		"sla.breached at Fri 09:00",
		"sla.escalation at Fri 09:00",
		"sla.escalation.priority at Fri 09:00",
		"sla.escalation at Fri 17:00",
		"sla.escalation.reassign at Fri 17:00",
	}, s.escalations())
	st := s.state()
	s.Equal("high", st.Priority)
	s.Equal(3, st.EscalationLevel)
	s.Equal(catalog.Duration(24*time.Hour), st.SLA[1].Target, "the raised priority re-targets the clock")
}

// TestSLALevelsRevision3: a request of revision 3 keeps what it did: the next level fires with
// the raise.
func (s *requestSuite) TestSLALevelsRevision3() {
	s.env.OnGetVersion(RequestRevision, workflow.DefaultVersion, requestRevision).Return(workflow.Version(3))
	s.slaLevelsRun()
	s.Contains(s.escalations(), "sla.escalation.reassign at Fri 09:00")
}

// deadlineRun opens an approval step on Friday 27 November 2026 14:00 whose reminder is due 7
// business hours later (Monday 11:00) and whose expiry 24 (Tuesday 18:00); the approver asks
// the requester on Friday 16:00, who answers on Monday 09:00; the approver approves on Tuesday
// 09:00. It returns the step as it is after the answer.
func (s *requestSuite) deadlineRun() catalog.ApprovalState {
	s.approvers(bob)
	start := time.Date(2026, 11, 27, 14, 0, 0, 0, london)
	s.env.SetStartTime(start)
	d := definition(catalog.ModeAny, bob)
	d.Approval.Steps[0].RemindAfter = catalog.Duration(7 * time.Hour)
	d.Approval.Steps[0].Expire = &catalog.Expiry{After: catalog.Duration(24 * time.Hour), Outcome: catalog.DecisionReject}
	in := input(d)
	in.Calendar = itCalendar()
	s.decide(2*time.Hour, bob, catalog.DecisionRequestInfo, "Which keyboard layout?")
	answered := time.Date(2026, 11, 30, 9, 0, 0, 0, london).Sub(start)
	s.update(answered, CommentUpdate, CommentInput{Actor: catalog.PersonRef{ID: "alice"}, Text: "UK, please"})
	var step catalog.ApprovalState
	s.env.RegisterDelayedCallback(func() { step = s.state().Approvals[0] }, answered+time.Minute)
	s.decide(time.Date(2026, 12, 1, 9, 0, 0, 0, london).Sub(start), bob, catalog.DecisionApprove, "")
	s.completeAt(5 * 24 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	return step
}

// reminded is when the step's reminder fired (London), or "".
func (s *requestSuite) reminded() string {
	for _, e := range s.state().Timeline {
		if e.Type == "approval.reminded" {
			return e.At.In(london).Format("Mon 15:04")
		}
	}
	return ""
}

// TestDeadlinesMoveByBusinessTime: the reminder had 5 business hours left when the question was
// asked (Friday 16-18, Monday 08-11), so after the answer it is due Monday 14:00; the expiry had
// 22 (Tuesday 18:00) and is due Wednesday 11:00.
func (s *requestSuite) TestDeadlinesMoveByBusinessTime() {
	step := s.deadlineRun()
	s.Require().NotNil(step.RemindAt)
	s.Equal(time.Date(2026, 11, 30, 14, 0, 0, 0, london).UTC(), step.RemindAt.UTC(), "reminder, got %v", step.RemindAt.In(london))
	s.Equal(time.Date(2026, 12, 2, 11, 0, 0, 0, london).UTC(), step.ExpireAt.UTC(), "expiry, got %v", step.ExpireAt.In(london))
	s.Equal("Mon 14:00", s.reminded())
}

// TestDeadlinesRevision3: a request of revision 3 moves them by wall-clock time (65 hours).
func (s *requestSuite) TestDeadlinesRevision3() {
	s.env.OnGetVersion(RequestRevision, workflow.DefaultVersion, requestRevision).Return(workflow.Version(3))
	step := s.deadlineRun()
	s.Equal(time.Date(2026, 12, 3, 4, 0, 0, 0, london).UTC(), step.RemindAt.UTC(), "Thursday 04:00, got %v", step.RemindAt.In(london))
	s.Equal("", s.reminded(), "approved before Thursday")
}
