package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/esmhq/esm/catalog"
)

// Issue 16 §5: retirement never hangs, whatever order the signals and listings come in.

// retireThen retires the suite's service (by its head) after a minute and runs then once the
// retire update has completed.
func (s *lifecycleSuite) retireThen(then func()) {
	s.actThen(time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionRetire}, then)
}

// finalStage runs the lifecycle of a published service, cancelling it after a day if it has not
// ended by then, and returns its last state and whether it completed on its own.
func (s *lifecycleSuite) finalStage() (LifecycleState, bool) {
	ended := true
	s.at(24*time.Hour, func() {
		ended = false
		s.env.CancelWorkflow()
	})
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.True(s.env.IsWorkflowCompleted())
	return s.state(), ended
}

// TestRetireClosedBeforeListed: REQ-000001 closes (and signals) after the store listed it in
// flight but before the listing's answer reaches the lifecycle. The signal is not dropped: the
// service retires once REQ-000002 closes too.
func (s *lifecycleSuite) TestRetireClosedBeforeListed() {
	s.open = []string{"REQ-000001", "REQ-000002"}
	s.during = func(activity string) {
		if activity == "OpenRequests" {
			s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001")
		}
	}
	var retiring LifecycleState
	s.retireThen(func() {
		retiring = s.state()
		s.at(time.Minute, func() { s.env.SignalWorkflow(RequestClosedSignal, "REQ-000002") })
	})
	st, ended := s.finalStage()
	s.Equal([]string{"REQ-000002"}, retiring.InFlight, "the request that closed is not waited for")
	s.True(ended, "the lifecycle ends on its own")
	s.Equal(catalog.StageRetired, st.Stage)
	s.Equal([]string{catalog.StageRetiring, catalog.StageRetired}, s.stages)
}

// TestRetireEveryoneClosedBeforeListed: every listed request closes before the listing answers:
// the service retires at once.
func (s *lifecycleSuite) TestRetireEveryoneClosedBeforeListed() {
	s.open = []string{"REQ-000001"}
	s.during = func(activity string) {
		if activity == "OpenRequests" {
			s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001")
		}
	}
	s.retireThen(nil)
	st, ended := s.finalStage()
	s.True(ended)
	s.Equal(catalog.StageRetired, st.Stage)
}

// TestRetireFindsLateSubmissionDrain: a submission that passed the API's stage check before the
// retirement is written after the listing (the store has it open when the lifecycle would
// retire): the lifecycle drains it too, and retires once it closes.
func (s *lifecycleSuite) TestRetireFindsLateSubmissionDrain() {
	s.open = []string{"REQ-000001"}
	s.late = [][]string{{"REQ-000007"}}
	var waiting LifecycleState
	s.retireThen(func() {
		s.at(time.Minute, func() {
			s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001")
			s.at(time.Minute, func() {
				waiting = s.state()
				s.env.SignalWorkflow(RequestClosedSignal, "REQ-000007")
			})
		})
	})
	st, ended := s.finalStage()
	s.Equal(catalog.StageRetiring, waiting.Stage, "the late request is drained")
	s.Equal([]string{"REQ-000007"}, waiting.InFlight)
	s.True(ended)
	s.Equal(catalog.StageRetired, st.Stage)
	s.Empty(s.retired, "drain cancels nothing")
	var types []string
	for _, e := range st.History {
		types = append(types, e.Type)
	}
	s.Equal([]string{"retiring", "retiring.late", "retired"}, types)
}

// TestRetireFindsLateSubmissionCancel: with the cancel policy the late request is told to cancel
// as the listed ones were.
func (s *lifecycleSuite) TestRetireFindsLateSubmissionCancel() {
	s.def.Retirement = &catalog.RetirementPolicy{Policy: catalog.RetireCancel}
	s.open = []string{"REQ-000001"}
	s.late = [][]string{{"REQ-000007"}}
	s.retireThen(func() {
		s.at(time.Minute, func() {
			s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001")
			s.at(time.Minute, func() { s.env.SignalWorkflow(RequestClosedSignal, "REQ-000007") })
		})
	})
	st, ended := s.finalStage()
	s.True(ended)
	s.Equal(catalog.StageRetired, st.Stage)
	s.Equal([]string{"request/REQ-000001", "request/REQ-000007"}, s.retired)
}

// TestRetireLateClosedBeforeFound: the late request closes (and signals) before the final
// check's answer naming it arrives: it is not waited for either.
func (s *lifecycleSuite) TestRetireLateClosedBeforeFound() {
	s.open = []string{"REQ-000001"}
	s.late = [][]string{{"REQ-000007", "REQ-000008"}}
	calls := 0
	s.during = func(activity string) {
		if activity == "Retire" {
			if calls++; calls == 1 {
				s.env.SignalWorkflow(RequestClosedSignal, "REQ-000007")
			}
		}
	}
	var waiting LifecycleState
	s.retireThen(func() {
		s.at(time.Minute, func() {
			s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001")
			s.at(time.Minute, func() {
				waiting = s.state()
				s.env.SignalWorkflow(RequestClosedSignal, "REQ-000008")
			})
		})
	})
	st, ended := s.finalStage()
	s.Equal([]string{"REQ-000008"}, waiting.InFlight)
	s.True(ended)
	s.Equal(catalog.StageRetired, st.Stage)
}

// TestRetireRevision2: a run of revision 2 keeps its path (no Retire activity; the early signal
// is not taken into account: such runs are what hung).
func (s *lifecycleSuite) TestRetireRevision2() {
	s.env.OnGetVersion(LifecycleRevision, workflow.DefaultVersion, lifecycleRevision).Return(workflow.Version(2))
	s.open = []string{"REQ-000001"}
	s.retireThen(func() {
		s.at(time.Minute, func() { s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001") })
	})
	st, ended := s.finalStage()
	s.True(ended)
	s.Equal(catalog.StageRetired, st.Stage)
	s.Equal([]string{catalog.StageRetiring, catalog.StageRetired}, s.stages, "SetStage records retired")
}

// TestOpenedOnRetiredServiceCancels: a request whose first state is written after its service
// retired (it passed the API's stage check before) cancels itself: nobody would drain it.
func (s *requestSuite) TestOpenedOnRetiredServiceCancels() {
	s.stage = catalog.StageRetired
	s.env.ExecuteWorkflow(ServiceRequest, input(definition("")))
	res := s.result()
	s.Equal(catalog.StatusCancelled, res.Status)
	s.Equal("the service laptop retired before the request was recorded", res.Reason)
	s.Contains(s.events(), "cancel.retired")
	s.Equal(1, s.openings, "only the first write reads the stage")
}

// TestOpenedOnRetiringServiceRuns: written while the service retires, a request runs (the
// lifecycle finds it before it retires) and tells the lifecycle when it closes.
func (s *requestSuite) TestOpenedOnRetiringServiceRuns() {
	s.stage, s.retiring = catalog.StageRetiring, true
	s.completeAt(time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition("")))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Equal([]string{"service/laptop REQ-000042"}, s.signalled)
}

// TestOpenedRevision3: a request of revision 3 does not read the stage with its first write.
func (s *requestSuite) TestOpenedRevision3() {
	s.env.OnGetVersion(RequestRevision, workflow.DefaultVersion, requestRevision).Return(workflow.Version(3))
	s.stage = catalog.StageRetired
	s.completeAt(time.Minute)
	s.env.ExecuteWorkflow(ServiceRequest, input(definition("")))
	s.Equal(catalog.StatusResolved, s.result().Status)
	s.Zero(s.openings)
}
