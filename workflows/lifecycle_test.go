package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type lifecycleSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env      *testsuite.TestWorkflowEnvironment
	stages   []string
	notified []activities.Notification
	def      catalog.Definition
	open     []string
	retired  []string
	// reviewers is what the governance policy names; saved lists the drafts stored.
	reviewers []catalog.PersonRef
	saved     []activities.SaveDraftInput
	zone      string
	// managers is whom an escalation to the head's managers finds (revision 1); filled is whom
	// FillApprovers offers, in the order it goes up the organisation; fills records its calls.
	managers []catalog.PersonRef
	filled   []catalog.PersonRef
	fills    []activities.FillApproversInput
	// versions overrides s.def for the versions it holds; resolved records ResolveApprovers' inputs.
	versions map[int]catalog.Definition
	resolved []activities.ResolveApproversInput
	// late is what each call of Retire finds still open in the store (revision 3), in order;
	// when it finds nothing, the service is retired.
	late [][]string
	// during runs inside the OpenRequests and Retire activities, before they answer: a signal
	// sent from it reaches the workflow before their result does.
	during func(activity string)
}

func TestServiceLifecycle(t *testing.T) { suite.Run(t, new(lifecycleSuite)) }

var (
	ivan  = catalog.PersonRef{ID: "ivan", Name: "Ivan Petrov"} // IT head
	omar  = catalog.PersonRef{ID: "omar", Name: "Omar Haddad"} // the owner
	staff = catalog.PersonRef{ID: "frank", Name: "Frank Osei"} // IT staff
)

// draft is a save_draft of the suite's definition by who, with what they may.
func (s *lifecycleSuite) draft(who catalog.PersonRef, a LifecycleAction) LifecycleAction {
	d := s.def
	a.Actor, a.Action, a.Definition = who, ActionSaveDraft, &d
	return a
}

type lcRecorder struct{ s *lifecycleSuite }

func (r lcRecorder) Notify(_ context.Context, n activities.Notification) error {
	r.s.notified = append(r.s.notified, n)
	return nil
}

func (s *lifecycleSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.stages, s.notified, s.open, s.retired, s.saved, s.zone = nil, nil, nil, nil, nil, ""
	s.reviewers = []catalog.PersonRef{ivan}
	// Up the organisation from IT: its head Ivan, then his manager Grace.
	s.managers, s.filled, s.fills = []catalog.PersonRef{grace}, []catalog.PersonRef{ivan, grace}, nil
	s.versions, s.resolved = nil, nil
	s.def = catalog.Definition{Key: "licence", Name: "Licence", Department: "it", Owner: "omar"}
	var c *activities.Catalog
	var dir *activities.Directory
	s.env.RegisterActivity(c.Definition)
	s.env.RegisterActivity(c.SetStage)
	s.env.RegisterActivity(c.SaveDraft)
	s.env.RegisterActivity(c.OpenRequests)
	s.env.RegisterActivity(dir.ResolveApprovers)
	s.env.RegisterActivity(dir.FillApprovers)
	s.env.RegisterActivity(&activities.Notifications{Notifier: lcRecorder{s}})
	s.env.OnActivity(c.Definition, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DefinitionInput) (activities.DefinitionResult, error) {
		if d, ok := s.versions[in.Version]; ok {
			return activities.DefinitionResult{Definition: d, Head: "ivan", TimeZone: s.zone}, nil
		}
		return activities.DefinitionResult{Definition: s.def, Head: "ivan", TimeZone: s.zone}, nil
	})
	// The store numbers versions after every stored one (version 1 is live or the first draft).
	s.env.OnActivity(c.SaveDraft, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SaveDraftInput) (activities.SaveDraftResult, error) {
		s.saved = append(s.saved, in)
		return activities.SaveDraftResult{Version: len(s.saved) + 1}, nil
	})
	s.env.OnActivity(c.SetStage, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StageInput) (activities.StageResult, error) {
		s.stages = append(s.stages, in.Stage)
		return activities.StageResult{}, nil
	})
	s.env.OnActivity(c.OpenRequests, mock.Anything, mock.Anything).Return(func(context.Context, activities.OpenRequestsInput) (activities.OpenRequestsResult, error) {
		if s.during != nil {
			s.during("OpenRequests")
		}
		return activities.OpenRequestsResult{IDs: s.open}, nil
	})
	s.late, s.during = nil, nil
	s.env.RegisterActivity(c.Retire)
	s.env.OnActivity(c.Retire, mock.Anything, mock.Anything).Return(func(context.Context, activities.RetireInput) (activities.RetireResult, error) {
		if s.during != nil {
			s.during("Retire")
		}
		if len(s.late) > 0 && len(s.late[0]) > 0 {
			open := s.late[0]
			s.late = s.late[1:]
			return activities.RetireResult{Open: open}, nil
		}
		s.stages = append(s.stages, catalog.StageRetired)
		return activities.RetireResult{Retired: true}, nil
	})
	// The directory: the policy names s.reviewers, the department head is Ivan, his manager Grace;
	// the excluded are left out, as the real activity does.
	s.env.OnActivity(dir.ResolveApprovers, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ResolveApproversInput) (activities.ResolveApproversResult, error) {
		s.resolved = append(s.resolved, in)
		var named []catalog.PersonRef
		switch {
		case len(in.ManagersOf) > 0:
			named = s.managers
		case in.Approvers.DepartmentHead != "":
			named = []catalog.PersonRef{ivan}
		default:
			named = s.reviewers
		}
		res := activities.ResolveApproversResult{Named: len(named)}
		for _, p := range named {
			if why, ok := in.Exclude[p.ID]; ok {
				res.Excluded = append(res.Excluded, catalog.Exclusion{ID: p.ID, Why: why})
			} else {
				res.Approvers = append(res.Approvers, p)
			}
		}
		return res, nil
	})
	// FillApprovers offers s.filled in order, passing over the excluded, as the real one does.
	s.env.OnActivity(dir.FillApprovers, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FillApproversInput) (activities.FillApproversResult, error) {
		s.fills = append(s.fills, in)
		var out activities.FillApproversResult
		for _, p := range s.filled {
			if why, ok := in.Exclude[p.ID]; ok {
				out.Skipped = append(out.Skipped, catalog.Exclusion{ID: p.ID, Why: why})
			} else if len(out.Added) < in.Need {
				out.Added = append(out.Added, activities.Addition{PersonRef: p, Why: "up the organisation"})
			}
		}
		return out, nil
	})
	s.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, RetireSignal, mock.Anything).Return(
		func(_, id, _, _ string, _ any) error {
			s.retired = append(s.retired, id)
			return nil
		})
}

type lcOutcome struct {
	rejected error
	done     bool
}

func (s *lifecycleSuite) act(at time.Duration, a LifecycleAction) *lcOutcome {
	return s.actThen(at, a, nil)
}

// actThen sends the action after at, and runs then once it has completed.
func (s *lifecycleSuite) actThen(at time.Duration, a LifecycleAction, then func()) *lcOutcome {
	o := &lcOutcome{}
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(LifecycleUpdate, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { o.rejected = err }, OnAccept: func() {},
			OnComplete: func(_ interface{}, err error) {
				o.done = err == nil
				if then != nil {
					then()
				}
			},
		}, a)
	}, at)
	return o
}

func (s *lifecycleSuite) state() LifecycleState {
	v, err := s.env.QueryWorkflow(LifecycleQuery)
	s.Require().NoError(err)
	var st LifecycleState
	s.Require().NoError(v.Get(&st))
	return st
}

func (s *lifecycleSuite) at(d time.Duration, fn func()) { s.env.RegisterDelayedCallback(fn, d) }

func (s *lifecycleSuite) TestDraftReviewPublish() {
	early := s.act(time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionPublish})
	notOwner := s.act(2*time.Minute, LifecycleAction{Actor: staff, Staff: true, Action: ActionSubmit})
	submit := s.act(3*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	var inReview LifecycleState
	s.at(4*time.Minute, func() { inReview = s.state() })
	notReviewer := s.act(5*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionApprove})
	approve := s.act(6*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove, Comment: "fine"})
	publish := s.act(7*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionPublish})
	var published LifecycleState
	s.at(8*time.Minute, func() { published = s.state() })
	deprecate := s.act(9*time.Minute, LifecycleAction{Actor: staff, Staff: true, Action: ActionDeprecate})
	s.at(10*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StageDraft, Draft: 1})

	s.Equal(ErrConflict, errType(early.rejected), "a draft is published only after approval")
	s.Equal(ErrForbidden, errType(notOwner.rejected))
	s.True(submit.done)
	s.Equal(catalog.StageReview, inReview.Stage)
	s.Equal(DraftInReview, inReview.DraftStatus)
	s.Equal(ErrForbidden, errType(notReviewer.rejected))
	s.True(approve.done)
	s.True(publish.done)
	s.Equal(catalog.StagePublished, published.Stage)
	s.Equal(1, published.Live)
	s.Equal(0, published.Draft)
	s.Equal(ErrForbidden, errType(deprecate.rejected), "staff may not deprecate")
	s.Contains(s.stages, catalog.StagePublished)
}

func (s *lifecycleSuite) TestNewVersionWhileLive() {
	s.act(time.Minute, s.draft(staff, LifecycleAction{Staff: true}))
	s.act(2*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	noReason := s.act(3*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionReject})
	s.act(4*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionReject, Comment: "price is wrong"})
	var rejected LifecycleState
	s.at(5*time.Minute, func() { rejected = s.state() })
	s.act(6*time.Minute, s.draft(staff, LifecycleAction{Staff: true}))
	s.act(7*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	s.act(8*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	s.act(9*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionPublish})
	s.at(10*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.Equal(ErrInvalid, errType(noReason.rejected))
	s.Equal(catalog.StagePublished, rejected.Stage, "version 1 stays live while version 2 is reviewed")
	s.Equal(DraftEditing, rejected.DraftStatus)
	st := s.state()
	s.Equal(3, st.Live)
	s.Equal(catalog.StagePublished, st.Stage)
}

func (s *lifecycleSuite) TestReviewCadenceAndOverdue() {
	s.def.Review = &catalog.ReviewPolicy{Cron: "0 9 1 * *", EscalateAfter: catalog.Duration(48 * time.Hour)}
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s.env.SetStartTime(start)
	var beforeDue, due, overdue LifecycleState
	s.at(7*24*time.Hour, func() { beforeDue = s.state() })        // 1 December, 10:00: due since 09:00
	s.at(6*24*time.Hour+22*time.Hour, func() { due = s.state() }) // 1 December, 08:00... not yet
	s.at(9*24*time.Hour, func() { overdue = s.state() })          // 3 December, 10:00: overdue since 09:00
	keep := s.act(9*24*time.Hour+time.Hour, LifecycleAction{Actor: omar, Owner: true, Action: ActionReview, Outcome: ReviewKeep})
	var after LifecycleState
	s.at(9*24*time.Hour+2*time.Hour, func() { after = s.state() })
	s.at(10*24*time.Hour, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.False(due.ReviewDue, "not before the cron instant")
	s.True(beforeDue.ReviewDue)
	s.True(overdue.Escalated)
	s.True(keep.done)
	s.False(after.ReviewDue)
	s.True(after.NextReview.Equal(time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC)), "the next review: %v", after.NextReview)
	var subjects []string
	for _, n := range s.notified {
		subjects = append(subjects, n.Subject+"->"+n.To[0])
	}
	s.Equal([]string{"Review due: Licence->omar", "Review overdue: Licence->ivan"}, subjects)
}

func (s *lifecycleSuite) TestRetireDrain() {
	s.open = []string{"REQ-000001", "REQ-000002"}
	byOwner := s.act(time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionRetire})
	var retiring, one LifecycleState
	s.actThen(2*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionRetire, Successor: "licence-v2"}, func() {
		retiring = s.state()
		s.at(time.Minute, func() {
			s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001")
			s.at(time.Minute, func() {
				one = s.state()
				s.env.SignalWorkflow(RequestClosedSignal, "REQ-000002")
			})
		})
	})
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	var st LifecycleState
	s.NoError(s.env.GetWorkflowResult(&st))
	s.Equal(ErrForbidden, errType(byOwner.rejected))
	s.Equal(catalog.StageRetiring, retiring.Stage)
	s.Equal("licence-v2", retiring.Successor)
	s.Equal(catalog.StageRetiring, one.Stage, "one request is still in flight")
	s.Equal(catalog.StageRetired, st.Stage)
	s.Empty(s.retired, "drain cancels nothing")
	s.Equal([]string{catalog.StageRetiring, catalog.StageRetired}, s.stages)
}

func (s *lifecycleSuite) TestRetireCancel() {
	s.def.Retirement = &catalog.RetirementPolicy{Policy: catalog.RetireCancel, Successor: "software-licence"}
	s.open = []string{"REQ-000001", "REQ-000002"}
	s.actThen(time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionRetire}, func() {
		s.at(time.Minute, func() {
			s.env.SignalWorkflow(RequestClosedSignal, "REQ-000002")
			s.env.SignalWorkflow(RequestClosedSignal, "REQ-000001")
		})
	})
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StageDeprecated, Live: 1})
	var st LifecycleState
	s.NoError(s.env.GetWorkflowResult(&st))
	s.Equal(catalog.StageRetired, st.Stage)
	s.Equal("software-licence", st.Successor)
	s.Equal([]string{"request/REQ-000001", "request/REQ-000002"}, s.retired, "each request in flight is told to cancel")
}

func (s *lifecycleSuite) TestContinueAsNewKeepsState() {
	for i := 0; i < 6; i++ {
		s.act(time.Duration(i+1)*time.Minute, s.draft(staff, LifecycleAction{Staff: true}))
	}
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1, MaxEvents: 40})
	err := s.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(err, &can), "the workflow continued as new: %v", err)
	var next LifecycleInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.Require().NotNil(next.State)
	s.Equal(1, next.State.Live)
	s.GreaterOrEqual(next.State.Draft, 2)
	s.NotEmpty(next.State.History, "the history is carried over")
	s.Equal(40, next.MaxEvents)
}

// TestDraftStoredOnlyOnceAccepted: the lifecycle stores a draft only after it accepted it; a
// refused draft (in review, by an outsider, handing the service to oneself, a service that
// exists) stores nothing. A draft without its definition (the API storing first) is refused.
func (s *lifecycleSuite) TestDraftStoredOnlyOnceAccepted() {
	byOutsider := s.act(time.Minute, s.draft(erin, LifecycleAction{}))
	stored := s.act(2*time.Minute, LifecycleAction{Actor: staff, Staff: true, Action: ActionSaveDraft, Version: 2})
	mine := s.draft(staff, LifecycleAction{Staff: true})
	mine.Definition.Owner = staff.ID
	takeOver := s.act(3*time.Minute, mine)
	create := s.act(4*time.Minute, s.draft(staff, LifecycleAction{Staff: true, Create: true}))
	save := s.act(5*time.Minute, s.draft(staff, LifecycleAction{Staff: true}))
	s.act(6*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	inReview := s.act(7*time.Minute, s.draft(staff, LifecycleAction{Staff: true}))
	handOver := s.draft(omar, LifecycleAction{Owner: true})
	handOver.Definition.Owner = staff.ID
	s.act(8*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionReject, Comment: "no"})
	byOwner := s.act(9*time.Minute, handOver)
	s.at(10*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})

	s.Equal(ErrForbidden, errType(byOutsider.rejected))
	s.Equal(ErrInvalid, errType(stored.rejected), "a draft the API stored first is refused")
	s.Equal(ErrForbidden, errType(takeOver.rejected), "staff do not make themselves the owner")
	s.Equal(ErrConflict, errType(create.rejected), "the service exists")
	s.True(save.done)
	s.Equal(ErrConflict, errType(inReview.rejected))
	s.True(byOwner.done, "the owner hands the service over")
	s.Len(s.saved, 2, "only the accepted drafts are stored")
	st := s.state()
	s.Equal(3, st.Draft)
	s.Equal(omar.ID, st.DraftAuthor)
}

// TestFourEyes: the author of a draft never reviews it, even as a reviewer the policy names
// (the department head); when the policy names nobody else, the review goes up.
func (s *lifecycleSuite) TestFourEyes() {
	s.reviewers = []catalog.PersonRef{ivan, omar}
	s.def.Governance = &catalog.ApprovalStep{Name: "review", Mode: catalog.ModeAny, Approvers: catalog.Approvers{People: []string{"ivan", "omar"}}}
	s.act(time.Minute, s.draft(ivan, LifecycleAction{Head: true, Staff: true}))
	s.act(2*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	var open LifecycleState
	s.at(3*time.Minute, func() { open = s.state() })
	byAuthor := s.act(4*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	rejectByAuthor := s.act(5*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionReject, Comment: "mine"})
	rejected := s.act(6*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionReject, Comment: "no"})
	s.at(7*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})

	s.Require().NotNil(open.Review)
	s.Equal([]string{omar.ID}, pendingIDs(open.Review), "the author is not asked")
	s.Require().Len(open.Review.Excluded, 1)
	s.Equal(ivan.ID, open.Review.Excluded[0].ID)
	s.Equal(ErrForbidden, errType(byAuthor.rejected))
	s.Contains(byAuthor.rejected.Error(), "four eyes")
	s.Equal(ErrForbidden, errType(rejectByAuthor.rejected))
	s.True(rejected.done)
}

// TestFourEyesHeadWrote: the policy names only the department head (the default), and the head
// writes the draft: it goes to his manager.
func (s *lifecycleSuite) TestFourEyesHeadWrote() {
	s.act(time.Minute, s.draft(ivan, LifecycleAction{Head: true, Staff: true}))
	s.act(2*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	var up LifecycleState
	s.at(3*time.Minute, func() { up = s.state() })
	again := s.act(4*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	byManager := s.act(5*time.Minute, LifecycleAction{Actor: grace, Action: ActionApprove})
	s.at(6*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.Require().NotNil(up.Review)
	s.Equal([]string{grace.ID}, pendingIDs(up.Review), "the head wrote it: his manager reviews")
	s.Equal(ErrForbidden, errType(again.rejected))
	s.True(byManager.done)
	s.Equal(DraftApproved, s.state().DraftStatus)
}

// TestReviewInDepartmentZone: the review cron reads in the department calendar's zone. IT in
// Auckland, "0 9 1 * *": 1 December 09:00 NZDT, 30 November 20:00 UTC, not 1 December 09:00 UTC.
func (s *lifecycleSuite) TestReviewInDepartmentZone() {
	s.zone = "Pacific/Auckland"
	s.def.Review = &catalog.ReviewPolicy{Cron: "0 9 1 * *"}
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s.env.SetStartTime(start)
	var first, before, due LifecycleState
	s.at(time.Hour, func() { first = s.state() })
	s.at(6*24*time.Hour+9*time.Hour, func() { before = s.state() }) // 30 November 19:00 UTC
	s.at(6*24*time.Hour+11*time.Hour, func() { due = s.state() })   // 30 November 21:00 UTC
	s.at(7*24*time.Hour, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	want := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	s.Require().NotNil(first.NextReview)
	s.True(first.NextReview.Equal(want), "next review %v, want %v", first.NextReview, want)
	s.False(before.ReviewDue)
	s.True(due.ReviewDue, "due at 09:00 in Auckland")
}

// events lists the types of the lifecycle's audit trail.
func events(st LifecycleState) []string {
	var out []string
	for _, e := range st.History {
		out = append(out, e.Type)
	}
	return out
}

// TestReviewQuorumNeverShrinks: a quorum of 2 over Ivan and Omar, Omar writing the draft, is not
// lowered to Ivan alone: a third reviewer is added (Ivan is one already, so his manager Grace),
// and two approvals are still needed.
func (s *lifecycleSuite) TestReviewQuorumNeverShrinks() {
	s.reviewers = []catalog.PersonRef{ivan, omar}
	s.def.Governance = &catalog.ApprovalStep{Name: "board", Mode: catalog.ModeQuorum, Quorum: 2, Approvers: catalog.Approvers{People: []string{"ivan", "omar"}},
		Escalate: &catalog.Escalation{To: "manager"}}
	s.act(time.Minute, s.draft(omar, LifecycleAction{Owner: true}))
	submit := s.act(2*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	var open, one LifecycleState
	s.at(3*time.Minute, func() { open = s.state() })
	s.act(4*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	s.at(5*time.Minute, func() { one = s.state() })
	byAuthor := s.act(6*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionApprove})
	byAdded := s.act(7*time.Minute, LifecycleAction{Actor: grace, Action: ActionApprove})
	s.at(8*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})

	s.True(submit.done)
	s.Require().NotNil(open.Review)
	s.Equal(2, open.Review.Required, "the quorum counts from the two the policy names")
	s.Equal([]string{ivan.ID, grace.ID}, pendingIDs(open.Review))
	s.Equal("fallback", open.Review.Approvers[1].AddedBy)
	s.Contains(events(open), "review.topped_up")
	s.Require().Len(s.fills, 1)
	s.Equal(1, s.fills[0].Need)
	s.Equal("it", s.fills[0].Department)
	s.Require().NotNil(s.fills[0].Escalate, "the policy's escalation is followed first")
	s.Equal("manager", s.fills[0].Escalate.To)
	s.Contains(s.fills[0].Exclude, omar.ID, "the author is never added")
	s.Contains(s.fills[0].Exclude, ivan.ID, "a reviewer already is not added twice")
	s.ElementsMatch([]string{ivan.ID, omar.ID}, s.fills[0].Named)
	s.Equal(DraftInReview, one.DraftStatus, "one approval of a quorum of two")
	s.Equal(ErrForbidden, errType(byAuthor.rejected))
	s.True(byAdded.done)
	s.Equal(DraftApproved, s.state().DraftStatus)
}

// TestReviewNobodyLeftWaits: the head writes a draft only he reviews, and nobody is above him:
// the submission is not refused and the lifecycle does not fail; the review waits, its audit
// trail says why, and once the directory has someone the owner submits again.
func (s *lifecycleSuite) TestReviewNobodyLeftWaits() {
	s.reviewers, s.managers, s.filled = []catalog.PersonRef{ivan}, nil, []catalog.PersonRef{ivan}
	s.def.Governance = &catalog.ApprovalStep{Name: "review", Mode: catalog.ModeAny, Approvers: catalog.Approvers{People: []string{"ivan"}}}
	s.act(time.Minute, s.draft(ivan, LifecycleAction{Head: true, Staff: true}))
	submit := s.act(2*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	var waiting LifecycleState
	s.at(3*time.Minute, func() { waiting = s.state() })
	byAuthor := s.act(4*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	s.at(5*time.Minute, func() { s.filled = []catalog.PersonRef{ivan, grace} }) // an admin adds Grace above Ivan
	again := s.act(6*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	approve := s.act(7*time.Minute, LifecycleAction{Actor: grace, Action: ActionApprove})
	s.at(8*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})

	s.NoError(submit.rejected, "the shape of the org chart refuses nothing")
	s.True(submit.done)
	s.Equal(DraftInReview, waiting.DraftStatus)
	s.Require().NotNil(waiting.Review)
	s.Empty(pendingIDs(waiting.Review))
	s.Equal(1, waiting.Review.Required)
	s.Contains(events(waiting), "review.understaffed")
	var told []string
	for _, n := range s.notified {
		told = append(told, n.Subject+"->"+strings.Join(n.To, ","))
	}
	s.Contains(told, "Review short of reviewers: licence->omar", "the owner is told the review waits")
	s.Contains(told, "Review: licence->grace")
	s.Equal(ErrForbidden, errType(byAuthor.rejected))
	s.True(again.done, "an understaffed review is opened again")
	s.True(approve.done)
	s.Equal(DraftApproved, s.state().DraftStatus)
	s.True(s.env.IsWorkflowCompleted())
	s.Require().Error(s.env.GetWorkflowError())
	s.Contains(s.env.GetWorkflowError().Error(), "canceled", "cancelled by the test, not failed")
}

// TestUnderstaffedReviewMayBeReplaced: a draft whose review has too few reviewers may be
// replaced by a new draft (the owner changes the policy); one whose review is staffed may not.
func (s *lifecycleSuite) TestUnderstaffedReviewMayBeReplaced() {
	s.reviewers, s.managers, s.filled = []catalog.PersonRef{ivan}, nil, nil
	s.def.Governance = &catalog.ApprovalStep{Name: "review", Mode: catalog.ModeAny, Approvers: catalog.Approvers{People: []string{"ivan"}}}
	s.act(time.Minute, s.draft(ivan, LifecycleAction{Head: true, Staff: true}))
	first := s.act(2*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	s.at(3*time.Minute, func() {
		s.def.Governance.Approvers.People = []string{"ivan", "omar"}
		s.reviewers = []catalog.PersonRef{ivan, omar}
	})
	replace := s.act(4*time.Minute, s.draft(ivan, LifecycleAction{Head: true, Staff: true}))
	s.act(5*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	staffed := s.act(6*time.Minute, s.draft(ivan, LifecycleAction{Head: true, Staff: true}))
	resubmit := s.act(7*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	s.at(8*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.True(first.done, "in review with nobody to review it")
	s.True(replace.done)
	s.Equal(ErrConflict, errType(staffed.rejected), "a staffed review is decided first")
	s.Equal(ErrConflict, errType(resubmit.rejected))
	st := s.state()
	s.Equal(3, st.Draft)
	s.Equal([]string{omar.ID}, pendingIDs(st.Review))
}

// TestCancelledRunEndsCancelled: an operator's cancel ends the run cancelled, not with a
// workflow task the deadlock detector fails again and again.
func (s *lifecycleSuite) TestCancelledRunEndsCancelled() {
	s.at(time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	var cancelled *temporal.CanceledError
	s.Require().True(errors.As(err, &cancelled), "cancelled, not %v", err)
}

// TestReviewRevision1Shrinks: a run that started before lifecycle revision 2 keeps counting the
// quorum among the reviewers left (its histories replay).
func (s *lifecycleSuite) TestReviewRevision1Shrinks() {
	s.env.OnGetVersion(LifecycleRevision, workflow.DefaultVersion, lifecycleRevision).Return(workflow.Version(1))
	s.reviewers = []catalog.PersonRef{ivan, omar}
	s.def.Governance = &catalog.ApprovalStep{Name: "board", Mode: catalog.ModeQuorum, Quorum: 2, Approvers: catalog.Approvers{People: []string{"ivan", "omar"}}}
	s.act(time.Minute, s.draft(omar, LifecycleAction{Owner: true}))
	s.act(2*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	s.act(3*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	s.at(4*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.Equal(DraftApproved, s.state().DraftStatus)
	s.Empty(s.fills)
}

// TestDraftNeverSetsItsOwnBar: the live version's governance reviews a draft, not the draft's
// own: Frank's draft lowering the quorum to 1 and naming Erin is reviewed by the live policy,
// a quorum of 2 over Ivan and Frank (Frank excluded as the author, so one more is added).
func (s *lifecycleSuite) TestDraftNeverSetsItsOwnBar() {
	s.def.Governance = &catalog.ApprovalStep{Name: "board", Mode: catalog.ModeQuorum, Quorum: 2, Approvers: catalog.Approvers{People: []string{"ivan", "frank"}}}
	s.reviewers = []catalog.PersonRef{ivan, staff}
	lowered := s.def
	lowered.Governance = &catalog.ApprovalStep{Name: "board", Mode: catalog.ModeAny, Approvers: catalog.Approvers{People: []string{"erin"}}}
	s.versions = map[int]catalog.Definition{2: lowered}
	save := s.draft(staff, LifecycleAction{Staff: true})
	save.Definition = &lowered
	s.act(time.Minute, save)
	s.act(2*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	s.act(3*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	s.at(4*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	st := s.state()
	s.Require().NotNil(st.Review)
	s.Require().NotEmpty(s.resolved)
	s.Equal([]string{"ivan", "frank"}, s.resolved[0].Approvers.People, "the live policy names the reviewers")
	s.Equal(2, st.Review.Required)
	s.Equal(DraftInReview, st.DraftStatus, "one approval of the live quorum of two")
}

// TestOverdueReviewGoesUp: the owner is the department head; an overdue periodic review is not
// escalated to the late owner again but to the head's manager.
func (s *lifecycleSuite) TestOverdueReviewGoesUp() {
	s.def.Owner = "ivan"
	s.def.Review = &catalog.ReviewPolicy{Cron: "0 9 1 * *", EscalateAfter: catalog.Duration(48 * time.Hour)}
	s.env.SetStartTime(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	s.at(10*24*time.Hour, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	var subjects []string
	for _, n := range s.notified {
		subjects = append(subjects, n.Subject+"->"+strings.Join(n.To, ","))
	}
	s.Equal([]string{"Review due: Licence->ivan", "Review overdue: Licence->grace"}, subjects)
	s.Require().Len(s.fills, 1)
	s.Contains(s.fills[0].Exclude, "ivan")
	s.Contains(events(s.state()), "review.overdue")
}

// TestFourEyesEveryAuthor: four eyes held only against the last saver. Ivan writes the draft,
// Frank saves it again (the last saver), Omar submits: Ivan is not asked to review it and is
// refused (four eyes), as Frank is; Omar reviews. Once published, the next draft's authors
// start afresh: Frank's next draft is Ivan's to review.
func (s *lifecycleSuite) TestFourEyesEveryAuthor() {
	s.reviewers = []catalog.PersonRef{ivan, omar}
	s.def.Governance = &catalog.ApprovalStep{Name: "review", Mode: catalog.ModeAny, Approvers: catalog.Approvers{People: []string{"ivan", "omar"}}}
	s.act(time.Minute, s.draft(ivan, LifecycleAction{Head: true, Staff: true}))
	s.act(2*time.Minute, s.draft(staff, LifecycleAction{Staff: true}))
	s.act(3*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	var open LifecycleState
	s.at(4*time.Minute, func() { open = s.state() })
	byIvan := s.act(5*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	rejectByIvan := s.act(6*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionReject, Comment: "mine"})
	byFrank := s.act(7*time.Minute, LifecycleAction{Actor: staff, Staff: true, Action: ActionApprove})
	byOmar := s.act(8*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionApprove})
	s.act(9*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionPublish})
	var published LifecycleState
	s.at(10*time.Minute, func() { published = s.state() })
	s.act(11*time.Minute, s.draft(staff, LifecycleAction{Staff: true}))
	s.act(12*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	next := s.act(13*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	s.at(14*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})

	s.Equal([]string{ivan.ID, staff.ID}, open.DraftAuthors)
	s.Equal(staff.ID, open.DraftAuthor)
	s.Require().NotNil(open.Review)
	s.Equal([]string{omar.ID}, pendingIDs(open.Review), "no author is asked")
	s.Require().Len(open.Review.Excluded, 1)
	s.Equal(ivan.ID, open.Review.Excluded[0].ID)
	s.Contains(s.resolved[0].Exclude, ivan.ID)
	s.Contains(s.resolved[0].Exclude, staff.ID)
	for _, o := range []*lcOutcome{byIvan, rejectByIvan, byFrank} {
		s.Equal(ErrForbidden, errType(o.rejected))
		s.Contains(o.rejected.Error(), "four eyes")
	}
	s.True(byOmar.done)
	s.Equal(3, published.Live, "version 3, the last save")
	s.Empty(published.DraftAuthors, "published: no draft, no authors")
	s.True(next.done, "Frank's next draft is Ivan's to review")
	s.Equal([]string{staff.ID}, s.state().DraftAuthors)
}

// TestFourEyesEveryAuthorRevision3: a run of revision 3 opens the review as it did (only the
// last saver left out), and the validator still refuses every author.
func (s *lifecycleSuite) TestFourEyesEveryAuthorRevision3() {
	s.env.OnGetVersion(LifecycleRevision, workflow.DefaultVersion, lifecycleRevision).Return(workflow.Version(3))
	s.reviewers = []catalog.PersonRef{ivan, omar}
	s.def.Governance = &catalog.ApprovalStep{Name: "review", Mode: catalog.ModeAny, Approvers: catalog.Approvers{People: []string{"ivan", "omar"}}}
	s.act(time.Minute, s.draft(ivan, LifecycleAction{Head: true, Staff: true}))
	s.act(2*time.Minute, s.draft(staff, LifecycleAction{Staff: true}))
	s.act(3*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	var open LifecycleState
	s.at(4*time.Minute, func() { open = s.state() })
	byIvan := s.act(5*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	byOmar := s.act(6*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionApprove})
	s.at(7*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StagePublished, Live: 1})
	s.Require().NotNil(open.Review)
	s.Equal([]string{ivan.ID, omar.ID}, pendingIDs(open.Review), "revision 3 leaves out only the last saver")
	s.Equal(ErrForbidden, errType(byIvan.rejected))
	s.True(byOmar.done)
}

// TestFourEyesFirstVersion: a new service's first version is reviewed by its own policy. Frank
// creates it naming Frank and Omar, Omar saves it again: both are its authors, so nobody the
// policy names may review it, and the department head does (FillApprovers up from the head),
// not whom the draft's own escalation names.
func (s *lifecycleSuite) TestFourEyesFirstVersion() {
	s.reviewers = []catalog.PersonRef{staff, omar}
	s.def.Governance = &catalog.ApprovalStep{Name: "review", Mode: catalog.ModeAny, Approvers: catalog.Approvers{People: []string{"frank", "omar"}},
		Escalate: &catalog.Escalation{To: "group", Group: "friends-of-frank"}}
	s.act(time.Minute, s.draft(staff, LifecycleAction{Staff: true, Create: true}))
	s.act(2*time.Minute, s.draft(omar, LifecycleAction{Owner: true, Staff: true}))
	s.act(3*time.Minute, LifecycleAction{Actor: omar, Owner: true, Action: ActionSubmit})
	var open LifecycleState
	s.at(4*time.Minute, func() { open = s.state() })
	byFrank := s.act(5*time.Minute, LifecycleAction{Actor: staff, Staff: true, Action: ActionApprove})
	byIvan := s.act(6*time.Minute, LifecycleAction{Actor: ivan, Head: true, Action: ActionApprove})
	s.at(7*time.Minute, func() { s.env.CancelWorkflow() })
	s.env.ExecuteWorkflow(ServiceLifecycle, LifecycleInput{Key: "licence", Stage: catalog.StageDraft})

	s.Require().NotNil(open.Review)
	s.Equal([]string{ivan.ID}, pendingIDs(open.Review), "the head reviews a first version whose policy names only its authors")
	s.Require().Len(s.fills, 1)
	s.Nil(s.fills[0].Escalate, "not the draft's own escalation")
	s.Contains(s.fills[0].Exclude, staff.ID)
	s.Contains(s.fills[0].Exclude, omar.ID)
	s.Equal(ErrForbidden, errType(byFrank.rejected))
	s.True(byIvan.done)
	s.Equal(DraftApproved, s.state().DraftStatus)
}
