package desk

import "github.com/esmhq/esm/catalog"

// What a closed request left unfinished. The workflow closes a request without settling what
// was still open: a request withdrawn, cancelled or failed while an approval step waited keeps
// that step "pending" in its state (no ClosedAt) and its tasks "waiting"; a rejected request
// keeps its tasks "waiting". The state is the audit's and stays as it is; these say what such a
// step or task means now that the request is closed. Open requests have none.

// ClosedAs says how the request ended, in words for "the request was ...": "withdrawn" (its
// requester withdrew it: the timeline's cancel.requested by the requester), "cancelled" (by
// an operator, a retiring service or an expired step's default), "rejected", "failed" or
// "resolved"; "" while it is open.
func (v RequestView) ClosedAs() string {
	st := v.State
	if !catalog.Terminal(st.Status) {
		return ""
	}
	if st.Status == catalog.StatusCancelled {
		for _, e := range st.Timeline {
			if e.Type == "cancel.requested" && e.Actor == st.Requester.ID {
				return "withdrawn"
			}
		}
	}
	return st.Status
}

// StepNote says why an approval step of a closed request was never decided: "not decided: the
// request was withdrawn" (or cancelled, rejected, failed). "" for a step that settled (approved,
// rejected, expired, auto-approved: it has its ClosedAt) and for every step of an open request.
func (v RequestView) StepNote(a catalog.ApprovalState) string {
	how := v.ClosedAs()
	if how == "" || a.ClosedAt != nil || a.Status != catalog.ApprovalPending {
		return ""
	}
	return "not decided: " + closedWords(how)
}

// TaskNote says why a task of a closed request was never done: "not done: the request was
// rejected" (or withdrawn, cancelled, failed). "" for a task that closed itself (done, failed,
// skipped, cancelled: catalog.TaskClosed) and for every task of an open request.
func (v RequestView) TaskNote(t catalog.TaskState) string {
	how := v.ClosedAs()
	if how == "" || catalog.TaskClosed(t.State) {
		return ""
	}
	return "not done: " + closedWords(how)
}

func closedWords(how string) string {
	if how == catalog.StatusFailed {
		return "the request failed"
	}
	return "the request was " + how
}
