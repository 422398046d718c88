package catalog

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// loadExamples loads the example catalog the demo, the e2e tests and `esm dev` use.
func loadExamples(t *testing.T) *Bundle {
	t.Helper()
	b, err := Load("../examples")
	if err != nil {
		t.Fatalf("load the examples: %v", err)
	}
	return b
}

func examplePeople(b *Bundle) map[string]Person {
	people := make(map[string]Person, len(b.People))
	for _, p := range b.People {
		people[p.ID] = p
	}
	return people
}

func exampleService(t *testing.T, b *Bundle, key string) Definition {
	t.Helper()
	for _, s := range b.Services {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("no service %q in the examples", key)
	return Definition{}
}

// TestExamplesLoad: the example catalog is valid and big enough to demonstrate a real
// organisation.
func TestExamplesLoad(t *testing.T) {
	b := loadExamples(t)

	perDept := map[string]int{}
	for _, s := range b.Services {
		perDept[s.Department]++
	}
	providers := 0
	for _, n := range perDept {
		if n >= 3 {
			providers++
		}
	}
	if providers < 5 {
		t.Errorf("%d departments provide at least 3 services, want at least 5: %v", providers, perDept)
	}
	for _, d := range []string{"it", "hr", "finance", "facilities", "legal"} {
		if perDept[d] < 3 {
			t.Errorf("department %s provides %d services, want at least 3", d, perDept[d])
		}
	}
	if len(b.Services) < 15 {
		t.Errorf("%d services, want at least 15", len(b.Services))
	}
	if len(b.People) < 40 {
		t.Errorf("%d people, want at least 40", len(b.People))
	}
}

// TestExamplesHierarchy: one CEO with no manager; everyone else reaches the CEO by following
// managers, without a cycle.
func TestExamplesHierarchy(t *testing.T) {
	b := loadExamples(t)
	people := examplePeople(b)

	var ceos []string
	for _, p := range b.People {
		if p.Manager == "" {
			ceos = append(ceos, p.ID)
		}
	}
	if len(ceos) != 1 {
		t.Fatalf("people without a manager: %v, want exactly one (the CEO)", ceos)
	}
	ceo := ceos[0]

	for _, p := range b.People {
		seen := map[string]bool{}
		id := p.ID
		for id != ceo {
			if seen[id] {
				t.Errorf("%s: the manager chain loops at %s", p.ID, id)
				break
			}
			seen[id] = true
			next, ok := people[id]
			if !ok {
				t.Errorf("%s: the manager chain reaches unknown person %q", p.ID, id)
				break
			}
			id = next.Manager
		}
	}

	// Department heads report to the CEO.
	for _, d := range b.Departments {
		if d.Head == "" || d.Head == ceo {
			continue
		}
		if m := people[d.Head].Manager; m != ceo {
			t.Errorf("head of %s (%s) reports to %q, not the CEO %q", d.Key, d.Head, m, ceo)
		}
	}
}

// TestExamplesDemoPeople: the people the demo and the tests act as.
func TestExamplesDemoPeople(t *testing.T) {
	b := loadExamples(t)
	people := examplePeople(b)
	heads := map[string]string{}
	for _, d := range b.Departments {
		heads[d.Key] = d.Head
	}
	get := func(id string) Person {
		t.Helper()
		p, ok := people[id]
		if !ok {
			t.Fatalf("no person %q in the examples", id)
		}
		return p
	}
	ceo := ""
	for _, p := range b.People {
		if p.Manager == "" {
			ceo = p.ID
		}
	}

	alice := get("alice")
	if alice.Name != "Alice Chen" || alice.Department != "engineering" || alice.Manager != "bob" ||
		alice.Attributes["location"] != "london" || alice.Attributes["employment"] != "employee" || len(alice.Groups) != 0 {
		t.Errorf("alice: %+v", alice)
	}
	bob := get("bob")
	if bob.Name != "Bob Ruiz" || bob.Department != "engineering" || heads["engineering"] != "bob" || bob.Manager != ceo {
		t.Errorf("bob: %+v (head of engineering %q, CEO %q)", bob, heads["engineering"], ceo)
	}
	erin := get("erin")
	if erin.Name != "Erin Park" || erin.Department != "engineering" || erin.Manager != "bob" {
		t.Errorf("erin: %+v", erin)
	}
	for _, id := range []string{"dave", "frank"} {
		p := get(id)
		if p.Department != "it" || !p.InGroup("it-service-desk") {
			t.Errorf("%s: %+v, want IT and the service desk", id, p)
		}
		// Dave and Frank report to the service-desk lead, who reports to the IT head.
		if m := get(p.Manager); m.Department != "it" || (m.ID != heads["it"] && m.Manager != heads["it"]) {
			t.Errorf("%s reports to %s, not within reach of the IT head %s", id, p.Manager, heads["it"])
		}
	}
	if d := get("dave"); d.Name != "Dave Kim" {
		t.Errorf("dave is called %q", d.Name)
	}
	if f := get("frank"); f.Name != "Frank Osei" {
		t.Errorf("frank is called %q", f.Name)
	}
	oscar := get("oscar")
	if oscar.Name != "Oscar Ortiz" || oscar.Department != "it" || !oscar.HasRole(RoleOperator) {
		t.Errorf("oscar: %+v", oscar)
	}
	for _, p := range b.People {
		if p.Email != p.ID+"@example.com" {
			t.Errorf("%s: email %q", p.ID, p.Email)
		}
		if p.Attributes["location"] == "" {
			t.Errorf("%s: no location", p.ID)
		}
		if e := p.Attributes["employment"]; e != "employee" && e != "contractor" {
			t.Errorf("%s: employment %q", p.ID, e)
		}
		if p.HasRole(RoleOperator) && p.ID != "oscar" {
			t.Errorf("%s is an operator too", p.ID)
		}
	}
}

// laptopSchema is the part of the laptop form the demo and tests rely on.
type laptopSchema struct {
	Type                 string   `json:"type"`
	Required             []string `json:"required"`
	AdditionalProperties *bool    `json:"additionalProperties"`
	Properties           map[string]struct {
		Type      string   `json:"type"`
		Enum      []string `json:"enum"`
		MinLength *int     `json:"minLength"`
		MaxLength *int     `json:"maxLength"`
	} `json:"properties"`
}

// TestExamplesLaptop: the laptop service the walkthrough requests.
func TestExamplesLaptop(t *testing.T) {
	b := loadExamples(t)
	d := exampleService(t, b, "laptop")
	itHead := ""
	for _, dep := range b.Departments {
		if dep.Key == "it" {
			itHead = dep.Head
		}
	}
	if d.Department != "it" || d.Owner == "" || d.Owner != itHead {
		t.Errorf("laptop: department %q, owner %q, IT head %q", d.Department, d.Owner, itHead)
	}

	if steps := d.Approval.Steps; len(steps) != 1 {
		t.Errorf("laptop has %d approval steps, want 1", len(steps))
	} else if s := steps[0]; s.Name != "manager" || !reflect.DeepEqual(s.Approvers, Approvers{Manager: true}) || s.Mode != ModeAny {
		t.Errorf("laptop approval step: %+v", s)
	}
	want := TaskSpec{ID: "prepare", Name: "Prepare and ship the laptop", Group: "it-service-desk", Kind: TaskManual, OnFailure: OnFailureFail}
	if tasks := d.Fulfilment.Tasks; len(tasks) != 1 || !reflect.DeepEqual(tasks[0], want) {
		t.Errorf("laptop tasks: %+v, want [%+v]", tasks, want)
	}

	raw, err := json.Marshal(d.Request.Form)
	if err != nil {
		t.Fatal(err)
	}
	var f laptopSchema
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("laptop form: %v", err)
	}
	if f.Type != "object" || f.AdditionalProperties == nil || *f.AdditionalProperties {
		t.Errorf("laptop form: type %q, additionalProperties %v", f.Type, f.AdditionalProperties)
	}
	req := slices.Clone(f.Required)
	slices.Sort(req)
	if !slices.Equal(req, []string{"model", "reason"}) {
		t.Errorf("laptop form requires %v, want model and reason", f.Required)
	}
	if m := f.Properties["model"]; m.Type != "string" || !slices.Equal(m.Enum, []string{"standard-14", "performance-16", "macbook-pro-14"}) {
		t.Errorf("laptop model: %+v", m)
	}
	if r := f.Properties["reason"]; r.Type != "string" || r.MinLength == nil || *r.MinLength != 10 || r.MaxLength == nil || *r.MaxLength != 2000 {
		t.Errorf("laptop reason: %+v", r)
	}
	if k, ok := f.Properties["keyboard"]; !ok || k.Type != "string" || !slices.Equal(k.Enum, []string{"us", "uk", "de"}) {
		t.Errorf("laptop keyboard: %+v", k)
	}
}

// TestExamplesLaptopForm: the compiled laptop form accepts a good request and names every
// broken field of a bad one.
func TestExamplesLaptopForm(t *testing.T) {
	b := loadExamples(t)
	form, err := CompileForm(exampleService(t, b, "laptop").Request.Form)
	if err != nil {
		t.Fatalf("compile the laptop form: %v", err)
	}
	if errs := form.Validate(map[string]any{"model": "standard-14", "reason": "my old one is broken", "keyboard": "uk"}); len(errs) != 0 {
		t.Errorf("a good laptop form is refused: %v", errs)
	}

	errs := form.Validate(map[string]any{"model": "x"})
	rules := map[string]string{}
	for _, e := range errs {
		rules[e.Field] = e.Rule
	}
	if rules["/model"] != "enum" || rules["/reason"] != "required" {
		t.Errorf(`{"model":"x"}: errors %+v, want /model enum and /reason required`, errs)
	}
	if errs := form.Validate(map[string]any{"model": "standard-14", "reason": "a good reason", "colour": "red"}); len(errs) != 1 || errs[0].Field != "/colour" || errs[0].Rule != "additionalProperties" {
		t.Errorf("an unknown field: %+v", errs)
	}
}
