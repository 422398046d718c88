package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Bundle is everything read from a set of catalog files: the directory and the services.
type Bundle struct {
	Departments []Department
	Groups      []Group
	People      []Person
	Services    []Definition

	// where remembers the file and the index inside it of every item, for error messages.
	serviceAt, personAt, groupAt, deptAt map[string]loc
}

type loc struct {
	file string
	idx  int
}

func (l loc) path(section, field string) string {
	return fmt.Sprintf("%s[%d].%s", section, l.idx, field)
}

// file is the shape of one catalog file; any section may be absent.
type file struct {
	Departments []Department `yaml:"departments"`
	Groups      []Group      `yaml:"groups"`
	People      []Person     `yaml:"people"`
	Services    []Definition `yaml:"services"`
}

// Known is what already exists where a bundle will be applied (the stored directory), so a
// bundle of services alone may refer to people, groups and departments applied before.
type Known struct {
	Departments, Groups, People, Services map[string]bool
	// Members and Roles map each group and each role to the people in it (person id to true),
	// so that a quorum can be checked against the people a step names. Nil when unknown.
	Members, Roles map[string]map[string]bool
}

// Load reads every .yaml and .yml file under the given paths (files or directories, walked in
// lexical order) into one bundle and validates it. Nothing is returned half-read: on any error
// the bundle is nil and the error lists every problem found, each naming its file.
func Load(paths ...string) (*Bundle, error) { return LoadWith(Known{}, paths...) }

// LoadWith is Load, with references also resolved against what is already known.
func LoadWith(known Known, paths ...string) (*Bundle, error) {
	b := newBundle()
	e := &errs{}
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b.add(path, []byte(ExpandEnv(string(data))), e)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read catalog: %w", err)
		}
	}
	if len(e.list) == 0 {
		b.validate(e, known)
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	return b, nil
}

// Parse reads one catalog document (YAML or JSON) named name, for tests and the API.
func Parse(name string, data []byte) (*Bundle, error) {
	b := newBundle()
	e := &errs{}
	b.add(name, data, e)
	if len(e.list) == 0 {
		b.validate(e, Known{})
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	return b, nil
}

func newBundle() *Bundle {
	return &Bundle{serviceAt: map[string]loc{}, personAt: map[string]loc{}, groupAt: map[string]loc{}, deptAt: map[string]loc{}}
}

func (b *Bundle) add(name string, data []byte, e *errs) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	for {
		var f file
		err := dec.Decode(&f)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			e.list = append(e.list, FieldError{File: name, Rule: "yaml", Detail: err.Error()})
			return
		}
		for i, d := range f.Departments {
			b.Departments = append(b.Departments, d)
			dup(e, loc{name, i}, b.deptAt, "departments", d.Key)
		}
		for i, g := range f.Groups {
			b.Groups = append(b.Groups, g)
			dup(e, loc{name, i}, b.groupAt, "groups", g.Key)
		}
		for i, p := range f.People {
			b.People = append(b.People, p)
			dup(e, loc{name, i}, b.personAt, "people", p.ID)
		}
		for i, s := range f.Services {
			s.Normalize()
			b.Services = append(b.Services, s)
			dup(e, loc{name, i}, b.serviceAt, "services", s.Key)
		}
	}
}

func dup(e *errs, at loc, seen map[string]loc, section, key string) {
	if prev, ok := seen[key]; ok {
		e.list = append(e.list, FieldError{File: at.file, Field: fmt.Sprintf("%s[%d]", section, at.idx), Rule: "unique",
			Detail: fmt.Sprintf("%q is also defined in %s", key, prev.file)})
		return
	}
	seen[key] = at
}

// validate checks every item and every reference between items.
func (b *Bundle) validate(e *errs, known Known) {
	depts, groups, people := copySet(known.Departments), copySet(known.Groups), copySet(known.People)
	for _, d := range b.Departments {
		depts[d.Key] = true
	}
	for _, g := range b.Groups {
		groups[g.Key] = true
	}
	for _, p := range b.People {
		people[p.ID] = true
	}
	for _, d := range b.Departments {
		at := b.deptAt[d.Key]
		e.file = at.file
		p := fmt.Sprintf("departments[%d]", at.idx)
		if !keyPattern.MatchString(d.Key) {
			e.add(p+".key", "pattern", "must be lowercase letters, digits and dashes (%q)", d.Key)
		}
		if d.Head != "" && !people[d.Head] {
			e.add(p+".head", "reference", "no person %q in the directory", d.Head)
		}
		for _, msg := range d.Calendar.Validate() {
			e.add(p+".calendar", "calendar", "%s", msg)
		}
		if w := d.Webhook; w != nil {
			if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				e.add(p+".webhook.url", "format", "an absolute http or https URL (%q)", w.URL)
			}
			if w.SecretEnv == "" {
				e.add(p+".webhook.secret_env", "required", "name the environment variable that holds the signing secret")
			}
		}
		validateChat(e, p, d.Chat)
	}
	for _, g := range b.Groups {
		at := b.groupAt[g.Key]
		e.file = at.file
		p := fmt.Sprintf("groups[%d]", at.idx)
		if !keyPattern.MatchString(g.Key) {
			e.add(p+".key", "pattern", "must be lowercase letters, digits and dashes (%q)", g.Key)
		}
		if !depts[g.Department] {
			e.add(p+".department", "reference", "no department %q", g.Department)
		}
		validateChat(e, p, g.Chat)
	}
	for _, pp := range b.People {
		at := b.personAt[pp.ID]
		e.file = at.file
		p := fmt.Sprintf("people[%d]", at.idx)
		if !keyPattern.MatchString(pp.ID) {
			e.add(p+".id", "pattern", "must be lowercase letters, digits and dashes (%q)", pp.ID)
		}
		if pp.Name == "" {
			e.add(p+".name", "required", "a person needs a name")
		}
		if !depts[pp.Department] {
			e.add(p+".department", "reference", "no department %q", pp.Department)
		}
		switch pp.Reminders {
		case "", RemindersImmediate, RemindersDigest:
		default:
			e.add(p+".reminders", "enum", "reminders are %s or %s, not %q", RemindersImmediate, RemindersDigest, pp.Reminders)
		}
		if pp.Manager != "" && !people[pp.Manager] {
			e.add(p+".manager", "reference", "no person %q in the directory", pp.Manager)
		}
		for j, g := range pp.Groups {
			if !groups[g] {
				e.add(fmt.Sprintf("%s.groups[%d]", p, j), "reference", "no group %q", g)
			}
		}
	}
	named := b.membership(known)
	for _, s := range b.Services {
		at := b.serviceAt[s.Key]
		se := &errs{file: at.file}
		s.validate(se)
		if s.Department != "" && !depts[s.Department] {
			se.add("department", "reference", "no department %q", s.Department)
		}
		if s.Owner != "" && !people[s.Owner] {
			se.add("owner", "reference", "no person %q in the directory", s.Owner)
		}
		for j, st := range s.Approval.Steps {
			named.check(se, fmt.Sprintf("approval.steps[%d]", j), st, s.Owner)
		}
		if g := s.Governance; g != nil {
			named.check(se, "governance", *g, s.Owner)
		}
		for j, st := range s.Approval.Steps {
			p := fmt.Sprintf("approval.steps[%d].approvers", j)
			if st.Approvers.Group != "" && !groups[st.Approvers.Group] {
				se.add(p+".group", "reference", "no group %q", st.Approvers.Group)
			}
			if x := st.Escalate; x != nil && x.Group != "" && !groups[x.Group] {
				se.add(fmt.Sprintf("approval.steps[%d].escalate.group", j), "reference", "no group %q", x.Group)
			}
			for k, id := range st.Approvers.People {
				if !people[id] {
					se.add(fmt.Sprintf("%s.people[%d]", p, k), "reference", "no person %q in the directory", id)
				}
			}
		}
		for j, l := range s.SLA.Escalation {
			if l.Reassign != "" && !groups[l.Reassign] {
				se.add(fmt.Sprintf("sla.escalation[%d].reassign", j), "reference", "no group %q", l.Reassign)
			}
			if n := l.Notify; n != nil {
				for k, g := range n.Groups {
					if !groups[g] {
						se.add(fmt.Sprintf("sla.escalation[%d].notify.groups[%d]", j, k), "reference", "no group %q", g)
					}
				}
				for k, id := range n.People {
					if !people[id] {
						se.add(fmt.Sprintf("sla.escalation[%d].notify.people[%d]", j, k), "reference", "no person %q in the directory", id)
					}
				}
			}
		}
		for j, t := range s.Fulfilment.Tasks {
			if t.Group != "" && !groups[t.Group] {
				se.add(fmt.Sprintf("fulfilment.tasks[%d].group", j), "reference", "no group %q", t.Group)
			}
		}
		if g := s.Governance; g != nil && g.Approvers.Group != "" && !groups[g.Approvers.Group] {
			se.add("governance.approvers.group", "reference", "no group %q", g.Approvers.Group)
		}
		if r := s.Retirement; r != nil && r.Successor != "" && b.serviceAt[r.Successor].file == "" && !known.Services[r.Successor] {
			se.add("retirement.successor", "reference", "no service %q", r.Successor)
		}
		if s.Help.Group != "" && !groups[s.Help.Group] {
			se.add("help.group", "reference", "no group %q", s.Help.Group)
		}
		// Paths inside a service are relative to it; say which service.
		for _, fe := range se.list {
			fe.Field = at.path("services", fe.Field)
			e.list = append(e.list, fe)
		}
	}
	e.file = ""
	sort.SliceStable(e.list, func(i, j int) bool { return e.list[i].File < e.list[j].File })
}

// membership is who is in each group and holds each role once the bundle is applied: the
// known directory's people, replaced by the bundle's own.
func (b *Bundle) membership(known Known) membership {
	m := membership{groups: map[string]map[string]bool{}, roles: map[string]map[string]bool{}, known: known.Members != nil}
	inBundle := map[string]bool{}
	for _, p := range b.People {
		inBundle[p.ID] = true
	}
	stored := func(dst, src map[string]map[string]bool) {
		for key, people := range src {
			for id := range people {
				if !inBundle[id] {
					put(dst, key, id)
				}
			}
		}
	}
	stored(m.groups, known.Members)
	stored(m.roles, known.Roles)
	for _, p := range b.People {
		for _, g := range p.Groups {
			put(m.groups, g, p.ID)
		}
		for _, r := range p.Roles {
			put(m.roles, r, p.ID)
		}
	}
	for _, g := range b.Groups {
		if m.groups[g.Key] == nil {
			m.groups[g.Key] = map[string]bool{}
		}
	}
	return m
}

func put(m map[string]map[string]bool, key, id string) {
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][id] = true
}

// membership is who is in each group and holds each role; known says the stored directory's
// memberships are included (without them, a group defined only there has unknown members).
type membership struct {
	groups, roles map[string]map[string]bool
	known         bool
}

// check refuses a quorum larger than the most people the step's approvers can name: a quorum
// that can never be met would otherwise wait for people who do not exist. p is the step's path.
func (m membership) check(e *errs, p string, st ApprovalStep, owner string) {
	if st.Mode != ModeQuorum || st.Quorum < 1 {
		return
	}
	a := st.Approvers
	people := map[string]bool{}
	var parts []string
	extra := 0
	if a.Group != "" {
		members, ok := m.groups[a.Group]
		if !ok && !m.known {
			return // a group of the stored directory whose members were not given
		}
		for id := range members {
			people[id] = true
		}
		parts = append(parts, fmt.Sprintf("group %s has %d", a.Group, len(members)))
	}
	if a.Role != "" {
		holders, ok := m.roles[a.Role]
		if !ok && !m.known {
			return
		}
		for id := range holders {
			people[id] = true
		}
		parts = append(parts, fmt.Sprintf("role %s has %d", a.Role, len(holders)))
	}
	if len(a.People) > 0 {
		for _, id := range a.People {
			people[id] = true
		}
		parts = append(parts, fmt.Sprintf("people lists %d", len(a.People)))
	}
	if a.Owner && owner != "" {
		people[owner] = true
		parts = append(parts, "the owner is 1")
	}
	if a.Manager {
		extra += max(a.Levels, 1)
		parts = append(parts, fmt.Sprintf("the manager chain has %d", max(a.Levels, 1)))
	}
	if a.DepartmentHead != "" {
		extra++
		parts = append(parts, "the department head is 1")
	}
	if n := len(people) + extra; st.Quorum > n {
		e.add(p+".quorum", "maximum", "a quorum of %d can never be met: the step names at most %d people (%s)",
			st.Quorum, n, strings.Join(parts, ", "))
	}
}

func copySet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// DefaultHooksURL is where `esm dev` serves the demo automation endpoint of the examples.
const DefaultHooksURL = "http://127.0.0.1:8091/hooks"

// ExpandEnv replaces ${ESM_...} in catalog files with the environment's value (ESM_HOOKS_URL
// defaults to DefaultHooksURL), so a catalog can name its automation endpoints per
// installation. Other ${...} are left alone. The expanded value is what gets stored and pinned.
func ExpandEnv(s string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if v := os.Getenv(name); v != "" {
			return v
		}
		if name == "ESM_HOOKS_URL" {
			return DefaultHooksURL
		}
		return ""
	})
}

var envRef = regexp.MustCompile(`\$\{ESM_[A-Z0-9_]+\}`)

// validateChat checks a chat channel at path p: an http(s) URL and a kind.
func validateChat(e *errs, p string, c *Chat) {
	if c == nil {
		return
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.add(p+".chat.url", "format", "an absolute http or https URL (%q)", c.URL)
	}
	if c.Kind != ChatSlack && c.Kind != ChatTeams {
		e.add(p+".chat.kind", "enum", "a chat channel is %s or %s, not %q", ChatSlack, ChatTeams, c.Kind)
	}
}
