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
	// Named counts the people the selectors name before anyone is excluded, counting every
	// manager level, department head and owner asked for even when the directory has nobody
	// there (the top of the org chart): what a step's required approvals count from.
	Named int `json:",omitempty"`
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
	missing := 0 // people the selectors ask for whom the directory does not have
	if a.Manager {
		levels := max(a.Levels, 1)
		next := in.Requester.Manager
		level := 0
		for ; level < levels && next != ""; level++ {
			cur, err := d.activeManager(ctx, next)
			if err != nil {
				return res, err
			}
			if cur == "" {
				break
			}
			m, err := lookup(cur, "manager")
			if err != nil {
				return res, err
			}
			add(catalog.PersonRef{ID: m.ID, Name: m.Name, Department: m.Department})
			next = m.Manager
		}
		missing += levels - level
	}
	if a.Owner && in.Owner == "" {
		missing++
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
		} else {
			missing++
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
		// Whose managers: someone who left still names theirs (issue 22: a leaver's pending
		// approvals go to their manager).
		var p catalog.Person
		mgr, err := d.Store.ManagerOf(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("approver %q is not in the directory", id), ErrUnknownPerson, err)
		}
		if err != nil {
			return res, fmt.Errorf("manager of %s: %w", id, err)
		}
		p.Manager = mgr
		m, err := d.activeManager(ctx, p.Manager)
		if err != nil {
			return res, err
		}
		if m != "" {
			if err := person(m, "manager"); err != nil {
				return res, err
			}
		}
	}
	res.Named = len(seen) + missing
	return res, nil
}

// FillApproversInput asks for Need more people who may decide a step that has fewer than it
// requires, in the order the step goes up the organisation.
type FillApproversInput struct {
	Need      int
	Requester catalog.Person
	// Department is the service's providing department, whose head answers for the step.
	Department string
	// Escalate is the step's escalation, followed first; Named are the people the step named
	// (decided or excluded included), whose managers an escalation to managers asks.
	Escalate *catalog.Escalation
	Named    []string
	// Levels is how many manager levels the step asks for (0 when it asks none); the
	// requester's chain above them is next.
	Levels int
	// Exclude lists who may not be added, with the reason: the step's approvers, earlier
	// deciders. The requester is never added.
	Exclude map[string]string
}

// FillApproversResult lists the people added, each with why, and who was passed over.
type FillApproversResult struct {
	Added   []Addition
	Skipped []catalog.Exclusion
	// Operators are the people with the operator role, listed only when fewer people were found
	// than needed: they are told that the step waits for someone the directory lacks.
	Operators []string `json:",omitempty"`
}

// Addition is one person added to a step and why.
type Addition struct {
	catalog.PersonRef
	Why string
}

// FillApprovers finds people to add to a step with fewer approvers who may decide than it
// requires, so that the bar is never lowered and a request never fails for the shape of the
// org chart. In order: the step's escalation (its group, or the managers of the people it
// named); the requester's managers above the levels the step asks for; the head of the
// service's department, then up the head's management chain; the admins.
func (d *Directory) FillApprovers(ctx context.Context, in FillApproversInput) (FillApproversResult, error) {
	var res FillApproversResult
	seen := map[string]bool{}
	full := func() bool { return len(res.Added) >= in.Need }
	consider := func(p catalog.PersonRef, why string) {
		if full() || seen[p.ID] {
			return
		}
		seen[p.ID] = true
		switch reason, excluded := in.Exclude[p.ID]; {
		case p.ID == in.Requester.ID:
			res.Skipped = append(res.Skipped, catalog.Exclusion{ID: p.ID, Why: "nobody decides their own request"})
		case excluded:
			res.Skipped = append(res.Skipped, catalog.Exclusion{ID: p.ID, Why: reason})
		default:
			res.Added = append(res.Added, Addition{PersonRef: p, Why: why})
		}
	}
	person := func(id string) (catalog.Person, bool, error) {
		p, err := d.Store.Person(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return p, false, nil // a reference to nobody adds nobody
		}
		if err != nil {
			return p, false, fmt.Errorf("look up %s: %w", id, err)
		}
		return p, true, nil
	}
	ref := func(p catalog.Person) catalog.PersonRef {
		return catalog.PersonRef{ID: p.ID, Name: p.Name, Department: p.Department}
	}
	// chain considers the managers above id, up to the top.
	chain := func(id, why string) error {
		for hops := 0; id != "" && hops < 50 && !full(); hops++ {
			p, ok, err := person(id)
			if err != nil || !ok {
				return err
			}
			if p.Manager == "" {
				return nil
			}
			m, ok, err := person(p.Manager)
			if err != nil || !ok {
				return err
			}
			consider(ref(m), fmt.Sprintf("%s (manager of %s)", why, p.Name))
			id = m.ID
		}
		return nil
	}
	if x := in.Escalate; x != nil {
		switch x.To {
		case "group":
			members, err := d.Store.GroupMembers(ctx, x.Group)
			if err != nil {
				return res, fmt.Errorf("resolve group %s: %w", x.Group, err)
			}
			for _, m := range members {
				consider(m, "the step's escalation to group "+x.Group)
			}
		case "manager":
			for _, id := range in.Named {
				if err := chain(id, "the step's escalation to managers"); err != nil {
					return res, err
				}
			}
		}
	}
	if in.Levels > 0 && !full() {
		// The requester's chain above the levels the step asks for: the manager's manager.
		top, level := in.Requester.ID, 0
		for ; level < in.Levels && top != ""; level++ {
			p, ok, err := person(top)
			if err != nil {
				return res, err
			}
			if !ok || p.Manager == "" {
				top = ""
				break
			}
			top = p.Manager
		}
		if top != "" {
			if err := chain(top, "next up the requester's management chain"); err != nil {
				return res, err
			}
		}
	}
	if !full() && in.Department != "" {
		dp, err := d.Store.Department(ctx, in.Department)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, fmt.Errorf("department %s: %w", in.Department, err)
		}
		if dp.Head != "" {
			h, ok, err := person(dp.Head)
			if err != nil {
				return res, err
			}
			if ok {
				consider(ref(h), fmt.Sprintf("head of %s, the department providing the service", dp.Name))
				if err := chain(h.ID, "up from the head of "+dp.Name); err != nil {
					return res, err
				}
			}
		}
	}
	if !full() {
		admins, err := d.Store.PeopleWithRole(ctx, catalog.RoleAdmin)
		if err != nil {
			return res, err
		}
		for _, p := range admins {
			consider(p, "an admin: nobody above may decide")
		}
	}
	if !full() {
		ops, err := d.Store.PeopleWithRole(ctx, catalog.RoleOperator)
		if err != nil {
			return res, err
		}
		for _, p := range ops {
			res.Operators = append(res.Operators, p.ID)
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
	// Opening marks the request's first state (revision 4): the write reads the service's stage
	// too (store.ProjectOpening), so a request written while its service retires is never left
	// behind.
	Opening bool `json:",omitempty"`
}

// ProjectResult says whether the write changed anything (false when a newer state was there),
// and, for a closed request, whether its service is retiring.
type ProjectResult struct {
	Wrote           bool
	ServiceRetiring bool `json:",omitempty"`
	// ServiceStage is the service's stage, read with an opening or closed state.
	ServiceStage string `json:",omitempty"`
}

// Project upserts the request's projection and appends its new audit events. A retry, or an
// older state arriving late, writes nothing.
func (p *Projection) Project(ctx context.Context, in ProjectInput) (ProjectResult, error) {
	project := p.Store.ProjectRequest
	if in.Opening {
		project = p.Store.ProjectOpening
	}
	res, err := project(ctx, in.State)
	if err != nil {
		return ProjectResult{}, fmt.Errorf("project %s: %w", in.State.ID, err)
	}
	return ProjectResult{Wrote: res.Wrote, ServiceRetiring: res.ServiceRetiring, ServiceStage: res.ServiceStage}, nil
}

// activeManager answers id when that person is active in the directory, else (they left,
// issue 22) the first active manager above them; "" when the chain ends.
func (d *Directory) activeManager(ctx context.Context, id string) (string, error) {
	for hops := 0; id != "" && hops < 32; hops++ {
		_, err := d.Store.Person(ctx, id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("look up %s: %w", id, err)
		}
		up, err := d.Store.ManagerOf(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return id, nil // not in the directory at all: the lookup names it
		}
		if err != nil {
			return "", fmt.Errorf("manager of %s: %w", id, err)
		}
		id = up
	}
	return id, nil
}
