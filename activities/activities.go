// Package activities holds the side effects of the ESM workflows: reading the directory,
// writing the read model and the audit trail. Each activity is a method on a struct that holds
// its dependencies; every input and result is one struct.
package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"go.temporal.io/sdk/temporal"
)

// Directory resolves people and groups from the directory.
type Directory struct {
	Store *store.Store
}

// ResolveApproversInput names an approval step and the request it is for.
type ResolveApproversInput struct {
	Step      catalog.ApprovalStep
	Requester catalog.Person
}

// ResolveApproversResult lists the people asked to decide, without duplicates, in a stable order.
type ResolveApproversResult struct {
	Approvers []catalog.PersonRef
	// Excluded lists people the policy named but who may not decide (the requester).
	Excluded []string
}

// ErrUnknownPerson is the application error type for a reference to nobody.
const ErrUnknownPerson = "UnknownPerson"

// ResolveApprovers turns a step's approver selectors into people. The requester never approves
// their own request.
func (d *Directory) ResolveApprovers(ctx context.Context, in ResolveApproversInput) (ResolveApproversResult, error) {
	var res ResolveApproversResult
	seen := map[string]bool{}
	add := func(p catalog.PersonRef) {
		if seen[p.ID] {
			return
		}
		seen[p.ID] = true
		if p.ID == in.Requester.ID {
			res.Excluded = append(res.Excluded, p.ID)
			return
		}
		res.Approvers = append(res.Approvers, p)
	}
	person := func(id, why string) error {
		p, err := d.Store.Person(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %q is not in the directory", why, id), ErrUnknownPerson, err)
		}
		if err != nil {
			return fmt.Errorf("look up %s: %w", id, err)
		}
		add(catalog.PersonRef{ID: p.ID, Name: p.Name, Department: p.Department})
		return nil
	}
	a := in.Step.Approvers
	if a.Manager && in.Requester.Manager != "" {
		if err := person(in.Requester.Manager, "manager"); err != nil {
			return res, err
		}
	}
	for _, id := range a.People {
		if err := person(id, "approver"); err != nil {
			return res, err
		}
	}
	if a.Group != "" {
		members, err := d.Store.GroupMembers(ctx, a.Group)
		if err != nil {
			return res, fmt.Errorf("resolve group %s: %w", a.Group, err)
		}
		for _, m := range members {
			add(m)
		}
	}
	return res, nil
}

// Projection writes the read model and the audit trail.
type Projection struct {
	Store *store.Store
}

// ProjectInput is a request's state after a transition.
type ProjectInput struct {
	State catalog.RequestState
}

// ProjectResult says whether the write changed anything (false when a newer state was there).
type ProjectResult struct {
	Wrote bool
}

// Project upserts the request's projection and appends its new audit events. A retry, or an
// older state arriving late, writes nothing.
func (p *Projection) Project(ctx context.Context, in ProjectInput) (ProjectResult, error) {
	wrote, err := p.Store.ProjectRequest(ctx, in.State)
	if err != nil {
		return ProjectResult{}, fmt.Errorf("project %s: %w", in.State.ID, err)
	}
	return ProjectResult{Wrote: wrote}, nil
}
