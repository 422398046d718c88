package workflows

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/stretchr/testify/mock"
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
		if strings.HasPrefix(n.Subject, "Withdrawn by the requester: ") && n.Kind == "approval.cancelled" {
			told = n.To
		}
	}
	s.Equal([]string{"bob", "carol"}, told, "pending approvers are told")
}

// --- issue 15: nobody decides their own request; separation of duties; the bar never lowers ---

// twoSteps is a definition whose step 1 asks the requester's manager and step 2 a group.
func twoSteps(second catalog.ApprovalStep) catalog.Definition {
	d := definition(catalog.ModeAny, bob)
	second.Name = "second"
	second.Approvers = catalog.Approvers{Group: "second"}
	if second.Mode == "" {
		second.Mode = catalog.ModeAny
	}
	d.Approval.Steps = []catalog.ApprovalStep{
		{Name: "manager", Mode: catalog.ModeAny, Approvers: catalog.Approvers{Manager: true}},
		second,
	}
	return d
}

// byStep resolves step 1 to bob and step 2 to the people given (escalations to nobody).
func (s *requestSuite) byStep(second ...catalog.PersonRef) {
	s.directory(func(in activities.ResolveApproversInput) []catalog.PersonRef {
		switch {
		case in.Approvers.Manager:
			return []catalog.PersonRef{bob}
		case in.Approvers.Group == "second":
			return second
		}
		return nil
	})
}

// Alice is Bob's delegate and the requester: she may not approve "on behalf of Bob", and the
// refusal leaves no trace; nor may she decide if an older escalation had added her.
func (s *requestSuite) TestNobodyDecidesOwnRequest() {
	var dir *activities.Directory // alice among the approvers, as older code might have done
	s.env.OnActivity(dir.ResolveApprovers, mock.Anything, mock.Anything).Return(
		activities.ResolveApproversResult{Approvers: []catalog.PersonRef{bob, {ID: "alice", Name: "Alice Chen"}}, Named: 2}, nil)
	self := s.update(time.Minute, DecideUpdate, DecisionInput{Actor: catalog.PersonRef{ID: "alice"}, OnBehalfOf: []string{"bob"}, Decision: catalog.DecisionApprove})
	direct := s.decide(2*time.Minute, catalog.PersonRef{ID: "alice"}, catalog.DecisionApprove, "")
	s.decide(3*time.Minute, bob, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrForbidden, errType(self.rejected), "a delegate deciding their own request")
	s.Equal(ErrForbidden, errType(direct.rejected), "the requester among the approvers")
	for _, e := range s.state().Timeline {
		if e.Type != "submitted" && e.Type != "comment" {
			s.NotEqual("alice", e.Actor, "alice decided: %v", e)
		}
	}
}

// a) Bob decided step 1; step 2's escalation to managers must not add him (Carol's manager),
// and he may not decide step 2 even when an older escalation added him.
func (s *requestSuite) TestEscalationAddsNoEarlierDecider() {
	var dir *activities.Directory
	s.env.OnActivity(dir.ResolveApprovers, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ResolveApproversInput) (activities.ResolveApproversResult, error) {
			s.resolved = append(s.resolved, in)
			switch {
			case in.Approvers.Manager:
				return activities.ResolveApproversResult{Approvers: []catalog.PersonRef{bob}, Named: 1}, nil
			case len(in.ManagersOf) > 0:
				// Older code did not exclude earlier deciders: bob comes back regardless.
				return activities.ResolveApproversResult{Approvers: []catalog.PersonRef{bob}}, nil
			}
			return activities.ResolveApproversResult{Approvers: []catalog.PersonRef{carol}, Named: 1}, nil
		})
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	again := s.decide(3*time.Hour, bob, catalog.DecisionApprove, "")
	s.decide(4*time.Hour, carol, catalog.DecisionApprove, "")
	s.completeAt(5 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(twoSteps(catalog.ApprovalStep{
		Escalate: &catalog.Escalation{After: catalog.Duration(2 * time.Hour), To: "manager"}})))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrForbidden, errType(again.rejected), "the step-1 decider decides step 2")
	var escalation activities.ResolveApproversInput
	for _, in := range s.resolved {
		if len(in.ManagersOf) > 0 {
			escalation = in
		}
	}
	s.Contains(escalation.Exclude, "bob", "the escalation is told who may not decide")
}

// b) Erin is the delegate of Bob (step 1) and of Carol (step 2): having decided step 1 for Bob,
// she may not decide step 2 for Carol.
func (s *requestSuite) TestOneDelegateMayNotDecideTwoSteps() {
	s.byStep(carol, dave)
	s.update(time.Minute, DecideUpdate, DecisionInput{Actor: erin, OnBehalfOf: []string{"bob", "carol"}, Decision: catalog.DecisionApprove})
	twice := s.update(2*time.Minute, DecideUpdate, DecisionInput{Actor: erin, OnBehalfOf: []string{"bob", "carol"}, Decision: catalog.DecisionApprove})
	s.decide(3*time.Minute, dave, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(twoSteps(catalog.ApprovalStep{})))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrForbidden, errType(twice.rejected))
	s.Equal("dave", s.state().Approvals[1].Approvers[1].ID)
	s.Equal(catalog.DecisionApprove, s.state().Approvals[1].Approvers[1].Decision)
	s.Empty(s.state().Approvals[1].Approvers[0].Decision, "carol's slot stays undecided")
}

// c) Erin decided step 1 for Bob: Bob took part, so he is not asked in step 2, and may not
// decide it.
func (s *requestSuite) TestPrincipalOfADelegateMayNotDecideTheNextStep() {
	s.byStep(bob, carol)
	s.update(time.Minute, DecideUpdate, DecisionInput{Actor: erin, OnBehalfOf: []string{"bob"}, Decision: catalog.DecisionApprove})
	himself := s.decide(2*time.Minute, bob, catalog.DecisionApprove, "")
	s.decide(3*time.Minute, carol, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(twoSteps(catalog.ApprovalStep{})))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrForbidden, errType(himself.rejected))
	s.Contains(s.resolved[1].Exclude, "bob")
	s.Contains(s.resolved[1].Exclude, "erin")
	s.Equal([]string{"carol"}, []string{s.state().Approvals[1].Approvers[0].ID})
}

// The policy may allow repeat deciders: then Bob decides both steps (never his own request).
func (s *requestSuite) TestRepeatDecidersWhenThePolicySays() {
	s.byStep(bob)
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	again := s.decide(2*time.Minute, bob, catalog.DecisionApprove, "")
	s.completeAt(3 * time.Minute)
	d := twoSteps(catalog.ApprovalStep{})
	d.Approval.AllowRepeatDeciders = true
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.NoError(again.rejected)
}

// A quorum of 2 over Bob (step 1's decider), Carol and Alice (the requester) is not lowered to
// one: the step goes up (FillApprovers adds Grace) and needs both Carol and Grace.
func (s *requestSuite) TestQuorumNeverShrinks() {
	s.byStep(bob, carol, catalog.PersonRef{ID: "alice", Name: "Alice Chen"})
	s.filled = []catalog.PersonRef{grace}
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	s.decide(2*time.Minute, carol, catalog.DecisionApprove, "")
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 150*time.Second)
	s.decide(3*time.Minute, grace, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Minute)
	d := twoSteps(catalog.ApprovalStep{Mode: catalog.ModeQuorum, Quorum: 2,
		Escalate: &catalog.Escalation{After: catalog.Duration(24 * time.Hour), To: "manager"}})
	in := input(d)
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(catalog.StatusPendingApproval, mid.Status, "one approval of a quorum of two")
	a := s.state().Approvals[1]
	s.Equal(2, a.Required)
	s.Equal([]string{"carol", "grace"}, []string{a.Approvers[0].ID, a.Approvers[1].ID})
	s.Require().Len(s.fills, 1)
	s.Equal(1, s.fills[0].Need)
	s.Equal("manager", s.fills[0].Escalate.To, "the step's escalation is followed first")
	s.Contains(s.fills[0].Exclude, "bob")
	s.Contains(s.fills[0].Exclude, "carol", "an approver already is not added twice")
	s.Contains(s.fills[0].Named, "bob")
	s.Contains(s.events(), "approval.topped_up")
}

// "Manager, 2 levels, all" at the top of the org chart: one manager exists, the step names two
// levels, so it needs two approvals; the next person up is added.
func (s *requestSuite) TestAllOfTwoLevelsAtTheTop() {
	var dir *activities.Directory
	s.env.OnActivity(dir.ResolveApprovers, mock.Anything, mock.Anything).Return(
		activities.ResolveApproversResult{Approvers: []catalog.PersonRef{grace}, Named: 2}, nil)
	s.filled = []catalog.PersonRef{ivan}
	s.decide(time.Minute, grace, catalog.DecisionApprove, "")
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 90*time.Second)
	s.decide(2*time.Minute, ivan, catalog.DecisionApprove, "")
	s.completeAt(3 * time.Minute)
	d := definition(catalog.ModeAll, bob)
	d.Approval.Steps[0].Approvers.Levels = 2
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(catalog.StatusPendingApproval, mid.Status)
	s.Equal(2, s.state().Approvals[0].Required)
	s.Equal(2, s.fills[0].Levels)
}

// Nobody left at all: the request is not failed; the step waits, pending, and says why, until
// the requester withdraws it.
func (s *requestSuite) TestNobodyLeftWaits() {
	s.approvers()
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, time.Hour)
	s.update(2*time.Hour, CancelUpdate, CancelInput{Actor: catalog.PersonRef{ID: "alice"}})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	s.Equal(catalog.StatusCancelled, s.result().Status)
	s.Equal(catalog.StatusPendingApproval, mid.Status)
	s.Contains(s.events(), "approval.understaffed")
	told := false
	for _, n := range s.notified {
		told = told || slices.Contains(n.To, "oscar") && strings.HasPrefix(n.Subject, "Nobody may decide")
	}
	s.True(told, "the operators are told that nobody may decide: %+v", s.notified)
}

// The state carries who may not decide the open step, for the inbox, by the rules the
// validator applies: Erin decided step 1 for Bob and Carol decided step 2 herself; then Alice
// (the requester), Bob, Erin and Carol may not decide step 2, and nobody may for Alice, Bob or
// Erin. Each is refused; Dave, whom it does not name, decides.
func (s *requestSuite) TestBarredIsWhomTheValidatorRefuses() {
	s.byStep(carol, dave, grace)
	s.update(time.Minute, DecideUpdate, DecisionInput{Actor: erin, OnBehalfOf: []string{"bob"}, Decision: catalog.DecisionApprove})
	s.decide(2*time.Minute, carol, catalog.DecisionApprove, "")
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 3*time.Minute)
	refused := map[string]*outcome{}
	for i, who := range []catalog.PersonRef{{ID: "alice"}, bob, erin, carol} {
		refused[who.ID] = s.decide(4*time.Minute+time.Duration(i)*time.Second, who, catalog.DecisionApprove, "")
	}
	s.decide(6*time.Minute, dave, catalog.DecisionApprove, "")
	s.completeAt(7 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(twoSteps(catalog.ApprovalStep{Mode: catalog.ModeQuorum, Quorum: 2})))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{"alice", "bob", "carol", "erin"}, mid.Barred)
	s.Equal([]string{"alice", "bob", "erin"}, mid.BarredOnBehalf)
	for _, id := range mid.Barred {
		s.Error(refused[id].rejected, "%s is barred but the validator accepts them", id)
	}
	s.Equal(ErrConflict, errType(refused["carol"].rejected))
	// The read model got the same: the last state projected with someone barred (the states
	// recorded share their approvals with the workflow's, but Barred is new each time).
	var last catalog.RequestState
	for _, st := range s.projected {
		if st.Barred != nil {
			last = st
		}
	}
	s.Equal(mid.Barred, last.Barred)
	s.Equal(mid.BarredOnBehalf, last.BarredOnBehalf)
	s.Empty(s.state().Barred, "nobody is barred once no step is open")
}

// With repeat deciders allowed, only the requester and who decided the open step are barred.
func (s *requestSuite) TestBarredWithRepeatDeciders() {
	s.byStep(bob, carol)
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 2*time.Minute)
	s.decide(3*time.Minute, bob, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Minute)
	d := twoSteps(catalog.ApprovalStep{})
	d.Approval.AllowRepeatDeciders = true
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{"alice"}, mid.Barred)
	s.Equal([]string{"alice"}, mid.BarredOnBehalf)
}

// An escalation adds nobody who decided the step already as someone's delegate: Erin decided
// step 2 for Dave; the escalation to the "esc" group (Erin) does not add her nor tell her the
// step was escalated to her, which she could not decide (issue 15 §1).
func (s *requestSuite) TestEscalationAddsNoDelegateWhoDecidedTheStep() {
	s.directory(func(in activities.ResolveApproversInput) []catalog.PersonRef {
		switch {
		case in.Approvers.Manager:
			return []catalog.PersonRef{bob}
		case in.Approvers.Group == "second":
			return []catalog.PersonRef{carol, dave}
		case in.Approvers.Group == "esc":
			return []catalog.PersonRef{erin}
		}
		return nil
	})
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	s.update(2*time.Minute, DecideUpdate, DecisionInput{Actor: erin, OnBehalfOf: []string{"dave"}, Decision: catalog.DecisionApprove})
	s.decide(3*time.Hour, carol, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(twoSteps(catalog.ApprovalStep{Mode: catalog.ModeAll,
		Escalate: &catalog.Escalation{After: catalog.Duration(2 * time.Hour), To: "group", Group: "esc"}})))
	s.Equal(catalog.StatusResolved, s.result().Status)
	for _, a := range s.state().Approvals[1].Approvers {
		s.NotEqual("erin", a.ID, "the escalation added erin, who decided the step for dave")
	}
	for _, n := range s.notified {
		if strings.HasPrefix(n.Subject, "Escalated") {
			s.NotContains(n.To, "erin")
		}
	}
}
