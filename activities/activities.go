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

// ResolveApproversInput names the selectors of a step and everything they may refer to.
type ResolveApproversInput struct {
	Approvers catalog.Approvers
	Requester catalog.Person
	// Owner and Department are the service's owner and providing department.
	Owner      string
	Department string
	// ManagersOf asks for the managers of these people (escalation to managers).
	ManagersOf []string
	// Exclude lists people who may not decide this step, with the reason (they decided an
	// earlier step).
	Exclude map[string]string
}

// ResolveApproversResult lists the people asked to decide, without duplicates, in a stable order,
// and those the policy named who may not decide.
type ResolveApproversResult struct {
	Approvers []catalog.PersonRef
	Excluded  []catalog.Exclusion
}

// ErrUnknownPerson is the application error type for a reference to nobody.
const ErrUnknownPerson = "UnknownPerson"

// ResolveApprovers turns selectors into people. Nobody approves their own request.
func (d *Directory) ResolveApprovers(ctx context.Context, in ResolveApproversInput) (ResolveApproversResult, error) {
	var res ResolveApproversResult
	seen := map[string]bool{}
	add := func(p catalog.PersonRef) {
		if seen[p.ID] {
			return
		}
		seen[p.ID] = true
		switch why, excluded := in.Exclude[p.ID]; {
		case p.ID == in.Requester.ID:
			res.Excluded = append(res.Excluded, catalog.Exclusion{ID: p.ID, Why: "nobody approves their own request"})
		case excluded:
			res.Excluded = append(res.Excluded, catalog.Exclusion{ID: p.ID, Why: why})
		default:
			res.Approvers = append(res.Approvers, p)
		}
	}
	lookup := func(id, why string) (catalog.Person, error) {
		p, err := d.Store.Person(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return p, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %q is not in the directory", why, id), ErrUnknownPerson, err)
		}
		if err != nil {
			return p, fmt.Errorf("look up %s: %w", id, err)
		}
		return p, nil
	}
	person := func(id, why string) error {
		p, err := lookup(id, why)
		if err == nil {
			add(catalog.PersonRef{ID: p.ID, Name: p.Name, Department: p.Department})
		}
		return err
	}
	a := in.Approvers
	if a.Manager {
		levels := max(a.Levels, 1)
		next := in.Requester.Manager
		for level := 0; level < levels && next != ""; level++ {
			m, err := lookup(next, "manager")
			if err != nil {
				return res, err
			}
			add(catalog.PersonRef{ID: m.ID, Name: m.Name, Department: m.Department})
			next = m.Manager
		}
	}
	for _, id := range a.People {
		if err := person(id, "approver"); err != nil {
			return res, err
		}
	}
	if a.Owner && in.Owner != "" {
		if err := person(in.Owner, "service owner"); err != nil {
			return res, err
		}
	}
	if a.DepartmentHead != "" {
		dept := in.Requester.Department
		if a.DepartmentHead == "service" {
			dept = in.Department
		}
		dp, err := d.Store.Department(ctx, dept)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, fmt.Errorf("department %s: %w", dept, err)
		}
		if dp.Head != "" {
			if err := person(dp.Head, "department head"); err != nil {
				return res, err
			}
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
	if a.Role != "" {
		people, err := d.Store.PeopleWithRole(ctx, a.Role)
		if err != nil {
			return res, err
		}
		for _, p := range people {
			add(p)
		}
	}
	for _, id := range in.ManagersOf {
		p, err := lookup(id, "approver")
		if err != nil {
			return res, err
		}
		if p.Manager != "" {
			if err := person(p.Manager, "manager"); err != nil {
				return res, err
			}
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

// ProjectResult says whether the write changed anything (false when a newer state was there),
// and, for a closed request, whether its service is retiring.
type ProjectResult struct {
	Wrote           bool
	ServiceRetiring bool `json:",omitempty"`
}

// Project upserts the request's projection and appends its new audit events. A retry, or an
// older state arriving late, writes nothing.
func (p *Projection) Project(ctx context.Context, in ProjectInput) (ProjectResult, error) {
	res, err := p.Store.ProjectRequest(ctx, in.State)
	if err != nil {
		return ProjectResult{}, fmt.Errorf("project %s: %w", in.State.ID, err)
	}
	return ProjectResult{Wrote: res.Wrote, ServiceRetiring: res.ServiceRetiring}, nil
}
