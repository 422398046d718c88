package desk

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// Delegation: while out of office, a person's approvals may be decided by their delegate, from
// StartsAt until EndsAt. Decisions are recorded as "delegate on behalf of person".
type Delegation = store.Delegation

// DelegateInput names who decides for the actor, and when.
type DelegateInput struct {
	// Delegate is the person who decides: their id, or their name as the directory spells it
	// (any case) when exactly one person has that name. A name several people share names none
	// of them (a delegation must never go to a namesake): the error lists their ids.
	Delegate string
	// StartsAt is when the delegation begins (zero: now); EndsAt when the actor is back.
	StartsAt time.Time
	EndsAt   time.Time
}

// MaxDelegation is the longest a delegation lasts.
const MaxDelegation = 366 * 24 * time.Hour

// Delegate records that the actor is out of office: in.Delegate may decide their approvals from
// in.StartsAt until in.EndsAt. The delegation returned names the delegate by id.
//
// Errors: *ValidationError on /delegate (rule required: none; not: oneself; reference: nobody in
// the directory has that id or name; ambiguous: several people have that name, the detail lists
// their ids) and on /ends_at (required: none; minimum: before the start or in the past;
// maximum: longer than MaxDelegation).
func (d *Desk) Delegate(ctx context.Context, me Actor, in DelegateInput) (Delegation, error) {
	var fields []catalog.FieldError
	in.Delegate = strings.TrimSpace(in.Delegate)
	if in.Delegate != "" {
		id, fe, err := d.whoIs(ctx, in.Delegate)
		if err != nil {
			return Delegation{}, fmt.Errorf("delegate %s: %w", in.Delegate, err)
		}
		if fe != nil {
			fields = append(fields, *fe)
		}
		in.Delegate = id
	}
	if in.Delegate == "" && len(fields) == 0 {
		fields = append(fields, catalog.FieldError{Field: "/delegate", Rule: "required", Detail: "name the person who decides for you"})
	} else if in.Delegate != "" && in.Delegate == me.ID {
		fields = append(fields, catalog.FieldError{Field: "/delegate", Rule: "not", Detail: "you cannot delegate to yourself"})
	}
	now := d.now()
	if in.StartsAt.IsZero() {
		in.StartsAt = now
	}
	if in.EndsAt.IsZero() {
		fields = append(fields, catalog.FieldError{Field: "/ends_at", Rule: "required", Detail: "say when you are back (RFC 3339)"})
	} else if !in.EndsAt.After(in.StartsAt) || !in.EndsAt.After(now) {
		fields = append(fields, catalog.FieldError{Field: "/ends_at", Rule: "minimum", Detail: "must be after starts_at and in the future"})
	} else if in.EndsAt.Sub(in.StartsAt) > MaxDelegation {
		fields = append(fields, catalog.FieldError{Field: "/ends_at", Rule: "maximum", Detail: "a delegation lasts at most a year"})
	}
	if len(fields) > 0 {
		return Delegation{}, invalid("the delegation is not valid", fields...)
	}
	dl, err := d.store.CreateDelegation(ctx, store.Delegation{
		Person: me.ID, Delegate: in.Delegate, StartsAt: in.StartsAt, EndsAt: in.EndsAt, CreatedAt: d.now()})
	if err != nil {
		return Delegation{}, fmt.Errorf("delegation of %s: %w", me.ID, err)
	}
	return dl, nil
}

// whoIs resolves what someone typed to name a person: an id, else a name (any case) exactly one
// person in the directory has. It answers the id, or a field error on /delegate: reference
// (nobody), ambiguous (several people share the name: their ids, to choose from).
func (d *Desk) whoIs(ctx context.Context, typed string) (string, *catalog.FieldError, error) {
	if _, err := d.store.Person(ctx, typed); err == nil {
		return typed, nil, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", nil, err
	}
	people, err := d.store.People(ctx)
	if err != nil {
		return "", nil, err
	}
	var ids []string
	for _, who := range people {
		if strings.EqualFold(who.Name, typed) {
			ids = append(ids, who.ID)
		}
	}
	sort.Strings(ids)
	switch len(ids) {
	case 0:
		return "", &catalog.FieldError{Field: "/delegate", Rule: "reference", Detail: fmt.Sprintf("no person %q in the directory", typed)}, nil
	case 1:
		return ids[0], nil, nil
	}
	return "", &catalog.FieldError{Field: "/delegate", Rule: "ambiguous",
		Detail: fmt.Sprintf("several people are called %s: give the user name of the one you mean (%s)", typed, strings.Join(ids, ", "))}, nil
}

// OutOfOffice is the out-of-office page: the delegations the actor gave (Gave) and holds
// (Hold) that have not ended, the names of the people they name (Names, by id), and whom the
// actor may name as a delegate (People: everyone in the directory but the actor, by name).
type OutOfOffice struct {
	Gave, Hold []Delegation
	Names      map[string]string
	People     []catalog.PersonRef
}

// OutOfOffice answers the actor's out-of-office page (see the type). Errors: failures only.
func (d *Desk) OutOfOffice(ctx context.Context, me Actor) (OutOfOffice, error) {
	list, err := d.Delegations(ctx, me)
	if err != nil {
		return OutOfOffice{}, err
	}
	people, err := d.store.People(ctx)
	if err != nil {
		return OutOfOffice{}, fmt.Errorf("out of office of %s: %w", me.ID, err)
	}
	out := OutOfOffice{Names: map[string]string{}, People: []catalog.PersonRef{}}
	for _, who := range people {
		out.Names[who.ID] = who.Name
		if who.ID != me.ID {
			out.People = append(out.People, who)
		}
	}
	for _, dl := range list {
		if dl.Person == me.ID {
			out.Gave = append(out.Gave, dl)
		} else {
			out.Hold = append(out.Hold, dl)
		}
	}
	return out, nil
}

// Delegations lists the delegations the actor gave or received that have not ended.
func (d *Desk) Delegations(ctx context.Context, me Actor) ([]Delegation, error) {
	items, err := d.store.Delegations(ctx, me.ID, d.now())
	if err != nil {
		return nil, fmt.Errorf("delegations of %s: %w", me.ID, err)
	}
	return items, nil
}

// EndDelegation ends a delegation the actor gave (id as the delegation's Location names it).
//
// Errors: ErrNotFound (not a delegation id, no such delegation, or one the actor did not give).
func (d *Desk) EndDelegation(ctx context.Context, me Actor, id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return notFound("no delegation %s of yours", id)
	}
	err = d.store.DeleteDelegation(ctx, n, me.ID)
	if errors.Is(err, store.ErrNotFound) || err != nil && n == 0 {
		return notFound("no delegation %s of yours", id)
	}
	if err != nil {
		return fmt.Errorf("end delegation %d: %w", n, err)
	}
	return nil
}
