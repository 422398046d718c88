package desk

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// Provisioning: the identity provider's front door (SCIM, api/scim.go) writes the directory
// through these calls, the same tables the YAML directory writes (store/directory.go). The
// rules of issue 22 live here: what a person's id may be, and which changes are a leaver or a
// mover that requests in flight must hear about (recorded once per change in the transaction
// that writes the person, store.PutPerson and store.RemovePerson, and handed to the
// DirectoryChange workflow when one is wired, d.directoryChanged, or else by the worker's
// sweep, worker.Reconciler.StartDirectoryChanges).

// idPat is what an id (SCIM userName, group id) may be: it names the person in URLs, tokens
// and audit trails.
var idPat = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)

// ProvisionPerson creates or replaces a person (SCIM POST, PUT, PATCH). Rules: the id is
// 1-128 of letters, digits and . _ @ + - (field userName); a name is required (field
// displayName, or name). A person who was active and is not now has left; a new manager or
// department has moved them: each is recorded once, in the same transaction as the person's
// write (store.PutPerson), and answered in Changes. A failure to record is an error and leaves
// the person as they were, so the identity provider's retry records the change.
//
// Someone who had left (removed, or deactivated and now provisioned active) comes back as a new
// person, never with the access of whoever held the id before (issue 22; an identity provider
// may reuse a userName for a new hire): no roles or attributes until the YAML directory grants
// them, no groups until the identity provider's group calls add them, no delegations, no
// portal session of before; store.PutPerson does it in the write's transaction. Nothing is
// recorded for requests in flight: the leaver's change was recorded when they left.
func (d *Desk) ProvisionPerson(ctx context.Context, p store.DirPerson) (store.DirPerson, []store.DirectoryChange, error) {
	if !idPat.MatchString(p.ID) {
		return p, nil, invalid("userName: 1-128 letters, digits and . _ @ + -, starting with a letter or digit",
			catalog.FieldError{Field: "userName", Rule: "pattern", Detail: "1-128 letters, digits and . _ @ + -"})
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if p.Manager == p.ID {
		return p, nil, invalid("manager: nobody is their own manager", catalog.FieldError{Field: "manager", Rule: "not-self", Detail: "nobody is their own manager"})
	}
	now := d.now()
	_, revived, changes, err := d.store.PutPerson(ctx, p, now, func(before *store.DirPerson, after store.DirPerson) []store.DirectoryChange {
		switch {
		case before == nil:
			return nil
		case before.Active && !after.Active:
			return []store.DirectoryChange{{Key: fmt.Sprintf("left/%s/%d", after.ID, before.Modified), Person: after.ID, Kind: store.ChangeLeft,
				Detail: "deactivated in the identity provider", At: now}}
		case before.Manager != after.Manager || before.Department != after.Department:
			return []store.DirectoryChange{{Key: fmt.Sprintf("moved/%s/%d", after.ID, before.Modified), Person: after.ID, Kind: store.ChangeMoved,
				Detail: fmt.Sprintf("manager %s -> %s, department %s -> %s", orNone(before.Manager), orNone(after.Manager), orNone(before.Department), orNone(after.Department)), At: now}}
		}
		return nil
	})
	if err != nil {
		return p, nil, err
	}
	if revived {
		d.log.Info("directory: a person who had left is provisioned again and starts with no roles, groups or delegations", "person", p.ID)
	}
	d.started(ctx, changes)
	got, err := d.store.DirectoryPerson(ctx, p.ID)
	return got, changes, err
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// DeprovisionPerson removes a person (SCIM DELETE): they leave, as a deactivation does, unless
// they left when they were deactivated. The change is recorded in the removal's transaction
// (store.RemovePerson), as for ProvisionPerson. ErrNotFound when there is nobody.
func (d *Desk) DeprovisionPerson(ctx context.Context, id string) ([]store.DirectoryChange, error) {
	now := d.now()
	changes, err := d.store.RemovePerson(ctx, id, now, func(before *store.DirPerson, _ store.DirPerson) []store.DirectoryChange {
		if !before.Active {
			return nil // they left when they were deactivated
		}
		return []store.DirectoryChange{{Key: fmt.Sprintf("left/%s/%d", id, before.Modified), Person: id, Kind: store.ChangeLeft,
			Detail: "removed from the identity provider", At: now}}
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no person %s", id)
	}
	if err != nil {
		return nil, err
	}
	d.started(ctx, changes)
	return changes, nil
}

// started hands each change recorded now to the directory-change process (directoryChanged).
// A change whose workflow could not be started is started by the worker's sweep.
func (d *Desk) started(ctx context.Context, changes []store.DirectoryChange) {
	for _, c := range changes {
		d.directoryChanged(ctx, c)
	}
}

// ProvisionedPeople lists the directory for the identity provider (everyone not removed).
func (d *Desk) ProvisionedPeople(ctx context.Context) ([]store.DirPerson, error) {
	return d.store.DirectoryPeople(ctx)
}

// ProvisionedPerson returns one person not removed, or ErrNotFound.
func (d *Desk) ProvisionedPerson(ctx context.Context, id string) (store.DirPerson, error) {
	p, err := d.store.DirectoryPerson(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, notFound("no person %s", id)
	}
	return p, err
}

// ProvisionGroup creates or renames a group and, when members is not nil, sets its members.
// Rules: the key is an id as for people (field displayName when derived from it); every member
// is in the directory (field members).
func (d *Desk) ProvisionGroup(ctx context.Context, g store.DirGroup, members []string) (store.DirGroup, error) {
	if !idPat.MatchString(g.Key) {
		return g, invalid("id: 1-128 letters, digits and . _ @ + -", catalog.FieldError{Field: "id", Rule: "pattern", Detail: "1-128 letters, digits and . _ @ + -"})
	}
	if err := d.store.PutGroup(ctx, g, members, d.now()); err != nil {
		return g, memberErr(err)
	}
	return d.ProvisionedGroup(ctx, g.Key)
}

func memberErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return invalid("members: "+err.Error(), catalog.FieldError{Field: "members", Rule: "exists", Detail: "every member is a person in the directory"})
	}
	return err
}

// ChangeGroupMembers adds and removes members (SCIM PATCH of members).
func (d *Desk) ChangeGroupMembers(ctx context.Context, key string, add, remove []string) (store.DirGroup, error) {
	if _, err := d.ProvisionedGroup(ctx, key); err != nil {
		return store.DirGroup{}, err
	}
	if err := d.store.ChangeMembers(ctx, key, add, remove, d.now()); err != nil {
		return store.DirGroup{}, memberErr(err)
	}
	return d.ProvisionedGroup(ctx, key)
}

// ProvisionedGroups lists every group with its members.
func (d *Desk) ProvisionedGroups(ctx context.Context) ([]store.DirGroup, error) {
	return d.store.DirectoryGroups(ctx)
}

// ProvisionedGroup returns one group, or ErrNotFound.
func (d *Desk) ProvisionedGroup(ctx context.Context, key string) (store.DirGroup, error) {
	g, err := d.store.DirectoryGroup(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return g, notFound("no group %s", key)
	}
	return g, err
}

// DeprovisionGroup removes a group and its memberships.
func (d *Desk) DeprovisionGroup(ctx context.Context, key string) error {
	err := d.store.DeleteGroup(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no group %s", key)
	}
	return err
}
