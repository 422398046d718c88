package store

import (
	"context"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
)

// PeopleWithRole returns everyone holding a role, ordered by id.
func (s *Store) PeopleWithRole(ctx context.Context, role string) ([]catalog.PersonRef, error) {
	var rows []personRow
	// Roles are a JSON array of strings; match the quoted element.
	if err := s.DB.SelectContext(ctx, &rows, s.DB.Rebind(`SELECT id, name, email, department, manager, roles, attributes
		FROM people WHERE roles LIKE ? ORDER BY id`), `%"`+role+`"%`); err != nil {
		return nil, fmt.Errorf("people with role %s: %w", role, err)
	}
	out := []catalog.PersonRef{}
	for _, r := range rows {
		out = append(out, catalog.PersonRef{ID: r.ID, Name: r.Name, Department: r.Department})
	}
	return out, nil
}

// Delegation lets Delegate decide Person's approvals between Starts and Ends.
type Delegation struct {
	ID        int64     `db:"id" json:"id"`
	Person    string    `db:"person_id" json:"person"`
	Delegate  string    `db:"delegate_id" json:"delegate"`
	StartsAt  time.Time `db:"starts_at" json:"starts_at"`
	EndsAt    time.Time `db:"ends_at" json:"ends_at"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// CreateDelegation records an out-of-office delegation.
func (s *Store) CreateDelegation(ctx context.Context, d Delegation) (Delegation, error) {
	d.StartsAt, d.EndsAt, d.CreatedAt = d.StartsAt.UTC(), d.EndsAt.UTC(), d.CreatedAt.UTC()
	err := s.DB.GetContext(ctx, &d.ID, s.DB.Rebind(`INSERT INTO delegations (person_id, delegate_id, starts_at, ends_at, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`), d.Person, d.Delegate, d.StartsAt, d.EndsAt, d.CreatedAt)
	if err != nil {
		return d, fmt.Errorf("create delegation: %w", err)
	}
	return d, nil
}

// Delegations lists the delegations a person gave or received that have not ended.
func (s *Store) Delegations(ctx context.Context, person string, now time.Time) ([]Delegation, error) {
	out := []Delegation{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT id, person_id, delegate_id, starts_at, ends_at, created_at
		FROM delegations WHERE (person_id = ? OR delegate_id = ?) AND ends_at > ? ORDER BY starts_at, id`), person, person, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("delegations: %w", err)
	}
	return out, nil
}

// DeleteDelegation removes a delegation the person gave; ErrNotFound if there is none.
func (s *Store) DeleteDelegation(ctx context.Context, id int64, person string) error {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM delegations WHERE id = ? AND person_id = ?`), id, person)
	if err != nil {
		return fmt.Errorf("delete delegation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Delegators returns the people whose approvals the delegate may decide at now.
func (s *Store) Delegators(ctx context.Context, delegate string, now time.Time) ([]string, error) {
	out := []string{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT DISTINCT person_id FROM delegations
		WHERE delegate_id = ? AND starts_at <= ? AND ends_at > ? ORDER BY person_id`), delegate, now.UTC(), now.UTC())
	if err != nil {
		return nil, fmt.Errorf("delegators of %s: %w", delegate, err)
	}
	return out, nil
}

// People lists everyone in the directory, ordered by name.
func (s *Store) People(ctx context.Context) ([]catalog.PersonRef, error) {
	var rows []personRow
	if err := s.DB.SelectContext(ctx, &rows, `SELECT id, name, email, department, manager, roles, attributes
		FROM people ORDER BY name, id`); err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	out := []catalog.PersonRef{}
	for _, r := range rows {
		out = append(out, catalog.PersonRef{ID: r.ID, Name: r.Name, Department: r.Department})
	}
	return out, nil
}
