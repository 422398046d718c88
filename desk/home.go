package desk

import (
	"context"
	"fmt"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// HomeLimit is how many of each list Home answers.
const HomeLimit = 10

// Home is what waits on a person and what they wait on, for the front page of a door.
type Home struct {
	// Open are the person's requests that have not closed, newest first (at most 2*HomeLimit).
	Open []RequestRow
	// Questions are their open requests waiting on them (waiting_on_requester): a question of
	// an approver or a fulfiller to answer, newest first (at most HomeLimit).
	Questions []RequestRow
	// Approvals are the approvals waiting on them or on whoever delegated to them now, oldest
	// first (at most HomeLimit; Approvals answers the rest), as Approvals lists them.
	Approvals []PendingApproval
	// Tasks are the open and claimed tasks of their groups, oldest first (at most HomeLimit;
	// Tasks answers the rest), as Tasks lists them; none for someone in no group.
	Tasks []QueuedTask
	// MoreApprovals and MoreTasks say whether the lists go on.
	MoreApprovals, MoreTasks bool
}

// Home answers the person's home: their open requests, the questions they have to answer, their
// approvals and their groups' tasks. Every list is the read model's, with the rules of the call
// that lists it in full (Requests, Approvals, Tasks).
func (d *Desk) Home(ctx context.Context, me Actor) (Home, error) {
	var h Home
	open, err := d.store.ListRequests(ctx, store.RequestFilter{Requester: me.ID, Open: true, Limit: 2 * HomeLimit})
	if err != nil {
		return Home{}, fmt.Errorf("open requests of %s: %w", me.ID, err)
	}
	h.Open = open
	h.Questions, err = d.store.ListRequests(ctx, store.RequestFilter{Requester: me.ID, Status: catalog.StatusWaitingOnRequester, Limit: HomeLimit})
	if err != nil {
		return Home{}, fmt.Errorf("questions to %s: %w", me.ID, err)
	}
	approvals, err := d.Approvals(ctx, me, ApprovalsInput{Limit: HomeLimit})
	if err != nil {
		return Home{}, err
	}
	h.Approvals, h.MoreApprovals = approvals.Items, approvals.NextCursor != ""
	if len(me.Groups) > 0 {
		tasks, err := d.Tasks(ctx, me, TasksInput{Limit: HomeLimit})
		if err != nil {
			return Home{}, err
		}
		h.Tasks, h.MoreTasks = tasks.Items, tasks.NextCursor != ""
	}
	return h, nil
}
