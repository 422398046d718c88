package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// DirectoryChanges are the activities of the DirectoryChange workflow (issue 22): what a
// person who left or moved leaves behind in the store, and the requests that wait on them.
// Each is idempotent: the workflow retries it, and the identity provider may send the same
// change twice (the workflow id is the change's key).
type DirectoryChanges struct {
	Store *store.Store
}

// ChangedPerson is a person as the directory has them now (also when they left): id, name,
// manager and department ids ("" for none).
type ChangedPerson struct {
	catalog.PersonRef
	Manager string
}

// ChangedPerson reads the person a change is about, whether or not they left; a person the
// directory never had answers only their id.
func (d *DirectoryChanges) ChangedPerson(ctx context.Context, id string) (ChangedPerson, error) {
	p, err := d.Store.PersonEver(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ChangedPerson{PersonRef: catalog.PersonRef{ID: id, Name: id}}, nil
	}
	if err != nil {
		return ChangedPerson{}, err
	}
	return ChangedPerson{PersonRef: catalog.PersonRef{ID: p.ID, Name: p.Name, Department: p.Department}, Manager: p.Manager}, nil
}

// EndDelegationsInput ends a leaver's delegations at At (the change's instant).
type EndDelegationsInput struct {
	Person string
	At     time.Time
}

// EndDelegations ends every delegation the person gave or received that was made by At and runs
// past it, and answers how many (0 the second time). One made after At is not the leaver's: the
// id may have been provisioned again for someone new before a late change was applied
// (store.EndDelegations).
func (d *DirectoryChanges) EndDelegations(ctx context.Context, in EndDelegationsInput) (int, error) {
	return d.Store.EndDelegations(ctx, in.Person, in.At)
}

// FlaggedService is a service whose owner left, with the people to tell: the head of the
// service's department and the head of the owner's department (once each, "" skipped).
type FlaggedService struct {
	Key        string
	Department string
	Heads      []string
}

// FlagOwnedServices flags the services the person owns as owned by someone who left
// (store.FlagOwnerLeft; the lifecycle page shows it) and answers them with whom to tell. A
// service flagged before is not answered again.
func (d *DirectoryChanges) FlagOwnedServices(ctx context.Context, person ChangedPerson) ([]FlaggedService, error) {
	owned, err := d.Store.FlagOwnerLeft(ctx, person.ID)
	if err != nil {
		return nil, err
	}
	out := []FlaggedService{}
	for _, o := range owned {
		f := FlaggedService{Key: o.Key, Department: o.Department}
		for _, dept := range []string{o.Department, person.Department} {
			dp, err := d.Store.Department(ctx, dept)
			if errors.Is(err, store.ErrNotFound) || dp.Head == "" || dp.Head == person.ID {
				continue
			}
			if err != nil {
				return nil, err
			}
			if len(f.Heads) == 0 || f.Heads[0] != dp.Head {
				f.Heads = append(f.Heads, dp.Head)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// RequestsWaitingOn lists the open requests that wait on the person (an approval pending on
// them, a task they hold) or that they made, by id.
func (d *DirectoryChanges) RequestsWaitingOn(ctx context.Context, person string) ([]string, error) {
	return d.Store.RequestsWaitingOn(ctx, person)
}

// TellRequestInput sends one request's workflow an update under a fixed update id.
type TellRequestInput struct {
	WorkflowID string
	Update     string
	UpdateID   string
	Arg        any
}

// TellRequestResult says whether the request took the update (false: it had closed).
type TellRequestResult struct {
	Applied bool
	Note    string `json:",omitempty"`
}

// TellRequest sends the update and waits for its result, through the worker's client. The
// server dedupes the update id within a run, the request across its runs, so a retry applies
// nothing twice. A request that closed meanwhile (no running workflow, or its validator
// answers Conflict) needs nothing: that is not an error.
func (d *DirectoryChanges) TellRequest(ctx context.Context, in TellRequestInput) (TellRequestResult, error) {
	c := activity.GetClient(ctx)
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: in.WorkflowID, UpdateName: in.Update, UpdateID: in.UpdateID,
		Args: []any{in.Arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var nf *serviceerror.NotFound
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		return TellRequestResult{Applied: true}, nil
	case errors.As(err, &nf):
		return TellRequestResult{Note: "closed: " + nf.Error()}, nil
	case errors.As(err, &app) && (app.Type() == "Conflict" || app.Type() == "InvalidInput"):
		return TellRequestResult{Note: app.Error()}, nil
	}
	return TellRequestResult{}, fmt.Errorf("tell %s: %w", in.WorkflowID, err)
}
