package workflows

import (
	"context"
	"strings"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
)

// Breaker 16, finding: a call that fails with an error that says nothing of whether it happened
// (a timeout, a 5xx after every retry) while the request is withdrawn is neither compensated nor
// left to be undone by hand: the remote may keep the account (issue 16 item 4: "compensated if
// it may have happened").
func (s *requestSuite) TestBreakerCallOfUnknownOutcomeOnCancelIsUndone() {
	l := &callLog{}
	var f *activities.Fulfilment
	s.env.OnActivity(f.Call, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
		l.add(in)
		switch {
		case in.Call.URL == "http://hr.test/records":
			return activities.CallResult{Status: 201, Outputs: map[string]any{"id": "HR-7"}}, nil
		case in.Call.URL == "http://it.test/accounts":
			// The remote took the request but the answer never came (gateway timeout).
			return activities.CallResult{}, temporal.NewApplicationError("504 gateway timeout", "")
		}
		return activities.CallResult{Status: 204, Outputs: map[string]any{}}, nil
	})
	s.update(time.Second, CancelUpdate, CancelInput{Actor: catalog.PersonRef{ID: "alice"}, Reason: "the joiner withdrew"})
	// The undo's URL needs the login the call never answered: it is undone by hand (adapted to
	// HEAD: the request ends once the undo by hand is done).
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 9*time.Minute)
	done := s.act(10*time.Minute, CompleteTaskUpdate, "undo-accounts", dave, "it-service-desk")
	s.env.ExecuteWorkflow(ServiceRequest, onboardingInput("berlin"))
	s.Equal(catalog.StatusCancelled, s.result().Status)
	s.NoError(done.rejected)
	undone := false
	for _, k := range l.all() {
		undone = undone || strings.HasPrefix(k, "DELETE http://it.test/accounts")
	}
	var undo *catalog.TaskState
	for i, t := range mid.Tasks {
		if strings.HasPrefix(t.ID, "undo-accounts") {
			undone, undo = true, &mid.Tasks[i]
		}
	}
	s.True(undone, "the accounts call may have created the account: undone by call or by hand; calls %v, tasks %v", l.all(), s.states())
	s.Require().NotNil(undo)
	s.Contains(undo.Reason, "the call may have happened")
	s.Contains(undo.Reason, "504 gateway timeout")
	s.Equal("it-service-desk", undo.Group)
	s.Equal("failed", s.states()["accounts"])
	s.Equal("done", s.states()["undo-accounts"])
	s.Equal("done", s.state().Tasks[0].Compensation, "the HR record was undone by its call")
	s.Contains(s.events(), "task.compensation_failed")
}

// A call of unknown outcome whose undo can be made (it names what the request knows) is undone
// by its call on a rollback, newest first with the completed ones, and the audit trail says the
// call may have happened. A refused call (4xx) did not happen: it is never undone.
func (s *requestSuite) TestCallOfUnknownOutcomeIsCompensatedOnRollback() {
	for _, tc := range []struct {
		name  string
		err   error
		calls []string
	}{
		{"gateway timeout", temporal.NewApplicationError("504 gateway timeout", ""), []string{
			"DELETE http://it.test/accounts/by-record/HR-7 REQ-000042.accounts.compensate",
			"DELETE http://hr.test/records/HR-7 REQ-000042.hr-record.compensate"}},
		{"refused", temporal.NewNonRetryableApplicationError("409 taken", activities.ErrHTTPRefused, nil), []string{
			"DELETE http://hr.test/records/HR-7 REQ-000042.hr-record.compensate"}},
	} {
		s.Run(tc.name, func() {
			s.SetupTest()
			l := &callLog{}
			var f *activities.Fulfilment
			s.env.OnActivity(f.Call, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
				l.add(in)
				switch {
				case in.Call.URL == "http://hr.test/records":
					return activities.CallResult{Status: 201, Outputs: map[string]any{"id": "HR-7"}}, nil
				case in.Call.URL == "http://it.test/accounts":
					return activities.CallResult{}, tc.err
				}
				return activities.CallResult{Status: 204, Outputs: map[string]any{}}, nil
			})
			in := input(onboarding(catalog.OnFailureRollback, ""))
			in.Form = map[string]any{"joiner": "Jo New", "location": "berlin"}
			in.Definition.Fulfilment.Tasks[2].Compensate = &catalog.HTTPCall{Method: "DELETE", URL: "http://it.test/accounts/by-record/{{tasks.hr-record.outputs.id}}"}
			s.env.ExecuteWorkflow(ServiceRequest, in)
			s.Equal(catalog.StatusFailed, s.result().Status)
			var undos []string
			for _, k := range l.all() {
				if strings.HasPrefix(k, "DELETE") {
					undos = append(undos, k)
				}
			}
			s.Equal(tc.calls, undos)
			if len(tc.calls) == 2 {
				s.Equal("done", s.state().Tasks[2].Compensation)
				found := false
				for _, e := range s.state().Timeline {
					found = found || (e.Type == "task.compensated" && strings.Contains(e.Detail, "Accounts: the call may have happened (") && strings.Contains(e.Detail, "504 gateway timeout"))
				}
				s.True(found, "the audit trail says the call may have happened: %+v", s.state().Timeline)
			} else {
				s.Empty(s.state().Tasks[2].Compensation)
			}
		})
	}
}
