package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/jmoiron/sqlx"
)

// ApplyReport says what an apply changed.
type ApplyReport struct {
	Departments int `json:"departments"`
	Groups      int `json:"groups"`
	People      int `json:"people"`
	// Versions lists each service that got a new version, as "key@version".
	Versions []string `json:"versions"`
	// Unchanged counts services whose current version already matched.
	Unchanged int `json:"unchanged"`
	// Changes lists the keys of the leaver and mover changes recorded (DirectoryChange), for
	// the worker's sweep to start.
	Changes []string `json:"changes"`
}

// ApplyBundle writes a validated bundle in one transaction: departments, groups and people are
// upserted; a service gets a new version only when its definition's hash differs from its
// current version's. Applying the same bundle twice changes nothing.
func (s *Store) ApplyBundle(ctx context.Context, b *catalog.Bundle, now time.Time) (ApplyReport, error) {
	var rep ApplyReport
	now = now.UTC()
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		for _, d := range b.Departments {
			cal, _ := json.Marshal(d.Calendar)
			hook := ""
			if d.Webhook != nil {
				b, _ := json.Marshal(d.Webhook)
				hook = string(b)
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO departments (key, name, head, calendar, webhook, chat) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET name = excluded.name, head = excluded.head, calendar = excluded.calendar, webhook = excluded.webhook, chat = excluded.chat`),
				d.Key, d.Name, d.Head, string(cal), hook, chatJSON(d.Chat)); err != nil {
				return fmt.Errorf("department %s: %w", d.Key, err)
			}
			rep.Departments++
		}
		for _, g := range b.Groups {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO org_groups (key, name, department, email, chat) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET name = excluded.name, department = excluded.department, email = excluded.email, chat = excluded.chat`),
				g.Key, g.Name, g.Department, g.Email, chatJSON(g.Chat)); err != nil {
				return fmt.Errorf("group %s: %w", g.Key, err)
			}
			rep.Groups++
		}
		for _, p := range b.People {
			roles, _ := json.Marshal(nonNil(p.Roles))
			attrs, _ := json.Marshal(p.Attributes)
			if p.Attributes == nil {
				attrs = []byte("{}")
			}
			// reminders: the YAML's when it says, else what the person chose in the portal.
			reminders := p.Reminders
			change, err := yamlChange(ctx, tx, p, now)
			if err != nil {
				return err
			}
			active := 1
			if p.Active != nil && !*p.Active {
				active = 0
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO people (id, name, email, department, manager, roles, attributes, reminders, active)
				VALUES (?, ?, ?, ?, ?, ?, ?, COALESCE(NULLIF(?, ''), 'immediate'), ?)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, department = excluded.department,
					manager = excluded.manager, roles = excluded.roles, attributes = excluded.attributes,
					reminders = CASE WHEN ? = '' THEN people.reminders ELSE excluded.reminders END,
					active = CASE WHEN excluded.active = 0 THEN 0 ELSE people.active END`),
				p.ID, p.Name, p.Email, p.Department, p.Manager, string(roles), string(attrs), reminders, active, reminders); err != nil {
				return fmt.Errorf("person %s: %w", p.ID, err)
			}
			if change != nil {
				// The person's version moves on, so that their next change has a key of its own.
				if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE people SET modified_at = ? WHERE id = ?`), now.UnixMicro(), p.ID); err != nil {
					return fmt.Errorf("person %s: %w", p.ID, err)
				}
				res, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO directory_changes (key, person_id, kind, detail, at) VALUES (?, ?, ?, ?, ?)
					ON CONFLICT (key) DO NOTHING`), change.Key, change.Person, change.Kind, change.Detail, change.At)
				if err != nil {
					return fmt.Errorf("record directory change %s: %w", change.Key, err)
				}
				if n, _ := res.RowsAffected(); n == 1 {
					rep.Changes = append(rep.Changes, change.Key)
				}
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM group_members WHERE person_id = ?`), p.ID); err != nil {
				return fmt.Errorf("person %s groups: %w", p.ID, err)
			}
			for _, g := range p.Groups {
				if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO group_members (group_key, person_id) VALUES (?, ?)
					ON CONFLICT DO NOTHING`), g, p.ID); err != nil {
					return fmt.Errorf("person %s group %s: %w", p.ID, g, err)
				}
			}
			rep.People++
		}
		for _, d := range b.Services {
			v, created, err := putDefinition(ctx, tx, d, now)
			if err != nil {
				return err
			}
			if created {
				rep.Versions = append(rep.Versions, fmt.Sprintf("%s@%d", d.Key, v))
			} else {
				rep.Unchanged++
			}
		}
		return nil
	})
	return rep, err
}

// yamlChange answers the leaver or mover change that applying the YAML's p makes to the person
// as the directory has them (nil for none): active before and `active: false` now is a leaver;
// a new manager or department a mover (the keys and details as desk.ProvisionPerson's for
// SCIM). Someone new, removed, or already inactive makes no change; neither does a person
// missing from the YAML (ApplyBundle never sees them).
func yamlChange(ctx context.Context, tx *sqlx.Tx, p catalog.Person, now time.Time) (*DirectoryChange, error) {
	var before DirPerson
	err := tx.GetContext(ctx, &before, tx.Rebind(`SELECT `+dirPersonCols+` FROM people WHERE id = ? AND left_at = 0`), p.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("person %s: %w", p.ID, err)
	}
	if !before.Active {
		return nil, nil
	}
	switch {
	case p.Active != nil && !*p.Active:
		return &DirectoryChange{Key: fmt.Sprintf("left/%s/%d", p.ID, before.Modified), Person: p.ID, Kind: ChangeLeft,
			Detail: "deactivated in the directory YAML", At: now}, nil
	case before.Manager != p.Manager || before.Department != p.Department:
		return &DirectoryChange{Key: fmt.Sprintf("moved/%s/%d", p.ID, before.Modified), Person: p.ID, Kind: ChangeMoved,
			Detail: fmt.Sprintf("manager %s -> %s, department %s -> %s in the directory YAML", orNone(before.Manager), orNone(p.Manager),
				orNone(before.Department), orNone(p.Department)), At: now}, nil
	}
	return nil, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// putDefinition stores d as the service's next version unless it equals the current one.
func putDefinition(ctx context.Context, tx *sqlx.Tx, d catalog.Definition, now time.Time) (version int, created bool, err error) {
	hash := d.Hash()
	// Lock the service's row (a new service's too) first, so that a draft saved at the same
	// time waits instead of taking the same next number.
	if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO services (key, department, current_version, updated_at) VALUES (?, ?, 0, ?)
		ON CONFLICT (key) DO UPDATE SET updated_at = services.updated_at`), d.Key, d.Department, now); err != nil {
		return 0, false, fmt.Errorf("service %s: %w", d.Key, err)
	}
	var cur struct {
		Version int    `db:"version"`
		Hash    string `db:"hash"`
		Stage   string `db:"stage"`
	}
	if err := tx.GetContext(ctx, &cur, tx.Rebind(`SELECT s.current_version AS version, COALESCE(v.hash, '') AS hash, s.stage FROM services s
		LEFT JOIN service_versions v ON v.service_key = s.key AND v.version = s.current_version WHERE s.key = ?`), d.Key); err != nil {
		return 0, false, fmt.Errorf("service %s: %w", d.Key, err)
	}
	switch {
	case cur.Version > 0 && cur.Hash == hash:
		return cur.Version, false, nil
	case cur.Stage == catalog.StageRetiring || cur.Stage == catalog.StageRetired:
		// Its lifecycle would not take the version: a retired service does not come back.
		return 0, false, fmt.Errorf("service %s is %s: it takes no new version (give the new one another key)", d.Key, cur.Stage)
	}
	// The next number after every stored version: a draft saved through the API may hold
	// current+1 already.
	if err := tx.GetContext(ctx, &version, tx.Rebind(`SELECT COALESCE(MAX(version), 0) + 1 FROM service_versions WHERE service_key = ?`), d.Key); err != nil {
		return 0, false, fmt.Errorf("service %s: %w", d.Key, err)
	}
	doc, err := json.Marshal(d)
	if err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO services (key, department, current_version, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET department = excluded.department, current_version = excluded.current_version, updated_at = excluded.updated_at`),
		d.Key, d.Department, version, now); err != nil {
		return 0, false, fmt.Errorf("service %s: %w", d.Key, err)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO service_versions (service_key, version, hash, definition, created_at) VALUES (?, ?, ?, ?, ?)`),
		d.Key, version, hash, string(doc), now); err != nil {
		return 0, false, fmt.Errorf("service %s version %d: %w", d.Key, version, err)
	}
	return version, true, nil
}

// ServiceVersion is one stored version of a service definition, with the service's stage.
type ServiceVersion struct {
	Version    int
	Definition catalog.Definition
	CreatedAt  time.Time
	Stage      string
	Successor  string
}

type versionRow struct {
	Version    int       `db:"version"`
	Definition string    `db:"definition"`
	CreatedAt  time.Time `db:"created_at"`
	Stage      string    `db:"stage"`
	Successor  string    `db:"successor"`
}

func (r versionRow) decode() (ServiceVersion, error) {
	var d catalog.Definition
	if err := json.Unmarshal([]byte(r.Definition), &d); err != nil {
		return ServiceVersion{}, fmt.Errorf("decode definition: %w", err)
	}
	return ServiceVersion{Version: r.Version, Definition: d, CreatedAt: r.CreatedAt, Stage: r.Stage, Successor: r.Successor}, nil
}

// CurrentService returns the current version of a service, or ErrNotFound.
func (s *Store) CurrentService(ctx context.Context, key string) (ServiceVersion, error) {
	var r versionRow
	err := s.DB.GetContext(ctx, &r, s.DB.Rebind(`SELECT v.version, v.definition, v.created_at, s.stage, s.successor FROM services s
		JOIN service_versions v ON v.service_key = s.key AND v.version = s.current_version WHERE s.key = ?`), key)
	if err != nil {
		return ServiceVersion{}, notFound(err)
	}
	return r.decode()
}

// ServiceAt returns one version of a service, or ErrNotFound.
func (s *Store) ServiceAt(ctx context.Context, key string, version int) (ServiceVersion, error) {
	var r versionRow
	err := s.DB.GetContext(ctx, &r, s.DB.Rebind(`SELECT v.version, v.definition, v.created_at, s.stage, s.successor FROM service_versions v
		JOIN services s ON s.key = v.service_key WHERE v.service_key = ? AND v.version = ?`), key, version)
	if err != nil {
		return ServiceVersion{}, notFound(err)
	}
	return r.decode()
}

// ListServices returns the current version of every service, ordered by department and key.
func (s *Store) ListServices(ctx context.Context) ([]ServiceVersion, error) {
	var rows []versionRow
	err := s.DB.SelectContext(ctx, &rows, `SELECT v.version, v.definition, v.created_at, s.stage, s.successor FROM services s
		JOIN service_versions v ON v.service_key = s.key AND v.version = s.current_version
		ORDER BY s.department, s.key`)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	out := make([]ServiceVersion, 0, len(rows))
	for _, r := range rows {
		sv, err := r.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, nil
}

type personRow struct {
	ID         string `db:"id"`
	Name       string `db:"name"`
	Email      string `db:"email"`
	Department string `db:"department"`
	Manager    string `db:"manager"`
	Roles      string `db:"roles"`
	Attributes string `db:"attributes"`
}

// Person returns someone from the directory with their groups, or ErrNotFound (also for
// someone deactivated or removed: they left, issue 22).
func (s *Store) Person(ctx context.Context, id string) (catalog.Person, error) {
	p, _, err := s.person(ctx, id)
	return p, err
}

// SignedIn returns someone from the directory with their groups, as Person does, and the
// instant from which their portal sessions count (sessions issued before it ended: they signed
// out since; zero when they never did), in the same one query. ErrNotFound when the person is
// not in the directory (any session of theirs ends too).
func (s *Store) SignedIn(ctx context.Context, id string) (catalog.Person, time.Time, error) {
	p, after, err := s.person(ctx, id)
	if err != nil || after == 0 {
		return p, time.Time{}, err
	}
	return p, time.UnixMicro(after).UTC(), nil
}

// EndSessions ends every portal session of the person issued before at (store.SignedIn then
// answers at, or a later instant already recorded: it never moves back). ErrNotFound when the
// person is not in the directory.
func (s *Store) EndSessions(ctx context.Context, id string, at time.Time) error {
	us := at.UnixMicro()
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE people SET sessions_after = CASE WHEN sessions_after > ? THEN sessions_after ELSE ? END WHERE id = ?`), us, us, id)
	if err != nil {
		return fmt.Errorf("end sessions of %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *Store) person(ctx context.Context, id string) (catalog.Person, int64, error) {
	// One query, the person's row once per group (every API call and portal page reads its
	// caller here).
	var rows []struct {
		personRow
		SessionsAfter int64          `db:"sessions_after"`
		Group         sql.NullString `db:"group_key"`
	}
	if err := s.DB.SelectContext(ctx, &rows, s.DB.Rebind(`SELECT p.id, p.name, p.email, p.department, p.manager, p.roles, p.attributes, p.sessions_after, m.group_key
		FROM people p LEFT JOIN group_members m ON m.person_id = p.id WHERE p.id = ? AND p.active = 1 AND p.left_at = 0 ORDER BY m.group_key`), id); err != nil {
		return catalog.Person{}, 0, fmt.Errorf("person %s: %w", id, err)
	}
	if len(rows) == 0 {
		return catalog.Person{}, 0, ErrNotFound
	}
	r := rows[0].personRow
	p := catalog.Person{ID: r.ID, Name: r.Name, Email: r.Email, Department: r.Department, Manager: r.Manager}
	if err := json.Unmarshal([]byte(r.Roles), &p.Roles); err != nil {
		return p, 0, fmt.Errorf("person %s roles: %w", id, err)
	}
	if err := json.Unmarshal([]byte(r.Attributes), &p.Attributes); err != nil {
		return p, 0, fmt.Errorf("person %s attributes: %w", id, err)
	}
	for _, row := range rows {
		if row.Group.Valid {
			p.Groups = append(p.Groups, row.Group.String)
		}
	}
	return p, rows[0].SessionsAfter, nil
}

// GroupMembers returns the ids and names of a group's members, ordered by id.
func (s *Store) GroupMembers(ctx context.Context, group string) ([]catalog.PersonRef, error) {
	var out []catalog.PersonRef
	err := s.DB.SelectContext(ctx, &out, s.DB.Rebind(`SELECT p.id, p.name, p.department FROM group_members m
		JOIN people p ON p.id = m.person_id WHERE m.group_key = ? AND p.active = 1 AND p.left_at = 0 ORDER BY p.id`), group)
	if err != nil {
		return nil, fmt.Errorf("group %s members: %w", group, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Department returns a department with its calendar and webhook, or ErrNotFound.
func (s *Store) Department(ctx context.Context, key string) (catalog.Department, error) {
	var row struct {
		Key      string `db:"key"`
		Name     string `db:"name"`
		Head     string `db:"head"`
		Calendar string `db:"calendar"`
		Webhook  string `db:"webhook"`
		Chat     string `db:"chat"`
	}
	err := s.DB.GetContext(ctx, &row, s.DB.Rebind(`SELECT key, name, head, calendar, webhook, chat FROM departments WHERE key = ?`), key)
	if err != nil {
		return catalog.Department{}, notFound(err)
	}
	d := catalog.Department{Key: row.Key, Name: row.Name, Head: row.Head}
	if err := json.Unmarshal([]byte(row.Calendar), &d.Calendar); err != nil {
		return d, fmt.Errorf("department %s calendar: %w", key, err)
	}
	if row.Webhook != "" {
		d.Webhook = &catalog.Webhook{}
		if err := json.Unmarshal([]byte(row.Webhook), d.Webhook); err != nil {
			return d, fmt.Errorf("department %s webhook: %w", key, err)
		}
	}
	if d.Chat, err = parseChat(row.Chat); err != nil {
		return d, fmt.Errorf("department %s chat: %w", key, err)
	}
	return d, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Known returns the keys of the stored directory, so a catalog file of services alone can be
// validated against the people and groups applied before.
func (s *Store) Known(ctx context.Context) (catalog.Known, error) {
	k := catalog.Known{Departments: map[string]bool{}, Groups: map[string]bool{}, People: map[string]bool{}, Services: map[string]bool{}}
	for table, set := range map[string]map[string]bool{
		"SELECT key FROM departments": k.Departments, "SELECT key FROM org_groups": k.Groups, "SELECT id FROM people": k.People,
		"SELECT key FROM services": k.Services,
	} {
		var keys []string
		if err := s.DB.SelectContext(ctx, &keys, table); err != nil {
			return k, fmt.Errorf("known directory: %w", err)
		}
		for _, key := range keys {
			set[key] = true
		}
	}
	// Who is in each group and holds each role, so that a quorum is checked against them.
	k.Members, k.Roles = map[string]map[string]bool{}, map[string]map[string]bool{}
	var members []struct {
		Group  string `db:"group_key"`
		Person string `db:"person_id"`
	}
	if err := s.DB.SelectContext(ctx, &members, "SELECT group_key, person_id FROM group_members"); err != nil {
		return k, fmt.Errorf("known group members: %w", err)
	}
	for _, m := range members {
		if k.Members[m.Group] == nil {
			k.Members[m.Group] = map[string]bool{}
		}
		k.Members[m.Group][m.Person] = true
	}
	var roles []struct {
		ID    string `db:"id"`
		Roles string `db:"roles"`
	}
	if err := s.DB.SelectContext(ctx, &roles, "SELECT id, roles FROM people"); err != nil {
		return k, fmt.Errorf("known roles: %w", err)
	}
	for _, p := range roles {
		var list []string
		if err := json.Unmarshal([]byte(p.Roles), &list); err != nil {
			return k, fmt.Errorf("roles of %s: %w", p.ID, err)
		}
		for _, r := range list {
			if k.Roles[r] == nil {
				k.Roles[r] = map[string]bool{}
			}
			k.Roles[r][p.ID] = true
		}
	}
	return k, nil
}

// chatJSON is a chat channel as stored ("" for none).
func chatJSON(c *catalog.Chat) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func parseChat(s string) (*catalog.Chat, error) {
	if s == "" {
		return nil, nil
	}
	var c catalog.Chat
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, err
	}
	return &c, nil
}
