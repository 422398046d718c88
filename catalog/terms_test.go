package catalog

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func laptop(t *testing.T) Definition {
	t.Helper()
	b, err := Parse("base.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	return b.Services[0]
}

var (
	employee   = Person{ID: "alice", Department: "engineering", Attributes: map[string]string{"location": "london", "employment": "employee"}}
	contractor = Person{ID: "carl", Department: "engineering", Attributes: map[string]string{"employment": "contractor"}}
	stranger   = Person{ID: "sam", Department: "sales"} // no attributes at all
)

func TestEligibility(t *testing.T) {
	d := laptop(t)
	if ok, why := d.Eligible(employee); !ok {
		t.Errorf("employee refused: %s", why)
	}
	if ok, why := d.Eligible(contractor); ok || why != d.Eligibility.Message {
		t.Errorf("contractor: %v %q", ok, why)
	}
	// A rule that cannot be evaluated for someone (no employment attribute) refuses: fail closed.
	if ok, _ := d.Eligible(stranger); ok {
		t.Error("a person without the attribute was let through")
	}
	d.Eligibility = nil
	if ok, _ := d.Eligible(stranger); !ok {
		t.Error("no rule means everyone")
	}
	// Groups, roles and attributes are all visible to rules.
	for rule, p := range map[string]Person{
		`"hr-staff" in requester.groups`:            {ID: "h", Groups: []string{"hr-staff"}},
		`"operator" in requester.roles`:             {ID: "o", Roles: []string{"operator"}},
		`requester.attributes["location"] == "nyc"`: {ID: "n", Attributes: map[string]string{"location": "nyc"}},
		`requester.department == "finance"`:         {ID: "f", Department: "finance"},
	} {
		d.Eligibility = &Eligibility{Rule: rule, Message: "no"}
		if ok, _ := d.Eligible(p); !ok {
			t.Errorf("rule %s refused %+v", rule, p)
		}
		if ok, _ := d.Eligible(Person{ID: "x"}); ok {
			t.Errorf("rule %s let an empty person through", rule)
		}
	}
}

func TestCELCostIsBounded(t *testing.T) {
	// A comprehension over a large generated list exceeds the cost limit and errors.
	expr, err := CompileEligibility(`[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, a+b+c+d > 0))))`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := expr.Eval(map[string]any{"requester": RequesterVars(employee)}); err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("want a cost limit error, got %v", err)
	}
	if _, err := CompileEligibility(strings.Repeat("true && ", 400) + "true"); err == nil {
		t.Error("an overlong expression compiled")
	}
}

func TestQuote(t *testing.T) {
	d := laptop(t)
	q, err := d.Quote(map[string]any{"model": "standard-14"}, 1, employee)
	if err != nil {
		t.Fatal(err)
	}
	if q.Total != 120000 || len(q.Parts) != 0 || q.Currency != "EUR" || q.CostCentre != "engineering" || q.Recurrence != OneOff {
		t.Errorf("plain quote %+v", q)
	}
	q, err = d.Quote(map[string]any{"model": "performance-16", "extra_gb": float64(100)}, 2, employee)
	if err != nil {
		t.Fatal(err)
	}
	// (1200 + 600 + 100 x 0.25) x 2 = 3650.00
	if q.Total != 365000 || len(q.Parts) != 2 || q.Parts[1].Amount != 2500 {
		t.Errorf("quote with parts %+v", q)
	}
	d.Cost.CostCentre = "service"
	if q, _ := d.Quote(map[string]any{"model": "standard-14"}, 1, employee); q.CostCentre != "it" {
		t.Errorf("cost centre %q", q.CostCentre)
	}
	d.Cost.CostCentre = "CC-4711"
	if q, _ := d.Quote(map[string]any{"model": "standard-14"}, 1, employee); q.CostCentre != "CC-4711" {
		t.Errorf("cost centre %q", q.CostCentre)
	}
	b, _ := json.Marshal(q)
	if !strings.Contains(string(b), `"total":3650.00`) {
		t.Errorf("money in JSON: %s", b)
	}
}

func TestWindows(t *testing.T) {
	l := Limits{Windows: []Window{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "08:00", End: "18:00", TimeZone: "Europe/London"}}}
	london, _ := time.LoadLocation("Europe/London")
	mon9 := time.Date(2026, 11, 23, 9, 0, 0, 0, london)
	if ok, _ := l.OpenAt(mon9); !ok {
		t.Error("closed on Monday at nine")
	}
	sat := time.Date(2026, 11, 28, 12, 0, 0, 0, london)
	ok, next := l.OpenAt(sat)
	if ok || !next.Equal(time.Date(2026, 11, 30, 8, 0, 0, 0, london)) {
		t.Errorf("Saturday: open %v, next %v", ok, next)
	}
	late := time.Date(2026, 11, 24, 18, 0, 0, 0, london)
	if ok, next := l.OpenAt(late); ok || !next.Equal(time.Date(2026, 11, 25, 8, 0, 0, 0, london)) {
		t.Errorf("18:00 is closed, opening next morning: %v %v", ok, next)
	}
	enrol := Limits{Windows: []Window{{From: "2026-11-01", Until: "2026-11-30"}}}
	if ok, _ := enrol.OpenAt(time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)); !ok {
		t.Error("the last day of enrolment is open")
	}
	if ok, next := enrol.OpenAt(time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC)); ok || !next.IsZero() {
		t.Errorf("after enrolment: %v %v", ok, next)
	}
	future := Limits{Windows: []Window{{From: "2099-01-01"}}}
	if ok, next := future.OpenAt(time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC)); ok || !next.Equal(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a window opening in years: %v %v", ok, next)
	}
	if ok, next := enrol.OpenAt(time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC)); ok || !next.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("before enrolment: %v %v", ok, next)
	}
}

func TestMoneyAndDuration(t *testing.T) {
	for in, want := range map[string]Money{"0": 0, "19.99": 1999, "0.5": 50, "1200": 120000, "-3.10": -310} {
		got, err := ParseMoney(in)
		if err != nil || got != want {
			t.Errorf("ParseMoney(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "1.234", "1e3", "one", "1.", ".5", "99999999999999999999"} {
		if _, err := ParseMoney(bad); err == nil {
			t.Errorf("ParseMoney(%q) accepted", bad)
		}
	}
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "3d": 72 * time.Hour, "2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour} {
		got, err := ParseDuration(in)
		if err != nil || got.Std() != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
		if back, _ := ParseDuration(got.String()); back != got {
			t.Errorf("%q does not round-trip: %s", in, got)
		}
	}
	for _, bad := range []string{"", "0s", "-1d", "3x", "d", "1d-2h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestRender(t *testing.T) {
	call := HTTPCall{Method: "POST", URL: "http://hr.test/{{request.id}}/accounts",
		Headers: map[string]string{"X-By": "{{requester.id}}"},
		Body:    map[string]any{"seats": "{{quantity}}", "note": "for {{form.name}}", "list": []any{"{{tasks.a.outputs.id}}"}}}
	vars := map[string]any{"request": map[string]any{"id": "REQ-000001"}, "requester": map[string]any{"id": "alice"},
		"quantity": 3, "form": map[string]any{"name": "Jo"}, "tasks": map[string]any{"a": map[string]any{"outputs": map[string]any{"id": "A-1"}}}}
	r, err := call.Render(vars)
	if err != nil {
		t.Fatal(err)
	}
	body := r.Body.(map[string]any)
	if r.URL != "http://hr.test/REQ-000001/accounts" || r.Headers["X-By"] != "alice" || body["seats"] != 3 ||
		body["note"] != "for Jo" || body["list"].([]any)[0] != "A-1" {
		t.Errorf("rendered %+v", r)
	}
	call.Body = map[string]any{"x": "{{tasks.b.outputs.id}}"}
	if _, err := call.Render(vars); err == nil || !strings.Contains(err.Error(), "tasks.b.outputs.id") {
		t.Errorf("a hole in the call: %v", err)
	}
}

func TestExpandEnv(t *testing.T) {
	t.Setenv("ESM_HOOKS_URL", "http://hooks.test")
	got := ExpandEnv(`url: ${ESM_HOOKS_URL}/a, keep: ${HOME} $ref {{form.x}}`)
	if got != `url: http://hooks.test/a, keep: ${HOME} $ref {{form.x}}` {
		t.Errorf("%q", got)
	}
}
