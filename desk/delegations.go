package desk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// Delegation: while out of office, a person's approvals may be decided by their delegate, from
// StartsAt until EndsAt. Decisions are recorded as "delegate on behalf of person".
type Delegation = store.Delegation

// DelegateInput names who decides for the actor, and when.
type DelegateInput struct {
	Delegate string
	// StartsAt is when the delegation begins (zero: now); EndsAt when the actor is back.
	StartsAt time.Time
	EndsAt   time.Time
}

// MaxDelegation is the longest a delegation lasts.
const MaxDelegation = 366 * 24 * time.Hour

// Delegate records that the actor is out of office: in.Delegate may decide their approvals from
// in.StartsAt until in.EndsAt.
//
// Errors: *ValidationError (no delegate, oneself, someone not in the directory; no end, an end
// before the start or in the past, a delegation longer than MaxDelegation).
func (d *Desk) Delegate(ctx context.Context, me Actor, in DelegateInput) (Delegation, error) {
	var fields []catalog.FieldError
	if in.Delegate == "" {
		fields = append(fields, catalog.FieldError{Field: "/delegate", Rule: "required", Detail: "name the person who decides for you"})
	} else if in.Delegate == me.ID {
		fields = append(fields, catalog.FieldError{Field: "/delegate", Rule: "not", Detail: "you cannot delegate to yourself"})
	} else if _, err := d.store.Person(ctx, in.Delegate); errors.Is(err, store.ErrNotFound) {
		fields = append(fields, catalog.FieldError{Field: "/delegate", Rule: "reference", Detail: fmt.Sprintf("no person %q in the directory", in.Delegate)})
	} else if err != nil {
		return Delegation{}, fmt.Errorf("delegate %s: %w", in.Delegate, err)
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
