package workflows

import (
	"context"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// Update handlers of revision 4 (issue 16, task J; found by breaker 16).

// At the comment cap a fulfiller's question can still be answered: the requester's comment
// that answers a question is always accepted; otherwise nobody could move the request (every
// task update is refused while the request waits on the requester).
func (s *requestSuite) TestAnswerToAQuestionAtTheCommentCapIsAccepted() {
	in := input(definition(catalog.ModeAny))
	in.Bounds = &Bounds{Comments: 2}
	requester := catalog.PersonRef{ID: alice.ID, Name: alice.Name}
	s.update(time.Minute, CommentUpdate, CommentInput{Actor: dave, Text: "looking"})
	s.update(2*time.Minute, CommentUpdate, CommentInput{Actor: requester, Text: "thanks"})
	more := s.update(150*time.Second, CommentUpdate, CommentInput{Actor: requester, Text: "anyone?"})
	ask := s.update(3*time.Minute, AskTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare", Reason: "which model?"})
	answer := s.update(4*time.Minute, CommentUpdate, CommentInput{Actor: requester, Text: "the 14 inch one"})
	done := s.update(5*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare"})
	s.env.SetTestTimeout(30 * time.Second)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 24*time.Hour) // end the test either way
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(ErrConflict, errType(more.rejected), "a comment that answers nothing is refused at the cap")
	s.NoError(ask.rejected, "the question is accepted at the cap")
	s.NoError(answer.rejected, "the requester's answer is accepted at the cap")
	s.NoError(done.rejected, "and the task moves on")
	s.Equal(catalog.StatusResolved, s.result().Status)
}

// updateWithID sends an update with the given update id after delay (the API's retry sends
// the same id).
func (s *requestSuite) updateWithID(delay time.Duration, id, name string, arg any) *outcome {
	o := &outcome{}
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { o.rejected = err },
			OnAccept:   func() {},
			OnComplete: func(_ interface{}, err error) { o.err, o.done = err, true },
		}, arg)
	}, delay)
	return o
}

// continueWith runs in until it continues as new (the server suggests it two minutes in, after
// the updates the caller registered) and returns the next run's input, with the suite set up
// again for that run at the instant the first one ended.
func (s *requestSuite) continueWith(in RequestInput) RequestInput {
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 2*time.Minute)
	s.update(2*time.Minute, CommentUpdate, poke())
	s.env.ExecuteWorkflow(ServiceRequest, in)
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &can, "the request continued as new")
	var next RequestInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	now := s.env.Now()
	s.SetupTest()
	s.env.SetStartTime(now)
	return next
}

// Temporal deduplicates update ids within a run only: a comment the API retries under the same
// update id after the request continued as new is applied once, and the retry answers the
// current status.
func (s *requestSuite) TestCommentUpdateIDSurvivesContinueAsNew() {
	in := input(definition(catalog.ModeAny))
	in.Bounds = &Bounds{ContinueAfter: 500}
	requester := catalog.PersonRef{ID: alice.ID, Name: alice.Name}
	hello := CommentInput{Actor: requester, Text: "hello, once"}
	first := s.updateWithID(time.Minute, "idem-comment-1", CommentUpdate, hello)
	next := s.continueWith(in)
	s.True(first.done)
	s.Require().NotNil(next.Continued)

	retry := s.updateWithID(time.Minute, "idem-comment-1", CommentUpdate, hello) // the API's retry
	s.update(2*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare"})
	s.env.ExecuteWorkflow(ServiceRequest, next)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.NoError(retry.rejected)
	s.True(retry.done)
	s.NoError(retry.err)
	n := 0
	for _, e := range s.state().Timeline {
		if e.Type == "comment" && e.Detail == hello.Text {
			n++
		}
	}
	s.Equal(1, n, "one comment under one update id, across continue-as-new")
}

// A question asked on a task and retried under its update id after the request continued as
// new (and the requester answered) is not asked again: the request does not wait on the
// requester a second time.
func (s *requestSuite) TestAskUpdateIDSurvivesContinueAsNew() {
	in := input(definition(catalog.ModeAny))
	in.Bounds = &Bounds{ContinueAfter: 500}
	requester := catalog.PersonRef{ID: alice.ID, Name: alice.Name}
	q := TaskInput{Actor: dave, Groups: desk, Task: "prepare", Reason: "which model?"}
	first := s.updateWithID(time.Minute, "idem-ask-1", AskTaskUpdate, q)
	s.update(90*time.Second, CommentUpdate, CommentInput{Actor: requester, Text: "the 14 inch one"})
	next := s.continueWith(in)
	s.True(first.done)

	retry := s.updateWithID(time.Minute, "idem-ask-1", AskTaskUpdate, q) // the API's retry
	done := s.update(2*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare"})
	s.env.SetTestTimeout(30 * time.Second)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 24*time.Hour) // end the test either way
	s.env.ExecuteWorkflow(ServiceRequest, next)
	s.NoError(retry.rejected)
	s.NoError(done.rejected, "the request does not wait on the requester again")
	s.Equal(catalog.StatusResolved, s.result().Status)
	n := 0
	for _, e := range s.state().Timeline {
		if e.Type == "task.info_requested" {
			n++
		}
	}
	s.Equal(1, n, "one question under one update id, across continue-as-new")
}

// After an operator's cancel the request lives on while an undo by hand is open: the update
// handlers run on a context the cancel does not cancel, so a question asked on the undo task
// reaches the requester, and the requester's answer and the completion are accepted.
func (s *requestSuite) TestHandlersRunAfterAnOperatorCancel() {
	var f *activities.Fulfilment
	s.env.OnActivity(f.Call, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
		switch {
		case in.Call.URL == "http://hr.test/records":
			return activities.CallResult{Status: 201, Outputs: map[string]any{"id": "HR-7"}}, nil
		case in.Call.URL == "http://it.test/accounts":
			return activities.CallResult{Status: 201, Outputs: map[string]any{"login": "jnew"}}, nil
		case in.Call.Method == "DELETE" && strings.HasPrefix(in.Call.URL, "http://it.test/"):
			return activities.CallResult{}, temporal.NewNonRetryableApplicationError("409 the account is locked", activities.ErrHTTPRefused, nil)
		}
		return activities.CallResult{Status: 204, Outputs: map[string]any{}}, nil
	})
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Minute)
	ask := s.update(2*time.Minute, AskTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "undo-accounts", Reason: "did you lock jnew?"})
	answer := s.update(3*time.Minute, CommentUpdate, CommentInput{Actor: catalog.PersonRef{ID: alice.ID, Name: alice.Name}, Text: "no"})
	done := s.update(4*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "undo-accounts"})
	s.env.ExecuteWorkflow(ServiceRequest, onboardingInput("berlin"))
	s.Require().NoError(ask.rejected)
	s.NoError(answer.rejected)
	s.NoError(done.rejected)
	s.NoError(ask.err)
	s.NoError(done.err)
	asked := false
	for _, n := range s.notified {
		asked = asked || (strings.HasPrefix(n.Subject, "Question about REQ-000042") && len(n.To) == 1 && n.To[0] == alice.ID)
	}
	s.True(asked, "the requester is told of the question: %v", s.notified)
}

// A claim retried under its update id after the task was released and the request continued
// as new passes its validator (the task is open) but is not applied again: the task stays in
// the group's queue.
func (s *requestSuite) TestClaimUpdateIDSurvivesContinueAsNew() {
	in := input(definition(catalog.ModeAny))
	in.Bounds = &Bounds{ContinueAfter: 500}
	claim := TaskInput{Actor: dave, Groups: desk, Task: "prepare"}
	first := s.updateWithID(time.Minute, "idem-claim-1", ClaimTaskUpdate, claim)
	s.update(90*time.Second, ReleaseTaskUpdate, claim)
	next := s.continueWith(in)
	s.True(first.done)

	retry := s.updateWithID(time.Minute, "idem-claim-1", ClaimTaskUpdate, claim) // the API's retry
	s.env.SetTestTimeout(30 * time.Second)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 2*time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, next)
	s.NoError(retry.rejected)
	s.NoError(retry.err)
	n := 0
	for _, e := range s.state().Timeline {
		if e.Type == "task.claimed" {
			n++
		}
	}
	s.Equal(1, n, "one claim under one update id, across continue-as-new")
}
