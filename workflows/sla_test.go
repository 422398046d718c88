package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/calendar"
	"github.com/esmhq/esm/catalog"
)

func slaDefinition() catalog.Definition {
	d := definition("")
	d.SLA = catalog.SLAPolicy{
		Targets: map[string]catalog.SLATarget{
			"normal": {Response: catalog.Duration(2 * time.Hour), Resolution: catalog.Duration(8 * time.Hour)},
			"high":   {Response: catalog.Duration(time.Hour), Resolution: catalog.Duration(4 * time.Hour)},
		},
		Warnings: []int{50, 75},
		Escalation: []catalog.EscalationLevel{
			{At: "75%", Notify: &catalog.NotifyTargets{People: []string{"grace"}}},
			{At: "breach", Reassign: "seniors"},
			{At: "breach+1h", RaisePriority: true},
		},
	}
	return d
}

// offsets lists "type@offset" of the timeline's SLA events, relative to the submission.
func (s *requestSuite) slaOffsets() []string {
	st := s.state()
	var out []string
	for _, e := range st.Timeline {
		if len(e.Type) > 4 && e.Type[:4] == "sla." {
			out = append(out, e.Type+"@"+e.At.Sub(st.SubmittedAt).String())
		}
	}
	return out
}

func (s *requestSuite) TestSLAInstantsAndEscalationLevels() {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	s.update(12*time.Hour, CompleteTaskUpdate, TaskInput{Actor: grace, Groups: []string{"seniors"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(slaDefinition()))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{
		"sla.warning@1h0m0s", // response 50%
		"sla.warning@1h30m0s",
		"sla.breached@2h0m0s", // response
		"sla.warning@4h0m0s",  // resolution 50%
		"sla.warning@6h0m0s",  // resolution 75%
		"sla.escalation@6h0m0s",
		"sla.escalation.notify@6h0m0s",
		"sla.breached@8h0m0s",
		"sla.escalation@8h0m0s",
		"sla.escalation.reassign@8h0m0s",
		"sla.escalation@9h0m0s",
		"sla.escalation.priority@9h0m0s",
		"sla.response_stopped@12h0m0s",
		"sla.resolution_stopped@12h0m0s",
	}, s.slaOffsets())
	st := s.state()
	s.Equal(3, st.EscalationLevel, "each level once, in order")
	s.True(st.Breached)
	s.Equal("high", st.Priority)
	s.Equal("seniors", st.Tasks[0].Group, "level 2 moved the open task")
	res := s.state().SLA[1]
	s.Equal(catalog.Duration(4*time.Hour), res.Target, "the raised priority re-targets the clock")
	s.False(*res.Met)
}

func (s *requestSuite) TestSLAPauseMovesTheInstants() {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	d := slaDefinition()
	d.SLA.Escalation = nil
	d.SLA.Warnings = nil
	// A policy in which a question is no response: the response clock pauses with the other.
	d.SLA.ResponseStopsOn = []string{catalog.StopDecision, catalog.StopClaim, catalog.StopComplete}
	s.update(time.Hour, AskTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare", Reason: "Which model?"})
	var paused catalog.RequestState
	s.env.RegisterDelayedCallback(func() { paused = s.state() }, 2*time.Hour)
	s.update(4*time.Hour, CommentUpdate, CommentInput{Actor: catalog.PersonRef{ID: "alice"}, Text: "The small one"})
	s.completeAt(14 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.True(paused.SLA[1].Paused)
	s.Nil(paused.SLA[1].DueAt, "a paused clock is not due")
	s.Equal(catalog.Duration(time.Hour), paused.SLA[1].Spent)
	// Response: 2h target, 1h spent before the pause, 1h more after 4h: breached at 5h.
	// Resolution: 8h target, paused from 1h to 4h: breached at 11h.
	s.Equal([]string{
		"sla.breached@5h0m0s",
		"sla.breached@11h0m0s",
		"sla.response_stopped@14h0m0s",
		"sla.resolution_stopped@14h0m0s",
	}, s.slaOffsets())
}

func (s *requestSuite) TestSLAOnTheBusinessCalendar() {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	london, _ := time.LoadLocation("Europe/London")
	friday := time.Date(2026, 11, 27, 16, 0, 0, 0, london)
	s.env.SetStartTime(friday)
	d := slaDefinition()
	d.SLA.Escalation = nil
	d.SLA.Warnings = nil
	d.SLA.Targets["normal"] = catalog.SLATarget{Response: catalog.Duration(time.Hour), Resolution: catalog.Duration(4 * time.Hour)}
	in := input(d)
	in.Calendar = calendar.Calendar{TimeZone: "Europe/London", Hours: map[string]string{
		"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}}
	var due *time.Time
	s.env.RegisterDelayedCallback(func() { due = s.state().DueAt }, time.Minute)
	s.completeAt(4 * 24 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.True(due.Equal(time.Date(2026, 11, 30, 12, 0, 0, 0, london)), "Friday 16:00 + 4 business hours is Monday 12:00, got %v", due)
	// The response breach (Friday 17:00) and the resolution breach (Monday 12:00), not before.
	s.Equal([]string{"sla.breached@1h0m0s", "sla.breached@68h0m0s", "sla.response_stopped@96h0m0s", "sla.resolution_stopped@96h0m0s"}, s.slaOffsets())
}

// quietSLA is slaDefinition with only the clocks: no warnings, no escalation.
func quietSLA() catalog.Definition {
	d := slaDefinition()
	d.SLA.Escalation = nil
	d.SLA.Warnings = nil
	return d
}

// TestSLAQuestionIsAResponse (issue 15 §4): a fulfiller's question to the requester is the
// first reply, so it stops the response clock (met); the resolution clock pauses until the
// answer.
func (s *requestSuite) TestSLAQuestionIsAResponse() {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	s.update(time.Hour, AskTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare", Reason: "Which model?"})
	s.update(4*time.Hour, CommentUpdate, CommentInput{Actor: catalog.PersonRef{ID: "alice"}, Text: "The small one"})
	s.completeAt(14 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(quietSLA()))
	s.Equal(catalog.StatusResolved, s.result().Status)
	// Resolution: 8h target, paused from 1h to 4h: breached at 11h. Response: stopped at 1h.
	s.Equal([]string{"sla.response_stopped@1h0m0s", "sla.breached@11h0m0s", "sla.resolution_stopped@14h0m0s"}, s.slaOffsets())
	s.True(*s.state().SLA[0].Met)
}

// TestSLARequestInfoIsAResponse: an approver's request_info stops the response clock too.
func (s *requestSuite) TestSLARequestInfoIsAResponse() {
	s.approvers(bob)
	d := quietSLA()
	d.Approval.Steps = []catalog.ApprovalStep{{Name: "manager", Mode: catalog.ModeAny, Approvers: catalog.Approvers{Manager: true}}}
	s.decide(30*time.Minute, bob, catalog.DecisionRequestInfo, "Which keyboard layout?")
	s.update(3*time.Hour, CommentUpdate, CommentInput{Actor: catalog.PersonRef{ID: "alice"}, Text: "UK, please"})
	s.decide(4*time.Hour, bob, catalog.DecisionApprove, "")
	s.completeAt(5 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{"sla.response_stopped@30m0s", "sla.resolution_stopped@5h0m0s"}, s.slaOffsets())
	st := s.state()
	s.True(*st.SLA[0].Met)
	s.Equal(catalog.Duration(30*time.Minute), st.SLA[0].Spent)
}

// TestSLACommentIsAResponse: a reply by someone other than the requester stops the response
// clock; the requester's own comment does not. A policy may leave comments out.
func (s *requestSuite) TestSLACommentIsAResponse() {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	s.update(20*time.Minute, CommentUpdate, CommentInput{Actor: catalog.PersonRef{ID: "alice"}, Text: "Any news?"})
	s.update(40*time.Minute, CommentUpdate, CommentInput{Actor: dave, Text: "On it"})
	s.completeAt(3 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(quietSLA()))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{"sla.response_stopped@40m0s", "sla.resolution_stopped@3h0m0s"}, s.slaOffsets())
}

func (s *requestSuite) TestSLAPolicyMayLeaveCommentsOut() {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	d := quietSLA()
	d.SLA.ResponseStopsOn = []string{catalog.StopClaim}
	s.update(40*time.Minute, CommentUpdate, CommentInput{Actor: dave, Text: "On it"})
	s.update(90*time.Minute, ClaimTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare"})
	s.completeAt(3 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{"sla.response_stopped@1h30m0s", "sla.resolution_stopped@3h0m0s"}, s.slaOffsets())
}

// TestSLAPriorityWithoutTargetFallsBack (issue 15 §1): a priority the policy has no target for
// (a definition applied before the rule) still gets the clocks: the default priority's.
func (s *requestSuite) TestSLAPriorityWithoutTargetFallsBack() {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	in := input(quietSLA())
	in.Priority = "critical"
	s.completeAt(10 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	st := s.state()
	s.Require().Len(st.SLA, 2, "a request is never without the clocks its service promises")
	s.Equal(catalog.Duration(8*time.Hour), st.SLA[1].Target, "the default priority's target")
	s.True(st.Breached)
	s.Contains(s.events(), "sla.fallback")
	s.Equal("critical", st.Priority)
}

// TestSLARevision2KeepsItsClocks: a request that started before revision 3 keeps what it did:
// a question does not stop the response clock, and a priority without targets has no clocks.
func (s *requestSuite) TestSLARevision2KeepsItsClocks() {
	s.env.OnGetVersion(RequestRevision, workflow.DefaultVersion, requestRevision).Return(workflow.Version(2))
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	s.update(time.Hour, AskTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare", Reason: "Which model?"})
	s.update(4*time.Hour, CommentUpdate, CommentInput{Actor: catalog.PersonRef{ID: "alice"}, Text: "The small one"})
	s.completeAt(14 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(quietSLA()))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{"sla.breached@5h0m0s", "sla.breached@11h0m0s", "sla.response_stopped@14h0m0s", "sla.resolution_stopped@14h0m0s"}, s.slaOffsets())
}

func (s *requestSuite) TestSLARevision2PriorityWithoutTarget() {
	s.env.OnGetVersion(RequestRevision, workflow.DefaultVersion, requestRevision).Return(workflow.Version(2))
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return nil })
	in := input(quietSLA())
	in.Priority = "critical"
	s.completeAt(time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Empty(s.state().SLA)
}
