package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type requestSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env       *testsuite.TestWorkflowEnvironment
	projected []catalog.RequestState
	notified  []activities.Notification
	resolved  []activities.ResolveApproversInput
	// retiring makes the projection of a closed state report the service retiring; signalled
	// records the lifecycles told that a request closed.
	retiring  bool
	signalled []string
	// stage is the service's stage an opening or closed projection reads (revision 4);
	// openings counts the projections marked Opening.
	stage    string
	openings int
	// filled are the people FillApprovers offers, in order; fills records its calls.
	filled []catalog.PersonRef
	fills  []activities.FillApproversInput
}

func TestServiceRequest(t *testing.T) { suite.Run(t, new(requestSuite)) }

var (
	alice = catalog.Person{ID: "alice", Name: "Alice Chen", Department: "engineering", Manager: "bob"}
	bob   = catalog.PersonRef{ID: "bob", Name: "Bob Ruiz"}
	carol = catalog.PersonRef{ID: "carol", Name: "Carol Diaz"}
	dave  = catalog.PersonRef{ID: "dave", Name: "Dave Kim"}
)

func definition(mode string, approvers ...catalog.PersonRef) catalog.Definition {
	d := catalog.Definition{
		Key: "laptop", Name: "Laptop", Department: "it", Owner: "ivan",
		Fulfilment: catalog.Fulfilment{Tasks: []catalog.TaskSpec{{ID: "prepare", Name: "Prepare", Group: "it-service-desk", Kind: catalog.TaskManual}}},
	}
	if len(approvers) > 0 {
		d.Approval.Steps = []catalog.ApprovalStep{{Name: "manager", Mode: mode, Approvers: catalog.Approvers{Manager: true}}}
	}
	return d
}

func (s *requestSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.projected = nil
	var dir *activities.Directory
	var proj *activities.Projection
	s.notified, s.resolved, s.retiring, s.signalled = nil, nil, false, nil
	s.stage, s.openings = catalog.StagePublished, 0
	s.env.RegisterActivity(dir.ResolveApprovers)
	s.env.RegisterActivity(dir.FillApprovers)
	s.fills, s.filled = nil, nil
	s.env.OnActivity(dir.FillApprovers, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FillApproversInput) (activities.FillApproversResult, error) {
			s.fills = append(s.fills, in)
			var out activities.FillApproversResult
			for _, p := range s.filled {
				if _, excluded := in.Exclude[p.ID]; !excluded && p.ID != in.Requester.ID && len(out.Added) < in.Need {
					out.Added = append(out.Added, activities.Addition{PersonRef: p, Why: "head of IT, the department providing the service"})
				}
			}
			if len(out.Added) < in.Need {
				out.Operators = []string{"oscar"}
			}
			return out, nil
		})
	s.env.RegisterActivity(proj.Project)
	s.env.RegisterActivity(&activities.Notifications{Notifier: recorder{s}})
	s.env.RegisterWorkflow(FulfilmentTask)
	s.env.OnSignalExternalWorkflow(mock.Anything, mock.MatchedBy(func(id string) bool { return strings.HasPrefix(id, "service/") }),
		mock.Anything, RequestClosedSignal, mock.Anything).Return(func(_, workflowID, _, _ string, arg any) error {
		s.signalled = append(s.signalled, fmt.Sprintf("%s %v", workflowID, arg))
		return nil
	})
	var ful *activities.Fulfilment
	s.env.RegisterActivity(ful.Call)
	s.env.OnActivity(proj.Project, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProjectInput) (activities.ProjectResult, error) {
			s.projected = append(s.projected, in.State)
			res := activities.ProjectResult{Wrote: true, ServiceRetiring: s.retiring && in.State.ClosedAt != nil}
			if in.Opening {
				s.openings++
			}
			if in.Opening || in.State.ClosedAt != nil {
				res.ServiceStage = s.stage
			}
			return res, nil
		})
}

// recorder is a Notifier that keeps what it is told.
type recorder struct{ s *requestSuite }

func (r recorder) Notify(_ context.Context, n activities.Notification) error {
	// Notifications are activities the workflow does not wait for: two may run at once.
	notifying.Lock()
	defer notifying.Unlock()
	r.s.notified = append(r.s.notified, n)
	return nil
}

// notifying serializes the recorder's appends.
var notifying sync.Mutex

// approvers makes every step resolve to people.
func (s *requestSuite) approvers(people ...catalog.PersonRef) {
	s.directory(func(activities.ResolveApproversInput) []catalog.PersonRef { return people })
}

// directory resolves approvers with fn, recording each call.
func (s *requestSuite) directory(fn func(activities.ResolveApproversInput) []catalog.PersonRef) {
	var dir *activities.Directory
	s.env.OnActivity(dir.ResolveApprovers, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ResolveApproversInput) (activities.ResolveApproversResult, error) {
			s.resolved = append(s.resolved, in)
			var res activities.ResolveApproversResult
			for _, p := range fn(in) {
				if why, excluded := in.Exclude[p.ID]; excluded {
					res.Excluded = append(res.Excluded, catalog.Exclusion{ID: p.ID, Why: why})
				} else if p.ID == in.Requester.ID {
					res.Excluded = append(res.Excluded, catalog.Exclusion{ID: p.ID, Why: "nobody approves their own request"})
				} else {
					res.Approvers = append(res.Approvers, p)
				}
			}
			res.Named = len(res.Approvers) + len(res.Excluded)
			return res, nil
		})
}

func input(d catalog.Definition) RequestInput {
	return RequestInput{Number: 42, Version: 3, Definition: d, Requester: alice, Form: map[string]any{"model": "x"}, Quantity: 1, Priority: "normal"}
}

// update sends an update after delay and records its outcome.
type outcome struct {
	rejected error
	err      error
	done     bool
}

func (s *requestSuite) update(delay time.Duration, name string, arg any) *outcome {
	o := &outcome{}
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { o.rejected = err },
			OnAccept:   func() {},
			OnComplete: func(_ interface{}, err error) { o.err, o.done = err, true },
		}, arg)
	}, delay)
	return o
}

func errType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func (s *requestSuite) result() RequestResult {
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	var r RequestResult
	s.NoError(s.env.GetWorkflowResult(&r))
	return r
}

func (s *requestSuite) state() catalog.RequestState {
	v, err := s.env.QueryWorkflow(StateQuery, StateQueryInput{})
	s.Require().NoError(err)
	var st catalog.RequestState
	s.Require().NoError(v.Get(&st))
	return st
}

func (s *requestSuite) TestApproveThenComplete() {
	s.approvers(bob)
	approve := s.update(time.Minute, DecideUpdate, DecisionInput{Actor: bob, Decision: catalog.DecisionApprove})
	complete := s.update(2*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare", Outputs: map[string]any{"asset_tag": "LT-1"}})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))

	s.Equal(catalog.StatusResolved, s.result().Status)
	s.NoError(approve.rejected)
	s.True(approve.done)
	s.NoError(complete.err)
	st := s.state()
	s.Equal("REQ-000042", st.ID)
	s.Equal(3, st.Service.Version, "the request keeps the version it was pinned to")
	s.Equal(catalog.TaskDone, st.Tasks[0].State)
	s.Equal("LT-1", st.Tasks[0].Outputs["asset_tag"])
	// The last projection is the final state: the read model never misses the end.
	last := s.projected[len(s.projected)-1]
	s.Equal(catalog.StatusResolved, last.Status)
	s.Equal(st.Seq, last.Seq)
	for i := 1; i < len(s.projected); i++ {
		s.Greater(s.projected[i].Seq, s.projected[i-1].Seq, "projections go forward")
	}
}

func (s *requestSuite) TestValidatorRefusesBeforeHistory() {
	s.approvers(bob)
	byRequester := s.update(time.Minute, DecideUpdate, DecisionInput{Actor: catalog.PersonRef{ID: "alice"}, Decision: catalog.DecisionApprove})
	rejectNoReason := s.update(time.Minute, DecideUpdate, DecisionInput{Actor: bob, Decision: catalog.DecisionReject})
	taskTooEarly := s.update(time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	approve := s.update(2*time.Minute, DecideUpdate, DecisionInput{Actor: bob, Decision: catalog.DecisionApprove})
	again := s.update(3*time.Minute, DecideUpdate, DecisionInput{Actor: bob, Decision: catalog.DecisionReject, Comment: "changed my mind"})
	wrongGroup := s.update(3*time.Minute, CompleteTaskUpdate, TaskInput{Actor: bob, Groups: []string{"engineering"}, Task: "prepare"})
	noTask := s.update(3*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "nope"})
	claim := s.update(4*time.Minute, ClaimTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	stolen := s.update(5*time.Minute, CompleteTaskUpdate, TaskInput{Actor: carol, Groups: []string{"it-service-desk"}, Task: "prepare"})
	complete := s.update(6*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))

	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrForbidden, errType(byRequester.rejected))
	s.Equal(ErrInvalid, errType(rejectNoReason.rejected))
	s.Equal(ErrConflict, errType(taskTooEarly.rejected))
	s.NoError(approve.rejected)
	s.Equal(ErrConflict, errType(again.rejected))
	s.Equal(ErrForbidden, errType(wrongGroup.rejected))
	s.Equal(ErrNotFound, errType(noTask.rejected))
	s.NoError(claim.rejected)
	s.Equal(ErrConflict, errType(stolen.rejected))
	s.NoError(complete.rejected)
	for _, o := range []*outcome{byRequester, rejectNoReason, taskTooEarly, again, wrongGroup, noTask, stolen} {
		s.False(o.done, "a refused update never runs its handler")
	}
	st := s.state()
	s.Equal("dave", st.Tasks[0].Assignee)
	s.Len(st.Approvals[0].Approvers, 1)
	s.Equal(catalog.DecisionApprove, st.Approvals[0].Approvers[0].Decision)
}

func (s *requestSuite) TestRejectEndsTheRequest() {
	s.approvers(bob)
	s.update(time.Minute, DecideUpdate, DecisionInput{Actor: bob, Decision: catalog.DecisionReject, Comment: "over budget"})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	r := s.result()
	s.Equal(catalog.StatusRejected, r.Status)
	s.Contains(r.Reason, "over budget")
	st := s.state()
	s.Equal(catalog.TaskWaiting, st.Tasks[0].State, "no task opens after a rejection")
	s.NotNil(st.ClosedAt)
}

func (s *requestSuite) TestModeAllWaitsForEveryApprover() {
	s.approvers(bob, carol)
	first := s.update(time.Minute, DecideUpdate, DecisionInput{Actor: bob, Decision: catalog.DecisionApprove})
	var afterFirst catalog.RequestState
	s.env.RegisterDelayedCallback(func() { afterFirst = s.state() }, 90*time.Second)
	s.update(2*time.Minute, DecideUpdate, DecisionInput{Actor: carol, Decision: catalog.DecisionApprove})
	s.update(3*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAll, bob, carol)))

	s.Equal(catalog.StatusResolved, s.result().Status)
	s.True(first.done, "a partial approval answers without waiting for the others")
	s.Equal(catalog.StatusPendingApproval, afterFirst.Status)
	s.Equal(catalog.ApprovalPending, afterFirst.Approvals[0].Status)
}

func (s *requestSuite) TestNoApprovalStepsGoesStraightToFulfilment() {
	s.update(time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition("")))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Empty(s.state().Approvals)
}

// A closing request tells its service's lifecycle only when the service is retiring (the
// lifecycle waits for it then); otherwise it signals nothing.
func (s *requestSuite) TestClosingSignalsOnlyARetiringService() {
	s.update(time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition("")))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Empty(s.signalled, "a live service's lifecycle is not told")
}

func (s *requestSuite) TestClosingSignalsTheRetiringService() {
	s.retiring = true
	s.update(time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(definition("")))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{"service/laptop REQ-000042"}, s.signalled)
}

// TestNobodyToApproveGoesUp: a step that names nobody who may decide (the requester has no
// manager) is never failed: it goes up the organisation (FillApprovers) and says why.
func (s *requestSuite) TestNobodyToApproveGoesUp() {
	s.approvers()
	s.filled = []catalog.PersonRef{ivan}
	s.decide(time.Minute, ivan, catalog.DecisionApprove, "")
	s.completeAt(2 * time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition(catalog.ModeAny, bob)))
	s.Equal(catalog.StatusResolved, s.result().Status)
	a := s.state().Approvals[0]
	s.Equal(1, a.Required)
	s.Equal("ivan", a.Approvers[0].ID)
	s.Equal("fallback", a.Approvers[0].AddedBy)
	s.Contains(s.events(), "approval.topped_up")
	s.Require().Len(s.fills, 1)
	s.Equal(1, s.fills[0].Need)
	s.Equal(1, s.fills[0].Levels, "a manager step goes up the requester's chain first")
	s.Equal("it", s.fills[0].Department)
}

// TestClosingStartsTheRetention (revision 6): a request whose pinned definition keeps files for
// a while starts retention/<request> when it closes, with the instant it closed and the
// retention; one without a retention starts nothing.
func (s *requestSuite) TestClosingStartsTheRetention() {
	var started []RetentionInput
	s.env.RegisterWorkflow(RequestRetention)
	s.env.OnWorkflow(RequestRetention, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in RetentionInput) (activities.DeleteFilesResult, error) {
			s.Equal(RetentionWorkflowID("REQ-000042"), workflow.GetInfo(ctx).WorkflowExecution.ID)
			started = append(started, in)
			return activities.DeleteFilesResult{}, nil
		})
	d := definition("")
	d.Attachments = &catalog.Attachments{Optional: []string{"photo"}}
	d.Retention = catalog.Duration(365 * 24 * time.Hour)
	s.update(time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	st := s.state()
	s.Require().Len(started, 1)
	s.Equal(RetentionInput{Request: "REQ-000042", ClosedAt: *st.ClosedAt, Retention: d.Retention}, started[0])
}

func (s *requestSuite) TestClosingWithoutRetentionStartsNothing() {
	started := 0
	s.env.RegisterWorkflow(RequestRetention)
	s.env.OnWorkflow(RequestRetention, mock.Anything, mock.Anything).Return(
		func(workflow.Context, RetentionInput) (activities.DeleteFilesResult, error) {
			started++
			return activities.DeleteFilesResult{}, nil
		})
	d := definition("")
	d.Attachments = &catalog.Attachments{Optional: []string{"photo"}}
	s.update(time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: []string{"it-service-desk"}, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Zero(started)
}
