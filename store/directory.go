package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/jmoiron/sqlx"
)

// PeopleWithRole returns everyone holding a role, ordered by id.
func (s *Store) PeopleWithRole(ctx context.Context, role string) ([]catalog.PersonRef, error) {
	var rows []personRow
	// Roles are a JSON array of strings; match the quoted element.
	if err := s.DB.SelectContext(ctx, &rows, s.DB.Rebind(`SELECT id, name, email, department, manager, roles, attributes
		FROM people WHERE roles LIKE ? AND active = 1 AND left_at = 0 ORDER BY id`), `%"`+role+`"%`); err != nil {
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

// DirPerson is a person as the directory's provisioning (SCIM, store.PutPerson) sees them:
// who they are, where they sit, whether they are active. ID is both the ESM id and the SCIM id.
type DirPerson struct {
	ID         string `db:"id"`
	ExternalID string `db:"external_id"`
	Name       string `db:"name"`
	GivenName  string `db:"given_name"`
	FamilyName string `db:"family_name"`
	Email      string `db:"email"`
	Department string `db:"department"`
	Manager    string `db:"manager"`
	Active     bool   `db:"active"`
	// Created and Modified are Unix microseconds (0 for a person only the YAML wrote).
	Created  int64 `db:"created_at"`
	Modified int64 `db:"modified_at"`
	Groups   []string
}

const dirPersonCols = `id, external_id, name, given_name, family_name, email, department, manager, active, created_at, modified_at`

// DirectoryPeople lists everyone not removed (active or not), ordered by id, with their groups.
func (s *Store) DirectoryPeople(ctx context.Context) ([]DirPerson, error) {
	out := []DirPerson{}
	if err := s.DB.SelectContext(ctx, &out, `SELECT `+dirPersonCols+` FROM people WHERE left_at = 0 ORDER BY id`); err != nil {
		return nil, fmt.Errorf("directory people: %w", err)
	}
	var members []struct {
		Group  string `db:"group_key"`
		Person string `db:"person_id"`
	}
	if err := s.DB.SelectContext(ctx, &members, `SELECT group_key, person_id FROM group_members ORDER BY group_key`); err != nil {
		return nil, fmt.Errorf("directory memberships: %w", err)
	}
	idx := map[string]int{}
	for i, p := range out {
		idx[p.ID] = i
	}
	for _, m := range members {
		if i, ok := idx[m.Person]; ok {
			out[i].Groups = append(out[i].Groups, m.Group)
		}
	}
	return out, nil
}

// DirectoryPerson returns one person not removed (active or not); ErrNotFound otherwise.
func (s *Store) DirectoryPerson(ctx context.Context, id string) (DirPerson, error) {
	var p DirPerson
	err := s.DB.GetContext(ctx, &p, s.DB.Rebind(`SELECT `+dirPersonCols+` FROM people WHERE id = ? AND left_at = 0`), id)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("directory person %s: %w", id, err)
	}
	if err := s.DB.SelectContext(ctx, &p.Groups, s.DB.Rebind(`SELECT group_key FROM group_members WHERE person_id = ? ORDER BY group_key`), id); err != nil {
		return p, fmt.Errorf("directory person %s groups: %w", id, err)
	}
	return p, nil
}

// ChangeRule answers the leaver and mover changes (DirectoryChange) that a write of a person
// makes: before is the person as the directory had them (nil for someone new, or removed
// before), after as written (the department as its key; for a removal, before made inactive).
// The rule is the caller's (desk.ProvisionPerson and desk.DeprovisionPerson for SCIM); the
// store records what it answers in the write's own transaction.
type ChangeRule func(before *DirPerson, after DirPerson) []DirectoryChange

// PutPerson creates or replaces a person's identity, place and active flag (not their roles,
// attributes or groups, which the YAML or the group endpoints keep) and, in the same
// transaction, records the changes rule answers (nil: none), each once per key (RecordChange).
// It answers the row as it was before (nil for someone new, or someone who had left and comes
// back: see below) and the changes recorded now (not those recorded before under the same key,
// an identity provider's retry). Either the person is written and the changes recorded, or
// neither: a failure to record leaves the person as they were, so a retry finds the same
// change to record. A department may be given by key or by name (case-insensitive): the key is
// stored, and is what rule sees.
//
// A person who had left (removed, or deactivated and now written active) comes back as someone
// new (revived is true; issue 22): an identity provider may reuse an id for a new hire, who must
// not inherit the leaver's access. In the same transaction their roles and attributes are
// emptied (the YAML directory grants them again on its next apply, if it names the id), their
// group memberships dropped (the identity provider's group calls add them again), every
// delegation they gave or received ended at now, their reminder preference reset and their
// portal sessions issued before now ended; they are created at now. Requests made by, or
// decided by, the id before stay the id's.
func (s *Store) PutPerson(ctx context.Context, p DirPerson, now time.Time, rule ChangeRule) (before *DirPerson, revived bool, recorded []DirectoryChange, err error) {
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		before, revived, recorded = nil, false, nil
		var old DirPerson
		var leftAt int64
		err := tx.QueryRowxContext(ctx, tx.Rebind(`SELECT left_at FROM people WHERE id = ?`), p.ID).Scan(&leftAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("person %s: %w", p.ID, err)
		case leftAt != 0:
			revived = true
		default:
			if err := tx.GetContext(ctx, &old, tx.Rebind(`SELECT `+dirPersonCols+` FROM people WHERE id = ?`), p.ID); err != nil {
				return fmt.Errorf("person %s: %w", p.ID, err)
			}
			if !old.Active && p.Active {
				revived = true
			} else {
				before = &old
			}
		}
		var key string
		if err := tx.GetContext(ctx, &key, tx.Rebind(`SELECT key FROM departments WHERE LOWER(key) = LOWER(?) OR LOWER(name) = LOWER(?) ORDER BY key LIMIT 1`), p.Department, p.Department); err == nil {
			p.Department = key
		}
		us := now.UnixMicro()
		active := 0
		if p.Active {
			active = 1
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(`INSERT INTO people (id, name, email, department, manager, external_id, given_name, family_name, active, left_at, created_at, modified_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, department = excluded.department,
				manager = excluded.manager, external_id = excluded.external_id, given_name = excluded.given_name,
				family_name = excluded.family_name, active = excluded.active, left_at = 0,
				created_at = CASE WHEN people.created_at = 0 OR people.left_at <> 0 THEN excluded.created_at ELSE people.created_at END,
				modified_at = excluded.modified_at`),
			p.ID, p.Name, p.Email, p.Department, p.Manager, p.ExternalID, p.GivenName, p.FamilyName, active, us, us)
		if err != nil {
			return fmt.Errorf("put person %s: %w", p.ID, err)
		}
		if revived {
			if err := startAfresh(ctx, tx, p.ID, now); err != nil {
				return err
			}
		}
		recorded, err = recordChanges(ctx, tx, rule, before, p)
		return err
	})
	if err != nil {
		return nil, false, nil, err
	}
	return before, revived, recorded, nil
}

// startAfresh makes the row of someone who had left that of a new person (PutPerson): no
// roles, attributes, groups or delegations, default reminders, created now, and no portal
// session issued before now.
func startAfresh(ctx context.Context, tx *sqlx.Tx, id string, now time.Time) error {
	us := now.UnixMicro()
	if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE people SET roles = '[]', attributes = '{}', reminders = 'immediate', created_at = ?,
		sessions_after = CASE WHEN sessions_after > ? THEN sessions_after ELSE ? END WHERE id = ?`), us, us, us, id); err != nil {
		return fmt.Errorf("person %s starts afresh: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM group_members WHERE person_id = ?`), id); err != nil {
		return fmt.Errorf("person %s starts afresh: groups: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE delegations SET ends_at = ? WHERE (person_id = ? OR delegate_id = ?) AND ends_at > ?`),
		now.UTC(), id, id, now.UTC()); err != nil {
		return fmt.Errorf("person %s starts afresh: delegations: %w", id, err)
	}
	return nil
}

// recordChanges records, in tx, the changes rule answers for before and after; it answers
// those recorded now.
func recordChanges(ctx context.Context, tx *sqlx.Tx, rule ChangeRule, before *DirPerson, after DirPerson) ([]DirectoryChange, error) {
	if rule == nil {
		return nil, nil
	}
	var out []DirectoryChange
	for _, c := range rule(before, after) {
		created, err := recordChange(ctx, tx, c)
		if err != nil {
			return nil, err
		}
		if created {
			out = append(out, c)
		}
	}
	return out, nil
}

// RemovePerson marks a person removed (SCIM DELETE): inactive, out of every group, gone from
// every reader of the directory; the row stays for the names on past requests. In the same
// transaction it records the changes rule answers (nil: none) for the person as they were and
// as removed (inactive), each once per key, and answers those recorded now; a failure to
// record leaves the person as they were. ErrNotFound when there is nobody (or they were
// removed before).
func (s *Store) RemovePerson(ctx context.Context, id string, now time.Time, rule ChangeRule) (recorded []DirectoryChange, err error) {
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		var before DirPerson
		err := tx.GetContext(ctx, &before, tx.Rebind(`SELECT `+dirPersonCols+` FROM people WHERE id = ? AND left_at = 0`), id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("person %s: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE people SET active = 0, left_at = ?, modified_at = ? WHERE id = ? AND left_at = 0`), now.UnixMicro(), now.UnixMicro(), id)
		if err != nil {
			return fmt.Errorf("remove person %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM group_members WHERE person_id = ?`), id); err != nil {
			return fmt.Errorf("remove person %s groups: %w", id, err)
		}
		after := before
		after.Active, after.Modified, after.Groups = false, now.UnixMicro(), nil
		recorded, err = recordChanges(ctx, tx, rule, &before, after)
		return err
	})
	if err != nil {
		return nil, err
	}
	return recorded, nil
}

// DirGroup is a group as provisioning sees it: key (the SCIM id), name, members' ids.
type DirGroup struct {
	Key        string `db:"key"`
	Name       string `db:"name"`
	Department string `db:"department"`
	ExternalID string `db:"external_id"`
	Modified   int64  `db:"modified_at"`
	Members    []string
}

// DirectoryGroups lists every group, ordered by key, with its members.
func (s *Store) DirectoryGroups(ctx context.Context) ([]DirGroup, error) {
	out := []DirGroup{}
	if err := s.DB.SelectContext(ctx, &out, `SELECT key, name, department, external_id, modified_at FROM org_groups ORDER BY key`); err != nil {
		return nil, fmt.Errorf("directory groups: %w", err)
	}
	for i := range out {
		if err := s.DB.SelectContext(ctx, &out[i].Members, s.DB.Rebind(`SELECT m.person_id FROM group_members m JOIN people p ON p.id = m.person_id
			WHERE m.group_key = ? AND p.left_at = 0 ORDER BY m.person_id`), out[i].Key); err != nil {
			return nil, fmt.Errorf("group %s members: %w", out[i].Key, err)
		}
	}
	return out, nil
}

// DirectoryGroup returns one group with its members, or ErrNotFound.
func (s *Store) DirectoryGroup(ctx context.Context, key string) (DirGroup, error) {
	gs, err := s.DirectoryGroups(ctx)
	if err != nil {
		return DirGroup{}, err
	}
	for _, g := range gs {
		if g.Key == key {
			return g, nil
		}
	}
	return DirGroup{}, ErrNotFound
}

// PutGroup creates or renames a group and, when members is not nil, sets its members to
// exactly those people (each must be in the directory: ErrNotFound names who is not).
func (s *Store) PutGroup(ctx context.Context, g DirGroup, members []string, now time.Time) error {
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO org_groups (key, name, department, external_id, modified_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET name = excluded.name, external_id = CASE WHEN excluded.external_id = '' THEN org_groups.external_id ELSE excluded.external_id END,
				modified_at = excluded.modified_at`), g.Key, g.Name, g.Department, g.ExternalID, now.UnixMicro()); err != nil {
			return fmt.Errorf("put group %s: %w", g.Key, err)
		}
		if members == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM group_members WHERE group_key = ?`), g.Key); err != nil {
			return fmt.Errorf("group %s members: %w", g.Key, err)
		}
		return addMembers(ctx, tx, g.Key, members)
	})
}

func addMembers(ctx context.Context, tx *sqlx.Tx, group string, members []string) error {
	for _, m := range members {
		var n int
		if err := tx.GetContext(ctx, &n, tx.Rebind(`SELECT COUNT(*) FROM people WHERE id = ? AND left_at = 0`), m); err != nil {
			return fmt.Errorf("member %s: %w", m, err)
		}
		if n == 0 {
			return fmt.Errorf("member %q: %w", m, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO group_members (group_key, person_id) VALUES (?, ?) ON CONFLICT DO NOTHING`), group, m); err != nil {
			return fmt.Errorf("group %s member %s: %w", group, m, err)
		}
	}
	return nil
}

// ChangeMembers adds and removes members of a group (SCIM PATCH); ErrNotFound for no group or
// an added person not in the directory.
func (s *Store) ChangeMembers(ctx context.Context, group string, add, remove []string, now time.Time) error {
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE org_groups SET modified_at = ? WHERE key = ?`), now.UnixMicro(), group)
		if err != nil {
			return fmt.Errorf("group %s: %w", group, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		for _, m := range remove {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM group_members WHERE group_key = ? AND person_id = ?`), group, m); err != nil {
				return fmt.Errorf("group %s member %s: %w", group, m, err)
			}
		}
		return addMembers(ctx, tx, group, add)
	})
}

// DeleteGroup removes a group and its memberships; ErrNotFound when there is none.
func (s *Store) DeleteGroup(ctx context.Context, key string) error {
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM group_members WHERE group_key = ?`), key); err != nil {
			return fmt.Errorf("group %s members: %w", key, err)
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM org_groups WHERE key = ?`), key)
		if err != nil {
			return fmt.Errorf("delete group %s: %w", key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// Kinds of DirectoryChange.
const (
	ChangeLeft  = "left"  // deactivated or removed
	ChangeMoved = "moved" // new manager or department
)

// DirectoryChange is one change of a person that requests in flight must hear about.
type DirectoryChange struct {
	Key    string    `db:"key"`
	Person string    `db:"person_id"`
	Kind   string    `db:"kind"`
	Detail string    `db:"detail"`
	At     time.Time `db:"at"`
}

// RecordChange records a directory change once per key; created is false when it was
// recorded before (an identity provider's retry).
func (s *Store) RecordChange(ctx context.Context, c DirectoryChange) (created bool, err error) {
	return recordChange(ctx, s.DB, c)
}

func recordChange(ctx context.Context, db sqlx.ExtContext, c DirectoryChange) (created bool, err error) {
	res, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO directory_changes (key, person_id, kind, detail, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key) DO NOTHING`), c.Key, c.Person, c.Kind, c.Detail, c.At.UTC())
	if err != nil {
		return false, fmt.Errorf("record directory change %s: %w", c.Key, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UnstartedChanges answers up to limit recorded changes whose DirectoryChange workflow has not
// been started (MarkChangeStarted never called), oldest first (by At, then key).
func (s *Store) UnstartedChanges(ctx context.Context, limit int) ([]DirectoryChange, error) {
	out := []DirectoryChange{}
	if err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT key, person_id, kind, detail, at FROM directory_changes
		WHERE started_at = 0 ORDER BY at, key LIMIT ?`), limit); err != nil {
		return nil, fmt.Errorf("unstarted directory changes: %w", err)
	}
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	return out, nil
}

// MarkChangeStarted records that the change's DirectoryChange workflow was started (or found
// started before) at now; a change marked before keeps its first instant. ErrNotFound when no
// change has the key.
func (s *Store) MarkChangeStarted(ctx context.Context, key string, now time.Time) error {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE directory_changes SET started_at = CASE WHEN started_at = 0 THEN ? ELSE started_at END
		WHERE key = ?`), now.UnixMicro(), key)
	if err != nil {
		return fmt.Errorf("mark directory change %s started: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// EndDelegations ends, at at (a leaver's change's instant), every delegation the person gave or
// received that was created at or before at and runs past it; it answers how many. Running it
// again ends nothing more. One created after at is left alone: the change may be applied late
// (its workflow started by the sweep), after the id was provisioned again for someone new
// (PutPerson's revived), whose delegations are theirs (issue 22).
func (s *Store) EndDelegations(ctx context.Context, person string, at time.Time) (int, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE delegations SET ends_at = ? WHERE (person_id = ? OR delegate_id = ?) AND ends_at > ? AND created_at <= ?`),
		at.UTC(), person, person, at.UTC(), at.UTC())
	if err != nil {
		return 0, fmt.Errorf("end delegations of %s: %w", person, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// OwnedService is a service whose current version names an owner, with its department.
type OwnedService struct {
	Key        string `db:"key"`
	Department string `db:"department"`
	OwnerLeft  string `db:"owner_left"`
}

// FlagOwnerLeft marks the services whose current definition names owner as owned by someone
// who left (services.owner_left = owner) and answers them; a service flagged before is not
// answered again.
func (s *Store) FlagOwnerLeft(ctx context.Context, owner string) ([]OwnedService, error) {
	var rows []struct {
		Key        string `db:"key"`
		Department string `db:"department"`
		Definition string `db:"definition"`
		OwnerLeft  string `db:"owner_left"`
	}
	if err := s.DB.SelectContext(ctx, &rows, `SELECT s.key, s.department, v.definition, s.owner_left FROM services s
		JOIN service_versions v ON v.service_key = s.key AND v.version = s.current_version ORDER BY s.key`); err != nil {
		return nil, fmt.Errorf("owned services: %w", err)
	}
	out := []OwnedService{}
	for _, r := range rows {
		var d struct {
			Owner string `json:"owner"`
		}
		if json.Unmarshal([]byte(r.Definition), &d) != nil || d.Owner != owner || r.OwnerLeft == owner {
			continue
		}
		if _, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE services SET owner_left = ? WHERE key = ?`), owner, r.Key); err != nil {
			return nil, fmt.Errorf("flag %s: %w", r.Key, err)
		}
		out = append(out, OwnedService{Key: r.Key, Department: r.Department, OwnerLeft: owner})
	}
	return out, nil
}

// OwnerLeft answers who, having left, still owns the service ("" when nobody).
func (s *Store) OwnerLeft(ctx context.Context, service string) (string, error) {
	var who string
	err := s.DB.GetContext(ctx, &who, s.DB.Rebind(`SELECT owner_left FROM services WHERE key = ?`), service)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return who, err
}

// AffectedRequest is a request in flight that waits on a person: an approval pending on
// them, or a task they hold.
type AffectedRequest struct {
	ID string `db:"id"`
}

// RequestsWaitingOn lists the open requests with an approval pending on person, a task
// assigned to them, or made by them (their manager may change the next steps), by id.
func (s *Store) RequestsWaitingOn(ctx context.Context, person string) ([]string, error) {
	out := []string{}
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT r.id FROM requests r WHERE r.closed_at IS NULL AND (
			r.requester_id = ?
			OR EXISTS (SELECT 1 FROM request_approvers a WHERE a.request_id = r.id AND a.person_id = ? AND a.status = 'pending')
			OR EXISTS (SELECT 1 FROM request_tasks t WHERE t.request_id = r.id AND t.assignee = ? AND t.state IN ('open', 'claimed')))
		ORDER BY r.id`), person, person, person)
	if err != nil {
		return nil, fmt.Errorf("requests waiting on %s: %w", person, err)
	}
	return out, nil
}

// ManagerOf answers the manager a person names in the directory, whether or not the person is
// still active (a chain of managers goes past someone who left), or ErrNotFound.
func (s *Store) ManagerOf(ctx context.Context, id string) (string, error) {
	var m string
	err := s.DB.GetContext(ctx, &m, s.DB.Rebind(`SELECT manager FROM people WHERE id = ?`), id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return m, err
}

// PersonEver returns a person whether or not they left or were removed (the names on a
// leaver's requests); ErrNotFound when the directory never had them.
func (s *Store) PersonEver(ctx context.Context, id string) (DirPerson, error) {
	var p DirPerson
	err := s.DB.GetContext(ctx, &p, s.DB.Rebind(`SELECT `+dirPersonCols+` FROM people WHERE id = ?`), id)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("person %s: %w", id, err)
	}
	return p, nil
}
