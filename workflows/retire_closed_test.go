package workflows

import (
	"time"

	"github.com/esmhq/esm/catalog"
)

// Breaker 16, finding: a request that signals request_closed before its closed state is in the
// store (a request of revision 0 signals, then projects; retired() says it knows) is removed
// from InFlight by the signal, then found open by Retire and taken for a late submission: it
// joins InFlight again and its signal never comes again. The service stays retiring for ever.
func (s *lifecycleSuite) TestBreakerRetireSignalBeforeProjection() {
	s.open = []string{"REQ-000001"}
	s.late = [][]string{{"REQ-000001"}} // the store still has it open at the first Retire
	s.retireThen(func() {
		s.at(time.Minute, func() { s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001") })
	})
	st, ended := s.finalStage()
	s.True(ended, "the lifecycle ends on its own; in flight: %v, history: %v", st.InFlight, st.History)
	s.Equal(catalog.StageRetired, st.Stage)
}
