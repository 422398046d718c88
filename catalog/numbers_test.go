package catalog

import (
	"errors"
	"math"
	"testing"
)

// Issue 15 §2, §4: numbers from outside are bounded, rendered as people read them, and a quote
// needs only the fields that price the request; §1: no request is without the clocks its
// service promises.

// TestNumberRules: each rule about numbers and priorities, broken on its own, is refused at
// apply, naming file, path and rule.
func TestNumberRules(t *testing.T) {
	part1 := func(s map[string]any) map[string]any { return m(m(s["cost"])["parts"].([]any)[1]) }
	field := func(s map[string]any, name string) map[string]any {
		return m(m(m(m(s["request"])["form"])["properties"])[name])
	}
	cases := []struct {
		name  string
		edit  func(s, doc map[string]any)
		field string
		rule  string
	}{
		{"priced field needs a minimum", func(s, _ map[string]any) { delete(field(s, "extra_gb"), "minimum") }, "services[0].cost.parts[1].per_field", "minimum"},
		{"priced field never below nothing", func(s, _ map[string]any) { field(s, "extra_gb")["minimum"] = -1000 }, "services[0].cost.parts[1].per_field", "minimum"},
		{"priced field needs a maximum", func(s, _ map[string]any) { delete(field(s, "extra_gb"), "maximum") }, "services[0].cost.parts[1].per_field", "maximum"},
		{"the largest request fits", func(s, _ map[string]any) { field(s, "extra_gb")["maximum"] = 1e300 }, "services[0].cost", "maximum"},
		{"the largest quantity fits", func(s, _ map[string]any) {
			part1(s)["amount"] = "9000000000"
			field(s, "extra_gb")["maximum"] = 1000000
		}, "services[0].cost", "maximum"},
		{"max_quantity bounded", func(s, _ map[string]any) { m(s["limits"])["max_quantity"] = 1_000_000_000 }, "services[0].limits.max_quantity", "maximum"},
		{"max_open bounded", func(s, _ map[string]any) { m(s["limits"])["max_open"] = 1_000_000_000 }, "services[0].limits.max_open", "maximum"},
		{"per_period bounded", func(s, _ map[string]any) { m(m(s["limits"])["per_period"])["max"] = 1_000_000_000 }, "services[0].limits.per_period.max", "maximum"},
		{"default priority known", func(s, _ map[string]any) { m(s["request"])["priority"] = "urgent" }, "services[0].request.priority", "enum"},
		{"offered priority known", func(s, _ map[string]any) { m(s["request"])["priorities"] = []any{"urgent"} }, "services[0].request.priorities[0]", "enum"},
		{"offered priority once", func(s, _ map[string]any) { m(s["request"])["priorities"] = []any{"high", "high"} }, "services[0].request.priorities[1]", "uniqueItems"},
		{"offered priority has targets", func(s, _ map[string]any) { m(s["request"])["priorities"] = []any{"critical"} }, "services[0].request.priorities[0]", "sla"},
		{"default priority has targets", func(s, _ map[string]any) { m(s["request"])["priority"] = "high" }, "services[0].request.priority", "sla"},
		{"normal has targets when it is the default", func(s, _ map[string]any) {
			m(s["sla"])["targets"] = map[string]any{"high": map[string]any{"response": "1h", "resolution": "2h"}}
		}, "services[0].sla.targets", "sla"},
		{"response stops on known things", func(s, _ map[string]any) { m(s["sla"])["response_stops_on"] = []any{"lunch"} }, "services[0].sla.response_stops_on[0]", "enum"},
		{"durations bounded", func(s, _ map[string]any) { m(m(m(s["sla"])["targets"])["normal"])["resolution"] = "100000d" }, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("svc.yaml", []byte(mutate(t, tc.edit)))
			if err == nil {
				t.Fatalf("no error; want %s (%s)", tc.field, tc.rule)
			}
			if tc.field == "" {
				return // a file that does not parse: refused, with the line
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T: %v", err, err)
			}
			for _, fe := range ve.Errors {
				if fe.Field == tc.field && fe.Rule == tc.rule && fe.File == "svc.yaml" {
					return
				}
			}
			t.Fatalf("want %s (%s), got:\n%v", tc.field, tc.rule, err)
		})
	}
}

// consulting is priced per hour, as the example: 120 for each hour.
func consulting(t *testing.T) Definition {
	t.Helper()
	return Definition{Key: "consulting", Cost: Cost{Currency: "EUR", Parts: []PricePart{
		{Name: "Hours", PerField: "hours", Amount: 12000},
		{Name: "On site", When: `has(form.site) && form.site == "on-site"`, Amount: 50000},
	}}, Request: RequestSpec{Form: map[string]any{"type": "object", "required": []any{"hours", "reason"},
		"properties": map[string]any{
			"hours":  map[string]any{"type": "number"}, // a stored definition from before the bounds
			"site":   map[string]any{"enum": []any{"remote", "on-site"}},
			"reason": map[string]any{"type": "string", "minLength": 10},
		}}}}
}

// TestQuoteBounds: a priced field below zero or beyond any amount is a validation error naming
// the field, never a negative total or an overflow, even for a definition stored before the
// bounds were required.
func TestQuoteBounds(t *testing.T) {
	d := consulting(t)
	for _, tc := range []struct {
		name     string
		form     map[string]any
		quantity int
		field    string
		rule     string
	}{
		{"negative hours", map[string]any{"hours": -1000.0}, 1, "/form/hours", "minimum"},
		{"overflowing hours", map[string]any{"hours": 1e300}, 1, "/form/hours", "maximum"},
		{"not a number", map[string]any{"hours": math.Inf(1)}, 1, "/form/hours", "maximum"},
		{"overflowing quantity", map[string]any{"hours": 1e9}, math.MaxInt32, "/quantity", "maximum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := d.Quote(tc.form, tc.quantity, Person{})
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Errors[0].Field != tc.field || ve.Errors[0].Rule != tc.rule {
				t.Fatalf("quote %+v, error %v; want %s (%s)", q, err, tc.field, tc.rule)
			}
		})
	}
	q, err := d.Quote(map[string]any{"hours": 2.5}, 2, Person{})
	if err != nil || q.Total != 60000 {
		t.Fatalf("2.5 hours x 2: %+v %v", q, err)
	}
}

// TestQuoteFromPricingFields: a form being filled in is priced from the fields that price it,
// checked with their bounds; a field that does not touch the price is not needed.
func TestQuoteFromPricingFields(t *testing.T) {
	d := consulting(t)
	fields, all := d.PricingFields()
	if all || len(fields) != 2 || fields[0] != "hours" || fields[1] != "site" {
		t.Fatalf("pricing fields %v (all %v)", fields, all)
	}
	f, err := CompileForm(d.Request.Form)
	if err != nil {
		t.Fatal(err)
	}
	if errs := f.ValidateFields(map[string]any{"hours": 3.0}, fields); len(errs) != 0 {
		t.Fatalf("reason is not a pricing field, site is not given yet: %v", errs)
	}
	if errs := f.ValidateFields(map[string]any{"hours": "three", "site": "moon"}, fields); len(errs) != 2 || errs[0].Field != "/hours" || errs[1].Field != "/site" {
		t.Fatalf("bad pricing fields: %v", errs)
	}
	q, err := d.QuotePartial(map[string]any{"hours": 3.0}, 1, Person{})
	if err != nil || q.Total != 36000 {
		t.Fatalf("3 hours, site not given: %+v %v", q, err)
	}
	q, err = d.QuotePartial(map[string]any{"hours": 3.0, "site": "on-site"}, 1, Person{})
	if err != nil || q.Total != 86000 {
		t.Fatalf("3 hours on site: %+v %v", q, err)
	}
	d.Cost.Parts = append(d.Cost.Parts, PricePart{Name: "Big", When: `size(form) > 3`, Amount: 1})
	if _, all := d.PricingFields(); !all {
		t.Fatal("a condition over the whole form prices every field")
	}
}

// TestFormatValue: numbers read as people and URLs expect them.
func TestFormatValue(t *testing.T) {
	for v, want := range map[any]string{
		1500000.0: "1500000", 0.25: "0.25", -3.0: "-3", 1e21: "1000000000000000000000", 42: "42",
		"x": "x", true: "true", nil: "",
	} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
	if got := FormatValue(map[string]any{"a": 1500000.0}); got != `{"a":1500000}` {
		t.Errorf("an object: %q", got)
	}
	call := HTTPCall{Method: "POST", URL: "https://x.test/budget/{{form.amount}}?seats={{quantity}}", Headers: map[string]string{"X-Amount": "{{form.amount}}"}}
	r, err := call.Render(map[string]any{"form": map[string]any{"amount": 1500000.0}, "quantity": 2})
	if err != nil || r.URL != "https://x.test/budget/1500000?seats=2" || r.Headers["X-Amount"] != "1500000" {
		t.Fatalf("rendered %+v %v", r, err)
	}
}

// TestSLATargetFallback: a priority without a target of its own takes the default priority's,
// then the lowest one's that has a target.
func TestSLATargetFallback(t *testing.T) {
	p := SLAPolicy{Targets: map[string]SLATarget{"normal": {Response: 1, Resolution: 2}, "high": {Response: 3, Resolution: 4}}}
	for _, tc := range []struct{ prio, fallback, want string }{
		{"high", "normal", "high"}, {"critical", "normal", "normal"}, {"critical", "low", "normal"},
	} {
		if _, got, ok := p.Target(tc.prio, tc.fallback); !ok || got != tc.want {
			t.Errorf("Target(%s, %s) = %s %v, want %s", tc.prio, tc.fallback, got, ok, tc.want)
		}
	}
	if _, _, ok := (SLAPolicy{}).Target("normal", "normal"); ok {
		t.Error("a policy without targets has none")
	}
	if !p.StopsResponse(StopQuestion) || (SLAPolicy{ResponseStopsOn: []string{StopDecision}}).StopsResponse(StopQuestion) {
		t.Error("by default a question stops the response clock; a policy may say otherwise")
	}
}
