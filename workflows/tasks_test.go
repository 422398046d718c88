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
