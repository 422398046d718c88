package workflows

import (
	"github.com/esmhq/esm/catalog"
)

// What a person may ask of a workflow, answered outside it by the validators themselves, so that
// a front door offers only what the workflow would accept. These are pure functions over a
// state (the read model's, or a Query's answer): no workflow code runs, nothing enters a
// history, and the workflows' behaviour does not change.

// TaskUpdateRefusal answers the error the task update's validator (ClaimTaskUpdate,
// ReleaseTaskUpdate, AssignTaskUpdate, CompleteTaskUpdate, FailTaskUpdate, AskTaskUpdate)
// would give in on a request in state st, or nil when it would accept it. What the call will
// carry (the outputs, the reason or question, the assignee) is not judged: CompleteTaskUpdate
// is checked without its outputs schema, FailTaskUpdate and AskTaskUpdate as if a reason were
// given, AssignTaskUpdate as if in.Assignee named someone else than the requester (in.Assignee
// is checked when set). The error is an application error of type ErrForbidden, ErrConflict,
// ErrNotFound or ErrInvalid, as the validator's.
func TaskUpdateRefusal(st catalog.RequestState, update string, in TaskInput) error {
	w := &requestWorkflow{state: st}
	switch update {
	case ClaimTaskUpdate:
		return w.validateClaim(in)
	case ReleaseTaskUpdate:
		return w.validateRelease(in)
	case AssignTaskUpdate:
		if in.Assignee == "" {
			in.Assignee = "\x00someone" // not the requester: only who may assign is asked
		}
		return w.validateAssign(in)
	case CompleteTaskUpdate:
		_, err := w.validateTask(in)
		return err
	case FailTaskUpdate:
		in.Reason = "a reason"
		return w.validateFail(in)
	case AskTaskUpdate:
		in.Reason = "a question"
		return w.validateAsk(in)
	}
	return nil
}

// LifecycleRefusal answers the error the lifecycle update's validator would give action a on a
// service's lifecycle in state st, for a run of the newest LifecycleRevision, or nil when it
// would accept it. A save_draft is checked for who may save one in this stage (its definition
// is not judged), a reject as if it carried a comment, a review with a.Outcome (keep when
// empty). The error is an application error of type ErrForbidden, ErrConflict or ErrInvalid.
func LifecycleRefusal(st LifecycleState, a LifecycleAction) error {
	l := &lifecycle{st: st, rev: lifecycleRevision}
	switch a.Action {
	case ActionSaveDraft:
		if a.Definition == nil {
			a.Definition = &catalog.Definition{Key: st.Key} // l.def is empty: only who and when are asked
		}
	case ActionReject:
		if isBlank(a.Comment) {
			a.Comment = "a comment"
		}
	case ActionReview:
		if a.Outcome == "" {
			a.Outcome = ReviewKeep
		}
	}
	return l.validate(a)
}
