package workflows

import (
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
)

// People leaving and moving (issue 22): DirectoryChangeUpdate on a request in flight.

var helen = catalog.PersonRef{ID: "helen", Name: "Helen Ortiz"}

// managers resolves the manager step from the requester's manager, and the managers of the
// people named in ManagersOf from chart.
func (s *requestSuite) managers(chart map[string]catalog.PersonRef) {
	s.directory(func(in activities.ResolveApproversInput) []catalog.PersonRef {
		var out []catalog.PersonRef
		if in.Approvers.Manager {
			if m, ok := map[string]catalog.PersonRef{"bob": bob, "helen": helen}[in.Requester.Manager]; ok {
				out = append(out, m)
			}
		}
		for _, id := range in.ManagersOf {
			if m, ok := chart[id]; ok {
				out = append(out, m)
			}
		}
		return out
	})
}

func left(key string, who catalog.PersonRef) DirectoryChangeInput {
	return DirectoryChangeInput{Key: key, Kind: ChangeLeft, Person: who, Detail: "deactivated in the identity provider"}
}

func (s *requestSuite) eventDetails(typ string) []string {
	var out []string
	for _, e := range s.state().Timeline {
		if e.Type == typ {
			out = append(out, e.Detail)
		}
	}
	return out
}

// A leaver's pending approval goes to their manager, the audit trail says why, the leaver can
// no longer decide and the manager can; the same change sent again (the same update id) does
// nothing more. The task a leaver holds goes back to its group's queue.
func (s *requestSuite) TestLeaverApprovalAndTask() {
	s.managers(map[string]catalog.PersonRef{"bob": helen})
	first := s.updateWithID(time.Minute, DirectoryChangeUpdateID("left/bob/1"), DirectoryChangeUpdate, left("left/bob/1", bob))
	again := s.updateWithID(90*time.Second, DirectoryChangeUpdateID("left/bob/1"), DirectoryChangeUpdate, left("left/bob/1", bob))
	byLeaver := s.decide(2*time.Minute, bob, catalog.DecisionApprove, "")
	s.decide(3*time.Minute, helen, catalog.DecisionApprove, "")
	s.update(4*time.Minute, ClaimTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare"})
	var held, back catalog.RequestState
	s.env.RegisterDelayedCallback(func() { held = s.state() }, 4*time.Minute+time.Second)
	daveLeft := s.updateWithID(5*time.Minute, DirectoryChangeUpdateID("left/dave/1"), DirectoryChangeUpdate, left("left/dave/1", dave))
	s.env.RegisterDelayedCallback(func() { back = s.state() }, 5*time.Minute+time.Second)
	s.update(6*time.Minute, CompleteTaskUpdate, TaskInput{Actor: carol, Groups: desk, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))

	s.NoError(first.rejected)
	s.NoError(first.err)
	s.NoError(again.rejected)
	s.NoError(daveLeft.err)
	s.Equal(ErrForbidden, errType(byLeaver.rejected), "the leaver no longer decides")
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{`approver left: Bob Ruiz was deactivated in the identity provider; step "manager" now waits on Helen Ortiz (Bob Ruiz's manager)`},
		s.eventDetails("approval.reassigned"), "once, though the change came twice")
	st := s.state()
	s.Equal("helen", st.Approvals[0].Approvers[0].ID)
	s.Equal(catalog.DecisionApprove, st.Approvals[0].Approvers[0].Decision)
	s.Len(st.Approvals[0].Approvers, 1)
	s.Equal("dave", held.Tasks[0].Assignee)
	s.Equal(catalog.TaskOpen, back.Tasks[0].State, "back in the queue")
	s.Empty(back.Tasks[0].Assignee)
	s.Equal([]string{"assignee left: Dave Kim was deactivated in the identity provider; Prepare is back in the it-service-desk queue"}, s.eventDetails("task.unassigned"))
	var told []string
	for _, n := range s.notified {
		told = append(told, n.Kind+" -> "+strings.Join(slices.Concat(n.To, n.Groups), ","))
	}
	s.Contains(told, "approval.requested -> helen")
	s.Contains(told, "task.returned -> it-service-desk")
}

// The leaver's manager is the requester: nobody decides their own request, so the step goes up
// the organisation as a step with too few approvers does (the fill resolver).
func (s *requestSuite) TestLeaverManagerIsTheRequester() {
	s.managers(map[string]catalog.PersonRef{"bob": {ID: alice.ID, Name: alice.Name}})
	s.filled = []catalog.PersonRef{grace}
	s.updateWithID(time.Minute, DirectoryChangeUpdateID("left/bob/1"), DirectoryChangeUpdate, left("left/bob/1", bob))
	s.decide(2*time.Minute, grace, catalog.DecisionApprove, "")
	s.completeAt(3 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Require().Len(s.fills, 1)
	s.Contains(s.fills[0].Exclude, "bob")
	s.Equal([]string{`approver left: Bob Ruiz was deactivated in the identity provider; step "manager" now waits on Grace Liu (head of IT, the department providing the service)`},
		s.eventDetails("approval.reassigned"))
}

// A requester who moves to a new manager: the open manager step waits on the new manager, the
// old one no longer decides; a decision already made stays.
func (s *requestSuite) TestMoverPendingStepReResolves() {
	s.managers(nil)
	moved := DirectoryChangeInput{Key: "moved/alice/1", Kind: ChangeMoved, Person: catalog.PersonRef{ID: alice.ID, Name: alice.Name},
		Detail: "manager bob -> helen, department engineering -> engineering", Manager: "helen", Department: "engineering"}
	s.updateWithID(time.Minute, DirectoryChangeUpdateID(moved.Key), DirectoryChangeUpdate, moved)
	old := s.decide(90*time.Second, bob, catalog.DecisionApprove, "")
	s.decide(2*time.Minute, helen, catalog.DecisionApprove, "")
	s.completeAt(3 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrForbidden, errType(old.rejected), "the old manager no longer decides")
	s.Equal([]string{`requester moved: Alice Chen moved (manager bob -> helen, department engineering -> engineering); step "manager" now waits on Helen Ortiz (no longer Bob Ruiz)`},
		s.eventDetails("approval.reassigned"))
	s.Len(s.eventDetails("requester.moved"), 1)
}

// A decision made stays: the leaver who approved an all-of step keeps their approval; only the
// undecided place moves.
func (s *requestSuite) TestLeaverDecisionStays() {
	s.approvers(bob, carol)
	s.directory(func(in activities.ResolveApproversInput) []catalog.PersonRef {
		if len(in.ManagersOf) > 0 {
			return []catalog.PersonRef{helen}
		}
		return []catalog.PersonRef{bob, carol}
	})
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	s.updateWithID(2*time.Minute, DirectoryChangeUpdateID("left/bob/1"), DirectoryChangeUpdate, left("left/bob/1", bob))
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 2*time.Minute+time.Second)
	s.decide(3*time.Minute, carol, catalog.DecisionApprove, "")
	s.completeAt(4 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAll, bob, carol)))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Empty(s.eventDetails("approval.reassigned"), "bob decided before he left")
	s.Equal("bob", mid.Approvals[0].Approvers[0].ID)
}
