package workflows

import (
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/temporal"
)

// Every way out of a request (issue 16, item 3): an operator's Cancel from the Temporal UI or
// CLI cancels the workflow's context. A request of revision 4 ends cancelled, with the reason,
// compensated as the requester's withdraw, and its final state projected; the workflow closes
// as cancelled (not by the deadlock detector).

// operatorCancelled checks how a request ended after an operator's cancel and returns its last
// projected state.
func (s *requestSuite) operatorCancelled() catalog.RequestState {
	s.True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err, "an operator's cancel closes the workflow as cancelled")
	var canceled *temporal.CanceledError
	s.ErrorAs(err, &canceled)
	s.Require().NotEmpty(s.projected)
	last := s.projected[len(s.projected)-1]
	s.Equal(catalog.StatusCancelled, last.Status, "the read model shows it closed")
	s.Equal(catalog.StatusCancelled, last.Stage)
	s.Contains(last.Reason, "cancelled by an operator")
	s.NotNil(last.ClosedAt)
	types := map[string]bool{}
	for _, e := range last.Timeline {
		types[e.Type] = true
	}
	s.True(types["cancel.operator"], "the audit trail says an operator cancelled: %v", last.Timeline)
	for _, t := range last.Tasks { // none is left in a queue (a task that never opened stays waiting)
		s.True(catalog.TaskClosed(t.State) || t.State == catalog.TaskWaiting, "task %s is %s after the cancel", t.ID, t.State)
	}
	st := s.state()
	s.Equal(last.Seq, st.Seq, "the last state is projected")
	return last
}

func (s *requestSuite) TestOperatorCancelWhilePendingApproval() {
	s.approvers(bob)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	last := s.operatorCancelled()
	s.Equal(catalog.TaskWaiting, last.Tasks[0].State)
	withdrawn := false
	for _, n := range s.notified {
		withdrawn = withdrawn || (len(n.To) == 1 && n.To[0] == "bob" && n.Subject == "Cancelled by an operator: "+last.Title())
	}
	s.True(withdrawn, "the approver is told no decision is needed: %v", s.notified)
}

func (s *requestSuite) TestOperatorCancelWhileWaitingOnRequester() {
	s.approvers(bob)
	s.update(time.Minute, DecideUpdate, DecisionInput{Actor: bob, Decision: catalog.DecisionRequestInfo, Comment: "which model?"})
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	s.operatorCancelled()
}

func (s *requestSuite) TestOperatorCancelWithAManualTaskOpen() {
	s.retiring = true // the service retires meanwhile: its lifecycle is told the request closed
	claim := s.update(time.Minute, ClaimTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny)))
	last := s.operatorCancelled()
	s.NoError(claim.err)
	s.Equal(catalog.TaskCancelled, last.Tasks[0].State)
	s.Equal([]string{"service/laptop REQ-000042"}, s.signalled)
}

// A requester who withdrew first keeps their reason; the operator's later cancel adds nothing.
func (s *requestSuite) TestOperatorCancelAfterTheRequesterWithdrew() {
	s.approvers(bob)
	s.update(time.Minute, CancelUpdate, CancelInput{Actor: catalog.PersonRef{ID: "alice"}, Reason: "not needed"})
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Minute+time.Second)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	last := s.projected[len(s.projected)-1]
	s.Equal(catalog.StatusCancelled, last.Status)
	s.Contains(last.Reason, "withdrawn by the requester")
}

// A request cancelled by its service's retirement tells the approvers and the requester that
// the service retired (revision 5), never that the requester withdrew it.
func (s *requestSuite) TestRetirementSaysRetirement() {
	s.approvers(bob)
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(RetireSignal, "the service laptop retired") }, time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	s.Equal(catalog.StatusCancelled, s.result().Status)
	approver, requester := false, false
	for _, n := range s.notified {
		s.NotContains(n.Subject+n.Text, "withdrawn", "a retirement is not a withdrawal: %+v", n)
		if n.Kind == "approval.cancelled" && n.To[0] == "bob" {
			approver = strings.HasPrefix(n.Subject, "Cancelled, the service retired: ") && strings.Contains(n.Text, "the service laptop retired")
		}
		if n.Kind == "request.cancelled" && n.To[0] == "alice" {
			requester = strings.Contains(n.Text, "because its service") && strings.Contains(n.Text, "retired")
		}
	}
	s.True(approver, "the approver is told the service retired: %+v", s.notified)
	s.True(requester, "the requester is told the service retired: %+v", s.notified)
}
