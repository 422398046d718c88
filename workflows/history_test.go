package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// Issue 16 §8: a request's history stays bounded: the state keeps the latest events, comments
// are bounded, and a request that lives long continues as new with its clocks and tasks intact.

// call is an update a scenario sends at an offset from the submission.
type call struct {
	at   time.Duration
	name string
	arg  any
}

// ran is how a scenario ended: the final state, the result, and what each continue-as-new
// handed the next run.
type ran struct {
	state     catalog.RequestState
	result    RequestResult
	continued []*Continued
	notified  []activities.Notification
	resolved  int
}

// poke is the requester's comment that wakes the workflow at a point of rest (every scenario
// sends it, with or without a continue-as-new, so that both histories hold the same events).
func poke() CommentInput {
	return CommentInput{Actor: catalog.PersonRef{ID: alice.ID, Name: alice.Name}, Text: "any news?"}
}

// scenario runs in (after setup registered the fakes) with calls, and continues it as new at
// each of cans (offsets from the submission): the first by the server's suggestion, the next by
// the history length passing Bounds.ContinueAfter. Each run after the first is a new test
// environment started at the instant the last one ended, as the server would start it.
func (s *requestSuite) scenario(in RequestInput, setup func(), calls []call, pokes []time.Duration, cans []time.Duration) ran {
	var out ran
	var base time.Time
	elapsed := time.Duration(0)
	base = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)
	for run := 0; ; run++ {
		if run == 0 {
			s.env.SetStartTime(base)
		}
		if run > 0 {
			now := s.env.Now()
			out.notified = append(out.notified, s.notified...)
			out.resolved += len(s.resolved)
			s.SetupTest()
			s.env.SetStartTime(now)
			elapsed = now.Sub(base)
		}
		setup()
		until := time.Duration(1 << 62)
		if run < len(cans) {
			until = cans[run]
			at := cans[run] - elapsed
			if run == 0 {
				s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, at)
			} else {
				s.env.RegisterDelayedCallback(func() { s.env.SetCurrentHistoryLength(in.Bounds.ContinueAfter + 1) }, at)
			}
		}
		for _, c := range calls {
			if c.at >= elapsed && c.at < until {
				s.update(c.at-elapsed, c.name, c.arg)
			}
		}
		for _, p := range pokes {
			if p >= elapsed && p < until {
				s.update(p-elapsed, CommentUpdate, poke())
			}
		}
		s.env.ExecuteWorkflow(ServiceRequest, in)
		s.Require().True(s.env.IsWorkflowCompleted())
		var can *workflow.ContinueAsNewError
		if err := s.env.GetWorkflowError(); errors.As(err, &can) {
			s.Require().Less(run, len(cans), "a continue-as-new nobody asked for")
			var next RequestInput
			s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
			s.Require().NotNil(next.Continued)
			s.Equal(base.Add(cans[run]), s.env.Now().UTC(), "it continued as new at the point of rest the poke made")
			out.continued = append(out.continued, next.Continued)
			in = next
			continue
		}
		s.Require().Equal(len(cans), run, "every continue-as-new happened")
		out.result = s.result()
		out.state = s.state()
		out.notified = append(out.notified, s.notified...)
		out.resolved += len(s.resolved)
		return out
	}
}

// timeline lists "seq type@offset" of a state's events, relative to the submission.
func timeline(st catalog.RequestState) []string {
	var out []string
	for _, e := range st.Timeline {
		out = append(out, fmt.Sprintf("%d %s@%s", e.Seq, e.Type, e.At.Sub(st.SubmittedAt)))
	}
	return out
}

func subjects(ns []activities.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, strings.Join(n.To, ",")+": "+n.Subject)
	}
	return out
}

// midApproval: a two-step approval with a reminder and an expiry, beside SLA clocks with
// warnings and escalations; the request continues as new twice while the second step waits.
func midApproval() (RequestInput, []call, []time.Duration) {
	d := slaDefinition()
	d.Approval.Steps = []catalog.ApprovalStep{
		{Name: "manager", Mode: catalog.ModeAny, Approvers: catalog.Approvers{Manager: true}},
		{Name: "board", Mode: catalog.ModeAll, Approvers: catalog.Approvers{Group: "board"},
			RemindAfter: catalog.Duration(2 * time.Hour), Expire: &catalog.Expiry{After: catalog.Duration(10 * time.Hour), Outcome: catalog.OutcomeReject}},
	}
	in := input(d)
	in.Bounds = &Bounds{ContinueAfter: 500}
	calls := []call{
		{10 * time.Minute, DecideUpdate, DecisionInput{Actor: bob, Decision: catalog.DecisionApprove}},
		{50 * time.Minute, DecideUpdate, DecisionInput{Actor: carol, Decision: catalog.DecisionApprove}},
		{3 * time.Hour, DecideUpdate, DecisionInput{Actor: erin, Decision: catalog.DecisionApprove}},
		{5 * time.Hour, CompleteTaskUpdate, TaskInput{Actor: grace, Groups: []string{"seniors", "it-service-desk"}, Task: "prepare"}},
	}
	return in, calls, []time.Duration{30 * time.Minute, 90 * time.Minute}
}

func (s *requestSuite) boardDirectory() func() {
	return func() {
		s.directory(func(in activities.ResolveApproversInput) []catalog.PersonRef {
			if in.Approvers.Manager {
				return []catalog.PersonRef{bob}
			}
			return []catalog.PersonRef{carol, erin}
		})
	}
}

func (s *requestSuite) TestContinueAsNewMidApproval() {
	in, calls, pokes := midApproval()
	once := s.scenario(in, s.boardDirectory(), calls, pokes, nil)
	s.Equal(catalog.StatusResolved, once.result.Status)

	s.SetupTest()
	twice := s.scenario(in, s.boardDirectory(), calls, pokes, pokes)
	s.Equal(catalog.StatusResolved, twice.result.Status)
	s.Require().Len(twice.continued, 2)
	s.Equal(catalog.StatusPendingApproval, twice.continued[0].State.Status)
	s.Equal("approval: board", twice.continued[0].State.Stage, "it continued while the board's step waited")
	s.Equal(int(requestRevision), twice.continued[1].Revision)
	s.Equal(1, twice.continued[1].Runs)
	s.Equal(timeline(once.state), timeline(twice.state),
		"the same events at the same instants: the reminder at 2 h, the SLA warnings, breaches and levels on the clocks of the submission")
	s.Contains(timeline(twice.state), "9 approval.reminded@2h10m0s", "the reminder 2 h after the step opened, across two runs")
	s.Contains(timeline(twice.state), "12 sla.warning@4h0m0s", "the resolution clock's 50% on the submission's clock")
	// Sorted: two notifications sent in one workflow task (approved, and the task's queue) run
	// as activities side by side and reach the test's mock in either order.
	s.Equal(slices.Sorted(slices.Values(subjects(once.notified))), slices.Sorted(slices.Values(subjects(twice.notified))), "nobody is asked or told twice")
	s.Equal(once.resolved, twice.resolved, "no step resolves its approvers again")
	s.Equal(once.state.SLA, twice.state.SLA)
	s.Equal(once.state.Approvals, twice.state.Approvals)
}

// midFulfilment: the onboarding plan with SLA clocks; the request continues as new while the
// laptop is in the desk's queue, after two automated tasks did their calls.
func midFulfilment() (RequestInput, []call, []time.Duration) {
	in := onboardingInput("berlin")
	in.Definition.SLA = slaDefinition().SLA
	in.Bounds = &Bounds{ContinueAfter: 500}
	calls := []call{
		{20 * time.Minute, ClaimTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "laptop"}},
		{3 * time.Hour, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "laptop"}},
		{9 * time.Hour, CompleteTaskUpdate, TaskInput{Actor: grace, Groups: []string{"seniors", "hr"}, Task: "welcome"}},
	}
	return in, calls, []time.Duration{time.Hour, 4*time.Hour + 30*time.Minute}
}

func (s *requestSuite) TestContinueAsNewMidFulfilment() {
	in, plan, pokes := midFulfilment()
	c1 := &calls{}
	once := s.scenario(in, func() { s.endpoints(c1) }, plan, pokes, nil)
	s.Equal(catalog.StatusResolved, once.result.Status)

	s.SetupTest()
	c2 := &calls{}
	twice := s.scenario(in, func() { s.endpoints(c2) }, plan, pokes, pokes)
	s.Equal(catalog.StatusResolved, twice.result.Status)
	s.Require().Len(twice.continued, 2)
	s.Equal(catalog.StatusInFulfilment, twice.continued[0].State.Status)
	s.Equal([]string{"hr-record", "accounts"}, twice.continued[0].Completed, "what to undo goes with the request")
	s.Equal(timeline(once.state), timeline(twice.state), "the same events at the same instants: the SLA levels on the submission's clocks, desk skipped once")
	s.Equal(c1.keys(), c2.keys(), "each call once, with its idempotency key")
	s.Equal(once.state.Tasks, twice.state.Tasks)
	s.Equal(once.state.SLA, twice.state.SLA)
}

// TestContinueAsNewThenCancelCompensates: the automated tasks completed before a
// continue-as-new are undone, newest first, when the requester withdraws after it.
func (s *requestSuite) TestContinueAsNewThenCancelCompensates() {
	in, _, _ := midFulfilment()
	c := &calls{}
	plan := []call{{2 * time.Hour, CancelUpdate, CancelInput{Actor: catalog.PersonRef{ID: alice.ID, Name: alice.Name}, Reason: "changed my mind"}}}
	r := s.scenario(in, func() { s.endpoints(c) }, plan, []time.Duration{time.Hour}, []time.Duration{time.Hour})
	s.Equal(catalog.StatusCancelled, r.result.Status)
	s.Equal([]string{
		"POST http://hr.test/records REQ-000042.hr-record",
		"POST http://it.test/accounts REQ-000042.accounts",
		"DELETE http://it.test/accounts/jnew REQ-000042.accounts.compensate",
		"DELETE http://hr.test/records/HR-7 REQ-000042.hr-record.compensate",
	}, c.keys())
}

// TestTimelineKeepsTheLatest: the state keeps the latest Kept events, each trimmed only once
// the read model had it; every event reached the read model.
func (s *requestSuite) TestTimelineKeepsTheLatest() {
	s.approvers(bob)
	in := input(definition(catalog.ModeAny, bob))
	in.Bounds = &Bounds{Kept: 5}
	for i := 1; i <= 30; i++ {
		s.update(time.Duration(i)*time.Minute, CommentUpdate, CommentInput{Actor: bob, Text: fmt.Sprintf("comment %d", i)})
	}
	s.decide(time.Hour, bob, catalog.DecisionApprove, "")
	s.completeAt(2 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	st := s.state()
	s.LessOrEqual(len(st.Timeline), 5)
	last := st.Timeline[len(st.Timeline)-1]
	s.Equal(catalog.StatusResolved, last.Type)
	projected := map[int]string{}
	for _, p := range s.projected {
		for _, e := range p.Timeline {
			projected[e.Seq] = e.Type
		}
		s.LessOrEqual(len(p.Timeline), 5+2, "a projection carries the kept events and the new ones")
	}
	for seq := 1; seq <= last.Seq; seq++ {
		s.Contains(projected, seq, "event %d reached the read model", seq)
	}
	s.Equal("comment", projected[5])
	for i := 1; i < len(st.Timeline); i++ {
		s.Equal(st.Timeline[i-1].Seq+1, st.Timeline[i].Seq, "seqs run on after trimming")
	}
	s.Greater(last.Seq, 30, "every comment has its seq")
}

// TestCommentsAreBounded: past Bounds.Comments, a comment is refused before it enters history.
func (s *requestSuite) TestCommentsAreBounded() {
	s.approvers(bob)
	in := input(definition(catalog.ModeAny, bob))
	in.Bounds = &Bounds{Comments: 3}
	var outs []*outcome
	for i := 1; i <= 4; i++ {
		outs = append(outs, s.update(time.Duration(i)*time.Minute, CommentUpdate, CommentInput{Actor: bob, Text: "again"}))
	}
	s.decide(time.Hour, bob, catalog.DecisionApprove, "")
	s.completeAt(2 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	for _, o := range outs[:3] {
		s.NoError(o.rejected)
		s.True(o.done)
	}
	s.Equal(ErrConflict, errType(outs[3].rejected))
	s.Contains(outs[3].rejected.Error(), "3 comments")
}
