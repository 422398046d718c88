package workflows

import (
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
)

var (
	erin  = catalog.PersonRef{ID: "erin", Name: "Erin Park"}
	grace = catalog.PersonRef{ID: "grace", Name: "Grace Liu"}
	desk  = []string{"it-service-desk"}
)

// step builds a one-step definition.
func oneStep(st catalog.ApprovalStep) catalog.Definition {
	d := definition(catalog.ModeAny, bob)
	if st.Name == "" {
		st.Name = "board"
	}
	st.Approvers = catalog.Approvers{Group: "board"}
	d.Approval.Steps = []catalog.ApprovalStep{st}
	return d
}

func (s *requestSuite) decide(at time.Duration, who catalog.PersonRef, decision, comment string) *outcome {
	return s.update(at, DecideUpdate, DecisionInput{Actor: who, Decision: decision, Comment: comment})
}

func (s *requestSuite) completeAt(at time.Duration) {
	s.update(at, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare"})
}

func (s *requestSuite) events() []string {
	var out []string
	for _, e := range s.state().Timeline {
		out = append(out, e.Type)
	}
	return out
}

func (s *requestSuite) TestModeQuorum() {
	s.approvers(bob, carol, erin)
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	s.decide(2*time.Minute, carol, catalog.DecisionReject, "no budget")
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 150*time.Second)
	s.decide(3*time.Minute, erin, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(oneStep(catalog.ApprovalStep{Mode: catalog.ModeQuorum, Quorum: 2})))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(catalog.StatusPendingApproval, mid.Status, "one rejection does not sink a quorum that can still be reached")
	s.Equal(2, s.state().Approvals[0].Required)
}

func (s *requestSuite) TestModeQuorumOutOfReach() {
	s.approvers(bob, carol, erin)
	s.decide(time.Minute, bob, catalog.DecisionReject, "no")
	s.decide(2*time.Minute, carol, catalog.DecisionReject, "no")
	s.env.ExecuteWorkflow(ServiceRequest, input(oneStep(catalog.ApprovalStep{Mode: catalog.ModeQuorum, Quorum: 2})))
	s.Equal(catalog.StatusRejected, s.result().Status, "two of three rejected: a quorum of two is out of reach")
}

func (s *requestSuite) TestModePercent() {
	s.approvers(bob, carol, erin, grace)
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 90*time.Second)
	s.decide(2*time.Minute, grace, catalog.DecisionApprove, "")
	s.completeAt(3 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(oneStep(catalog.ApprovalStep{Mode: catalog.ModePercent, Percent: 50})))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(catalog.StatusPendingApproval, mid.Status)
	s.Equal(2, s.state().Approvals[0].Required, "50% of four")
}

func (s *requestSuite) TestModeAnyRejection() {
	s.approvers(bob, carol)
	s.decide(time.Minute, carol, catalog.DecisionReject, "not needed")
	late := s.decide(time.Minute, bob, catalog.DecisionApprove, "") // the same moment, just after
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob, carol)))
	s.Equal(catalog.StatusRejected, s.result().Status)
	s.Equal(ErrConflict, errType(late.rejected), "the first decision settles an any step")
}

func (s *requestSuite) TestReminderEscalationExpiryApprove() {
	s.directory(func(in activities.ResolveApproversInput) []catalog.PersonRef {
		if slices.Contains(in.ManagersOf, "bob") {
			return []catalog.PersonRef{grace}
		}
		return []catalog.PersonRef{bob}
	})
	s.completeAt(4 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(oneStep(catalog.ApprovalStep{
		Mode:        catalog.ModeAny,
		RemindAfter: catalog.Duration(time.Hour),
		Escalate:    &catalog.Escalation{After: catalog.Duration(2 * time.Hour), To: "manager"},
		Expire:      &catalog.Expiry{After: catalog.Duration(3 * time.Hour), Outcome: catalog.OutcomeApprove},
	})))
	// Nobody decides: reminded at 1h, escalated to bob's manager at 2h, approved by default at 3h.
	s.Equal(catalog.StatusResolved, s.result().Status)
	st := s.state()
	a := st.Approvals[0]
	s.Equal(catalog.ApprovalApproved, a.Status)
	s.Equal("expired: approve", a.Outcome)
	s.Len(a.Approvers, 2)
	s.Equal("grace", a.Approvers[1].ID)
	s.Equal("escalation", a.Approvers[1].AddedBy)
	s.Equal(3*time.Hour, a.ClosedAt.Sub(a.OpenedAt))
	ev := s.events()
	for _, want := range []string{"approval.reminded", "approval.escalated", "approval.expired", "task.opened"} {
		s.Contains(ev, want)
	}
	var subjects []string
	for _, n := range s.notified {
		subjects = append(subjects, n.Subject+" -> "+strings.Join(n.To, ","))
	}
	s.Contains(subjects, "Reminder: approval needed: Laptop for Alice Chen -> bob")
	s.Contains(subjects, "Escalated to you: Laptop for Alice Chen -> grace")
	s.Contains(subjects, "Expired: Laptop for Alice Chen -> bob,grace")
}

func (s *requestSuite) TestEscalationToGroupCanDecide() {
	s.directory(func(in activities.ResolveApproversInput) []catalog.PersonRef {
		if in.Approvers.Group == "seniors" {
			return []catalog.PersonRef{grace}
		}
		return []catalog.PersonRef{bob}
	})
	early := s.decide(30*time.Minute, grace, catalog.DecisionApprove, "")
	late := s.decide(3*time.Hour, grace, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(oneStep(catalog.ApprovalStep{
		Escalate: &catalog.Escalation{After: catalog.Duration(2 * time.Hour), To: "group", Group: "seniors"},
	})))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrForbidden, errType(early.rejected), "not an approver before the escalation")
	s.NoError(late.rejected)
}

func (s *requestSuite) TestExpiryRejects() {
	s.approvers(bob)
	s.env.ExecuteWorkflow(ServiceRequest, input(oneStep(catalog.ApprovalStep{
		Expire: &catalog.Expiry{After: catalog.Duration(48 * time.Hour), Outcome: catalog.OutcomeReject}})))
	r := s.result()
	s.Equal(catalog.StatusRejected, r.Status)
	s.Contains(r.Reason, "expired")
}

func (s *requestSuite) TestExpiryCancels() {
	s.approvers(bob)
	s.env.ExecuteWorkflow(ServiceRequest, input(oneStep(catalog.ApprovalStep{
		Expire: &catalog.Expiry{After: catalog.Duration(48 * time.Hour), Outcome: catalog.OutcomeCancel}})))
	r := s.result()
	s.Equal(catalog.StatusCancelled, r.Status)
	s.Contains(r.Reason, "expired")
}

func (s *requestSuite) TestDelegation() {
	s.approvers(bob)
	stranger := s.update(time.Minute, DecideUpdate, DecisionInput{Actor: erin, Decision: catalog.DecisionApprove})
	delegate := s.update(2*time.Minute, DecideUpdate, DecisionInput{Actor: erin, OnBehalfOf: []string{"bob"}, Decision: catalog.DecisionApprove, Comment: "bob is away"})
	bobLate := s.decide(3*time.Minute, bob, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrForbidden, errType(stranger.rejected))
	s.NoError(delegate.rejected)
	s.Equal(ErrConflict, errType(bobLate.rejected))
	a := s.state().Approvals[0].Approvers[0]
	s.Equal("bob", a.ID)
	s.Equal("erin", a.DecidedBy.ID)
	var decided catalog.Event
	for _, e := range s.state().Timeline {
		if e.Type == "approval.approve" {
			decided = e
		}
	}
	s.Equal("erin", decided.Actor)
	s.Contains(decided.Detail, "on behalf of Bob Ruiz")
}

func (s *requestSuite) TestAutoApproval() {
	s.approvers(bob)
	s.completeAt(time.Minute)
	d := definition(catalog.ModeAny, bob)
	d.Approval.AutoApprove = "quote.total < 100"
	in := input(d)
	in.Quote = &catalog.Quote{Total: 4999}
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Empty(s.state().Approvals)
	s.Contains(s.events(), "approval.auto")
	s.Empty(s.resolved, "nobody was asked")
}

func (s *requestSuite) TestNoAutoApprovalAboveThreshold() {
	s.approvers(bob)
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	s.completeAt(2 * time.Minute)
	d := definition(catalog.ModeAny, bob)
	d.Approval.AutoApprove = "quote.total < 100"
	in := input(d)
	in.Quote = &catalog.Quote{Total: 50000}
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Len(s.state().Approvals, 1)
}

func (s *requestSuite) TestConditionalStepAndSeparationOfDuties() {
	s.approvers(bob, carol)
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	s.decide(2*time.Minute, carol, catalog.DecisionApprove, "")
	s.completeAt(3 * time.Minute)
	d := definition(catalog.ModeAny, bob)
	d.Approval.Steps = []catalog.ApprovalStep{
		{Name: "manager", Mode: catalog.ModeAny, Approvers: catalog.Approvers{Manager: true}},
		{Name: "finance", Mode: catalog.ModeAny, When: "quote.total > 1000", Approvers: catalog.Approvers{Group: "finance"}},
		{Name: "huge", Mode: catalog.ModeAny, When: "quote.total > 100000", Approvers: catalog.Approvers{Group: "board"}},
	}
	in := input(d)
	in.Quote = &catalog.Quote{Total: 250000} // 2,500.00
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	st := s.state()
	s.Len(st.Approvals, 2, "the third step's condition does not hold")
	s.Contains(s.events(), "approval.skipped")
	// Bob decided the first step, so he is excluded from the second, which carol decides.
	s.Len(s.resolved, 2)
	s.Contains(s.resolved[1].Exclude, "bob")
	s.Equal([]string{"carol"}, []string{st.Approvals[1].Approvers[0].ID})
}

func (s *requestSuite) TestRequestInfoPausesTheDeadlines() {
	s.approvers(bob)
	ask := s.decide(time.Hour, bob, catalog.DecisionRequestInfo, "Which keyboard layout?")
	var waiting catalog.RequestState
	s.env.RegisterDelayedCallback(func() { waiting = s.state() }, 2*time.Hour)
	answer := s.update(5*time.Hour, CommentUpdate, CommentInput{Actor: catalog.PersonRef{ID: "alice"}, Text: "UK, please"})
	s.env.ExecuteWorkflow(ServiceRequest, input(oneStep(catalog.ApprovalStep{
		Expire: &catalog.Expiry{After: catalog.Duration(3 * time.Hour), Outcome: catalog.OutcomeReject}})))
	r := s.result()
	s.NoError(ask.rejected)
	s.NoError(answer.rejected)
	s.Equal(catalog.StatusWaitingOnRequester, waiting.Status)
	s.Equal(catalog.StatusRejected, r.Status)
	a := s.state().Approvals[0]
	// Opened at 0, asked at 1h, answered at 5h: the 3h expiry moved by the 4h wait to 7h.
	s.Equal(7*time.Hour, a.ClosedAt.Sub(a.OpenedAt))
	s.Subset(s.events(), []string{"approval.info_requested", "comment", "info.answered", "approval.expired"})
}

func (s *requestSuite) TestCancelWhilePending() {
	s.approvers(bob, carol)
	notMine := s.update(time.Minute, CancelUpdate, CancelInput{Actor: bob, Reason: "no"})
	s.update(2*time.Minute, CancelUpdate, CancelInput{Actor: catalog.PersonRef{ID: "alice"}, Reason: "found a spare one"})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAll, bob, carol)))
	r := s.result()
	s.Equal(catalog.StatusCancelled, r.Status)
	s.Contains(r.Reason, "found a spare one")
	s.Equal(ErrForbidden, errType(notMine.rejected))
	var told []string
	for _, n := range s.notified {
		if strings.HasPrefix(n.Subject, "Withdrawn") {
			told = n.To
		}
	}
	s.Equal([]string{"bob", "carol"}, told, "pending approvers are told")
}
