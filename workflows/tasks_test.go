package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/stretchr/testify/mock"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// onboarding is HR record -> (laptop by hand, accounts by machine, desk in London only) ->
// welcome, as the example catalog has it.
func onboarding(accountsOnFailure, accountsFallback string) catalog.Definition {
	d := definition("")
	d.Key, d.Name = "onboarding", "Onboarding"
	d.Fulfilment.Tasks = []catalog.TaskSpec{
		{ID: "hr-record", Name: "HR record", Group: "hr", Kind: catalog.TaskAutomated,
			HTTP:       &catalog.HTTPCall{Method: "POST", URL: "http://hr.test/records", Body: map[string]any{"name": "{{form.joiner}}"}},
			Compensate: &catalog.HTTPCall{Method: "DELETE", URL: "http://hr.test/records/{{tasks.hr-record.outputs.id}}"}},
		{ID: "laptop", Name: "Laptop", Group: "it-service-desk", Kind: catalog.TaskManual, Needs: []string{"hr-record"}},
		{ID: "accounts", Name: "Accounts", Group: "it-service-desk", Kind: catalog.TaskAutomated, Needs: []string{"hr-record"},
			HTTP: &catalog.HTTPCall{Method: "POST", URL: "http://it.test/accounts",
				Body: map[string]any{"record": "{{tasks.hr-record.outputs.id}}", "by": "{{requester.id}}"}},
			Compensate: &catalog.HTTPCall{Method: "DELETE", URL: "http://it.test/accounts/{{tasks.accounts.outputs.login}}"},
			OnFailure:  accountsOnFailure, Fallback: accountsFallback},
		{ID: "desk", Name: "Desk", Group: "facilities", Kind: catalog.TaskManual, Needs: []string{"hr-record"}, When: `form.location == "london"`},
		{ID: "welcome", Name: "Welcome", Group: "hr", Kind: catalog.TaskManual, Needs: []string{"laptop", "accounts", "desk"}},
	}
	return d
}

// calls fakes the automation endpoints: each URL answers as told, and every call is recorded.
type calls struct {
	log      []activities.CallInput
	accounts error
}

func (s *requestSuite) endpoints(c *calls) {
	var f *activities.Fulfilment
	s.env.OnActivity(f.Call, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
		c.log = append(c.log, in)
		switch {
		case in.Call.URL == "http://hr.test/records":
			return activities.CallResult{Status: 201, Outputs: map[string]any{"id": "HR-7"}}, nil
		case in.Call.URL == "http://it.test/accounts":
			if c.accounts != nil {
				return activities.CallResult{}, c.accounts
			}
			return activities.CallResult{Status: 201, Outputs: map[string]any{"login": "jnew"}}, nil
		}
		return activities.CallResult{Status: 204, Outputs: map[string]any{}}, nil
	})
}

func (c *calls) keys() []string {
	var out []string
	for _, in := range c.log {
		out = append(out, in.Call.Method+" "+in.Call.URL+" "+in.IdempotencyKey)
	}
	return out
}

func onboardingInput(location string) RequestInput {
	in := input(onboarding("", ""))
	in.Form = map[string]any{"joiner": "Jo New", "location": location}
	return in
}

func (s *requestSuite) act(at time.Duration, update, task string, who catalog.PersonRef, groups ...string) *outcome {
	return s.update(at, update, TaskInput{Actor: who, Groups: groups, Task: task, Reason: "cannot"})
}

func (s *requestSuite) states() map[string]string {
	out := map[string]string{}
	for _, t := range s.state().Tasks {
		out[t.ID] = t.State
	}
	return out
}

func (s *requestSuite) TestPlanOrderAndParallelism() {
	c := &calls{}
	s.endpoints(c)
	var afterRecord, afterLaptop map[string]string
	s.env.RegisterDelayedCallback(func() { afterRecord = s.states() }, time.Minute)
	s.act(2*time.Minute, CompleteTaskUpdate, "laptop", dave, "it-service-desk")
	s.env.RegisterDelayedCallback(func() { afterLaptop = s.states() }, 3*time.Minute)
	s.act(4*time.Minute, CompleteTaskUpdate, "desk", dave, "facilities")
	s.act(5*time.Minute, CompleteTaskUpdate, "welcome", dave, "hr")
	s.env.ExecuteWorkflow(ServiceRequest, onboardingInput("london"))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(map[string]string{"hr-record": "done", "laptop": "open", "accounts": "done", "desk": "open", "welcome": "waiting"}, afterRecord,
		"laptop, accounts and desk start together once the HR record exists; welcome waits for all three")
	s.Equal("waiting", afterLaptop["welcome"])
	s.Equal([]string{"POST http://hr.test/records REQ-000042.hr-record", "POST http://it.test/accounts REQ-000042.accounts"}, c.keys())
	s.Equal(map[string]any{"record": "HR-7", "by": "alice"}, c.log[1].Call.Body, "the body is built from the form, the requester and earlier outputs")
	s.Equal("jnew", s.state().Tasks[2].Outputs["login"])
}

func (s *requestSuite) TestPlanWhenSkips() {
	s.endpoints(&calls{})
	s.act(time.Minute, CompleteTaskUpdate, "laptop", dave, "it-service-desk")
	s.act(2*time.Minute, CompleteTaskUpdate, "welcome", dave, "hr")
	s.env.ExecuteWorkflow(ServiceRequest, onboardingInput("berlin"))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal("skipped", s.states()["desk"], "no desk outside London; welcome does not wait for it")
}

func (s *requestSuite) TestPlanFailureWithoutRollback() {
	c := &calls{accounts: temporal.NewNonRetryableApplicationError("409 taken", activities.ErrHTTPRefused, nil)}
	s.endpoints(c)
	in := onboardingInput("berlin")
	s.env.ExecuteWorkflow(ServiceRequest, in)
	r := s.result()
	s.Equal(catalog.StatusFailed, r.Status)
	s.Contains(r.Reason, "Accounts")
	s.Len(c.log, 2, "no compensation without on_failure: rollback")
	s.Equal("cancelled", s.states()["laptop"])
}

func (s *requestSuite) TestPlanFailureRollsBack() {
	c := &calls{accounts: temporal.NewNonRetryableApplicationError("409 taken", activities.ErrHTTPRefused, nil)}
	s.endpoints(c)
	in := onboardingInput("berlin")
	in.Definition = onboarding(catalog.OnFailureRollback, "")
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusFailed, s.result().Status)
	s.Equal("DELETE http://hr.test/records/HR-7 REQ-000042.hr-record.compensate", c.keys()[2])
	s.Len(c.log, 3)
	s.Equal("done", s.state().Tasks[0].Compensation)
	s.Contains(s.events(), "task.compensated")
}

func (s *requestSuite) TestPlanFallbackToManual() {
	c := &calls{accounts: temporal.NewNonRetryableApplicationError("503 down for good", activities.ErrHTTPRefused, nil)}
	s.endpoints(c)
	in := onboardingInput("berlin")
	in.Definition = onboarding("", catalog.TaskManual)
	var mid map[string]string
	s.env.RegisterDelayedCallback(func() { mid = s.states() }, time.Minute)
	s.act(2*time.Minute, CompleteTaskUpdate, "accounts", dave, "it-service-desk")
	s.act(2*time.Minute, CompleteTaskUpdate, "laptop", dave, "it-service-desk")
	s.act(3*time.Minute, CompleteTaskUpdate, "welcome", dave, "hr")
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal("open", mid["accounts"], "the failed automation is in the group's queue")
	s.True(s.state().Tasks[2].Fallback)
	s.Contains(s.events(), "task.fallback")
}

func (s *requestSuite) TestCancelCompensatesWhatCompleted() {
	c := &calls{}
	s.endpoints(c)
	s.update(time.Minute, CancelUpdate, CancelInput{Actor: catalog.PersonRef{ID: "alice"}, Reason: "the joiner withdrew"})
	s.env.ExecuteWorkflow(ServiceRequest, onboardingInput("london"))
	r := s.result()
	s.Equal(catalog.StatusCancelled, r.Status)
	// Both automated tasks had completed: undone newest first, each once.
	s.Equal([]string{
		"POST http://hr.test/records REQ-000042.hr-record",
		"POST http://it.test/accounts REQ-000042.accounts",
		"DELETE http://it.test/accounts/jnew REQ-000042.accounts.compensate",
		"DELETE http://hr.test/records/HR-7 REQ-000042.hr-record.compensate",
	}, c.keys())
	st := s.states()
	s.Equal("cancelled", st["laptop"])
	s.Equal("cancelled", st["welcome"])
	var compensated []string
	for _, e := range s.state().Timeline {
		if e.Type == "task.compensated" {
			compensated = append(compensated, e.Detail)
		}
	}
	s.Equal("Accounts,HR record", strings.Join(compensated, ","))
}

func (s *requestSuite) TestOutputsAreValidated() {
	d := definition(catalog.ModeAny, bob)
	d.Fulfilment.Tasks[0].Outputs = map[string]any{"type": "object", "required": []any{"asset_tag"},
		"properties": map[string]any{"asset_tag": map[string]any{"type": "string", "pattern": "^LT-[0-9]+$"}}}
	s.approvers(bob)
	s.decide(time.Minute, bob, catalog.DecisionApprove, "")
	bad := s.update(2*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare", Outputs: map[string]any{"asset_tag": "x"}})
	good := s.update(3*time.Minute, CompleteTaskUpdate, TaskInput{Actor: dave, Groups: desk, Task: "prepare", Outputs: map[string]any{"asset_tag": "LT-9"}})
	s.env.ExecuteWorkflow(ServiceRequest, input(d))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(ErrInvalid, errType(bad.rejected))
	s.NoError(good.rejected)
}

// --- revision 4: tasks inside the request (issue 16) ---

// callLog records calls made from local activities, which may run at the same time.
type callLog struct {
	mu  sync.Mutex
	log []string
}

func (l *callLog) add(in activities.CallInput) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, in.Call.Method+" "+in.Call.URL+" "+in.IdempotencyKey)
}

func (l *callLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.log...)
}

func (s *requestSuite) TestTasksRunInsideTheRequest() {
	c := &calls{}
	s.endpoints(c)
	children := 0
	s.env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) { children++ })
	s.act(2*time.Minute, CompleteTaskUpdate, "laptop", dave, "it-service-desk")
	s.act(3*time.Minute, CompleteTaskUpdate, "desk", dave, "facilities")
	s.act(4*time.Minute, CompleteTaskUpdate, "welcome", dave, "hr")
	s.env.ExecuteWorkflow(ServiceRequest, onboardingInput("london"))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Zero(children, "no child workflow per task on revision 4")
	s.Equal([]string{"POST http://hr.test/records REQ-000042.hr-record", "POST http://it.test/accounts REQ-000042.accounts"}, c.keys())
}

func (s *requestSuite) TestAutomatedTasksRunInParallel() {
	d := onboarding("", "")
	d.Fulfilment.Tasks = []catalog.TaskSpec{d.Fulfilment.Tasks[0],
		{ID: "mail", Name: "Mailbox", Group: "it-service-desk", Kind: catalog.TaskAutomated, Needs: []string{"hr-record"},
			HTTP: &catalog.HTTPCall{Method: "POST", URL: "http://it.test/mail"}},
		{ID: "badge", Name: "Badge", Group: "facilities", Kind: catalog.TaskAutomated, Needs: []string{"hr-record"},
			HTTP: &catalog.HTTPCall{Method: "POST", URL: "http://facilities.test/badges"}},
	}
	var mu sync.Mutex
	inFlight, most := 0, 0
	var f *activities.Fulfilment
	s.env.OnActivity(f.Call, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		if in.Call.URL != "http://hr.test/records" {
			// The other call starts while this one is in flight, or never.
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				mu.Lock()
				both := most >= 2
				mu.Unlock()
				if both {
					break
				}
			}
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return activities.CallResult{Status: 201, Outputs: map[string]any{"id": "HR-7"}}, nil
	})
	in := input(d)
	in.Form = map[string]any{"joiner": "Jo New"}
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal(2, most, "the mailbox and the badge are called at the same time")
}

// TestCancelWaitsForARunningCallAndUndoesIt: the service retires (cancel policy) while the
// accounts call is in flight. The request waits for the call, then undoes it and the HR record,
// newest first, each once: the remote keeps nothing.
func (s *requestSuite) TestCancelWaitsForARunningCallAndUndoesIt() {
	l := &callLog{}
	var f *activities.Fulfilment
	s.env.OnActivity(f.Call, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
		l.add(in)
		switch in.Call.URL {
		case "http://hr.test/records":
			return activities.CallResult{Status: 201, Outputs: map[string]any{"id": "HR-7"}}, nil
		case "http://it.test/accounts":
			s.env.SignalWorkflow(RetireSignal, "the service onboarding retired")
			time.Sleep(300 * time.Millisecond) // the request learns of the cancel while the call runs
			return activities.CallResult{Status: 201, Outputs: map[string]any{"login": "jnew"}}, nil
		}
		return activities.CallResult{Status: 204, Outputs: map[string]any{}}, nil
	})
	s.env.ExecuteWorkflow(ServiceRequest, onboardingInput("berlin"))
	r := s.result()
	s.Equal(catalog.StatusCancelled, r.Status)
	s.Equal([]string{
		"POST http://hr.test/records REQ-000042.hr-record",
		"POST http://it.test/accounts REQ-000042.accounts",
		"DELETE http://it.test/accounts/jnew REQ-000042.accounts.compensate",
		"DELETE http://hr.test/records/HR-7 REQ-000042.hr-record.compensate",
	}, l.all())
	st := s.states()
	s.Equal("done", st["accounts"], "the call that was running finished, and was then undone")
	s.Equal("done", s.state().Tasks[2].Compensation)
	s.Equal("cancelled", st["laptop"])
}

// TestFailedCompensationBecomesATaskForTheGroup: undoing the accounts fails for good; the
// request puts "undo by hand" in the IT service desk's queue and ends only once it is done.
func (s *requestSuite) TestFailedCompensationBecomesATaskForTheGroup() {
	l := &callLog{}
	var f *activities.Fulfilment
	s.env.OnActivity(f.Call, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
		l.add(in)
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
	s.update(time.Minute, CancelUpdate, CancelInput{Actor: catalog.PersonRef{ID: "alice"}, Reason: "the joiner withdrew"})
	var mid catalog.RequestState
	s.env.RegisterDelayedCallback(func() { mid = s.state() }, 2*time.Minute)
	outsider := s.act(150*time.Second, CompleteTaskUpdate, "undo-accounts", dave, "hr")
	done := s.act(3*time.Minute, CompleteTaskUpdate, "undo-accounts", dave, "it-service-desk")
	s.env.ExecuteWorkflow(ServiceRequest, onboardingInput("berlin"))
	r := s.result()
	s.Equal(catalog.StatusCancelled, r.Status)
	s.Equal(ErrForbidden, errType(outsider.rejected), "the undo task is the group's")
	s.NoError(done.rejected)
	s.NoError(done.err)

	s.False(catalog.Terminal(mid.Status), "the request does not end while the undo is open: %s", mid.Status)
	var undo *catalog.TaskState
	for i := range mid.Tasks {
		if mid.Tasks[i].ID == "undo-accounts" {
			undo = &mid.Tasks[i]
		}
	}
	s.Require().NotNil(undo, "an undo task in the request's state: %+v", mid.Tasks)
	s.Equal(catalog.TaskOpen, undo.State)
	s.Equal("it-service-desk", undo.Group)
	s.Equal(catalog.TaskManual, undo.Kind)
	s.Contains(undo.Name, "Undo by hand")
	s.Contains(undo.Reason, "DELETE http://it.test/accounts/jnew")
	s.Contains(undo.Reason, "the account is locked")
	s.Equal("REQ-000042.undo-accounts", undo.Ref)
	s.Equal("done", s.states()["undo-accounts"])
	s.Equal("done", s.state().Tasks[0].Compensation, "the HR record was undone by its call")
	s.Contains(s.events(), "task.compensation_failed")
	s.Equal([]string{
		"POST http://hr.test/records REQ-000042.hr-record",
		"POST http://it.test/accounts REQ-000042.accounts",
		"DELETE http://it.test/accounts/jnew REQ-000042.accounts.compensate",
		"DELETE http://hr.test/records/HR-7 REQ-000042.hr-record.compensate",
	}, l.all())
}

// TestOperatorsView: EsmOpenGroups names the groups with open work, upserted as it changes, and
// the current details show the task board.
func (s *requestSuite) TestOperatorsView() {
	s.endpoints(&calls{})
	var mu sync.Mutex
	var groups []string
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		mu.Lock()
		defer mu.Unlock()
		if g, ok := sa.GetKeywordList(AttrOpenGroups); ok {
			groups = append(groups, strings.Join(g, ","))
		} else {
			groups = append(groups, "-") // unset: no group has open work
		}
	}).Return(nil)
	var board1, board2 string
	var groups1 []string
	var laptopDue string
	s.env.RegisterDelayedCallback(func() {
		board1 = s.details()
		laptopDue = s.state().Tasks[1].OpenedAt.Add(4 * time.Hour).UTC().Format(boardTime)
		mu.Lock()
		groups1 = append([]string(nil), groups...)
		mu.Unlock()
	}, time.Minute)
	s.act(2*time.Minute, ClaimTaskUpdate, "laptop", dave, "it-service-desk")
	s.env.RegisterDelayedCallback(func() { board2 = s.details() }, 150*time.Second)
	s.act(3*time.Minute, CompleteTaskUpdate, "laptop", dave, "it-service-desk")
	s.act(4*time.Minute, CompleteTaskUpdate, "desk", dave, "facilities")
	s.act(5*time.Minute, CompleteTaskUpdate, "welcome", dave, "hr")
	in := onboardingInput("london")
	in.Definition.Fulfilment.Tasks[1].Target = catalog.Duration(4 * time.Hour)
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Require().NotEmpty(groups1)
	s.Equal("facilities,it-service-desk", groups1[len(groups1)-1], "laptop (IT) and desk (facilities) are open")
	s.Equal([]string{"facilities,it-service-desk", "facilities", "hr", "-"}, groups[len(groups)-4:], "as the work moves on; none once resolved")
	s.Contains(board1, "| task | group | state | assignee | due |")
	s.Contains(board1, "| HR record | hr | done |")
	s.Contains(board1, "| Laptop | it-service-desk | open |  | "+laptopDue+" |", "the laptop is due four hours after it opened")
	s.Contains(board1, "| Desk | facilities | open |")
	s.Contains(board1, "| Welcome | hr | waiting |")
	s.Contains(board2, "| Laptop | it-service-desk | claimed | dave |")
}

// details reads the request's current details, as the Temporal UI does.
func (s *requestSuite) details() string {
	v, err := s.env.QueryWorkflow("__temporal_workflow_metadata")
	s.Require().NoError(err)
	var md sdkpb.WorkflowMetadata
	s.Require().NoError(v.Get(&md))
	return md.GetCurrentDetails()
}

// TestACallGetsEveryAttempt: a call that keeps failing (5xx) is retried past the first 15
// seconds, as callRetry says: the sixth attempt, 31 seconds in, succeeds.
func (s *requestSuite) TestACallGetsEveryAttempt() {
	var mu sync.Mutex
	attempts := 0
	var f *activities.Fulfilment
	s.env.OnActivity(f.Call, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
		mu.Lock()
		defer mu.Unlock()
		if in.Call.URL == "http://hr.test/records" {
			if attempts++; attempts < 6 {
				return activities.CallResult{}, errors.New("POST http://hr.test/records answered 503")
			}
		}
		return activities.CallResult{Status: 201, Outputs: map[string]any{"id": "HR-7"}}, nil
	})
	d := onboarding("", "")
	d.Fulfilment.Tasks = d.Fulfilment.Tasks[:1]
	in := input(d)
	in.Form = map[string]any{"joiner": "Jo New"}
	s.env.ExecuteWorkflow(ServiceRequest, in)
	s.Equal(catalog.StatusResolved, s.result().Status, s.state().Tasks[0].Reason)
	s.Equal(6, attempts)
}
