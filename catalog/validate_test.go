package catalog

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// base is a valid catalog with one service using every part of a definition.
const base = `
departments:
  - {key: it, name: IT, head: ivan}
  - {key: engineering, name: Engineering, head: bob}
groups:
  - {key: it-service-desk, name: IT Service Desk, department: it}
  - {key: change-board, name: Change Board, department: it}
people:
  - {id: ivan, name: Ivan Petrov, department: it, groups: [change-board]}
  - {id: bob, name: Bob Ruiz, department: engineering}
  - {id: alice, name: Alice Chen, department: engineering, manager: bob, attributes: {location: london, employment: employee}}
  - {id: dave, name: Dave Kim, department: it, manager: ivan, groups: [it-service-desk]}
services:
  - key: laptop
    name: Laptop
    department: it
    category: hardware
    owner: ivan
    summary: A laptop for work.
    tags: [hardware]
    eligibility:
      rule: requester.employment == "employee"
      message: Laptops are for employees; contractors bring their own.
    limits:
      max_quantity: 2
      max_open: 1
      per_period: {max: 1, period: 365d}
      windows:
        - {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00", timezone: Europe/London}
    cost:
      currency: EUR
      unit_price: 1200
      recurrence: one_off
      parts:
        - {name: Performance model, when: 'form.model == "performance-16"', amount: 600}
        - {name: Extra storage, per_field: extra_gb, amount: 0.25}
    request:
      instructions: Pick a model.
      form:
        type: object
        required: [model]
        additionalProperties: false
        properties:
          model: {enum: [standard-14, performance-16]}
          extra_gb: {type: integer, minimum: 0, maximum: 4000}
    help: {group: it-service-desk, channels: ["email:it@example.com"], hours: Mon-Fri 09:00-17:00}
    approval:
      steps:
        - {name: manager, approvers: {manager: true}, mode: any}
        - {name: board, approvers: {group: change-board, people: [ivan]}, mode: all}
    fulfilment:
      tasks:
        - {id: prepare, name: Prepare, group: it-service-desk, kind: manual}
    sla:
      targets:
        normal: {response: 4h, resolution: 3d}
      warnings: [50, 75, 90]
`

// mutate parses base, applies edit to the first service's YAML node tree and returns the
// re-encoded catalog.
func mutate(t *testing.T, edit func(svc map[string]any, doc map[string]any)) string {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(base), &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc["services"].([]any)[0].(map[string]any), doc)
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func task0(s map[string]any) map[string]any { return m(m(s["fulfilment"])["tasks"].([]any)[0]) }

func TestBaseIsValid(t *testing.T) {
	b, err := Parse("base.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Services) != 1 || len(b.People) != 4 {
		t.Fatalf("parsed %d services, %d people", len(b.Services), len(b.People))
	}
}

func m(v any) map[string]any { return v.(map[string]any) }

// TestEveryRule: each rule, broken on its own, is reported with its path and rule name. If a
// rule's check were removed, its case would fail.
func TestEveryRule(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(s, doc map[string]any)
		field string
		rule  string
	}{
		{"key pattern", func(s, _ map[string]any) { s["key"] = "Laptop!" }, "services[0].key", "pattern"},
		{"name required", func(s, _ map[string]any) { delete(s, "name") }, "services[0].name", "required"},
		{"department required", func(s, _ map[string]any) { delete(s, "department") }, "services[0].department", "required"},
		{"department exists", func(s, _ map[string]any) { s["department"] = "space" }, "services[0].department", "reference"},
		{"owner required", func(s, _ map[string]any) { delete(s, "owner") }, "services[0].owner", "required"},
		{"owner exists", func(s, _ map[string]any) { s["owner"] = "nobody" }, "services[0].owner", "reference"},
		{"eligibility compiles", func(s, _ map[string]any) { m(s["eligibility"])["rule"] = "requester.employment ==" }, "services[0].eligibility.rule", "cel"},
		{"eligibility is boolean", func(s, _ map[string]any) { m(s["eligibility"])["rule"] = "requester.id + 'x'" }, "services[0].eligibility.rule", "cel"},
		{"eligibility knows only the requester", func(s, _ map[string]any) { m(s["eligibility"])["rule"] = "form.model == 'x'" }, "services[0].eligibility.rule", "cel"},
		{"eligibility message", func(s, _ map[string]any) { m(s["eligibility"])["message"] = "" }, "services[0].eligibility.message", "required"},
		{"max_quantity", func(s, _ map[string]any) { m(s["limits"])["max_quantity"] = -1 }, "services[0].limits.max_quantity", "minimum"},
		{"max_open", func(s, _ map[string]any) { m(s["limits"])["max_open"] = -2 }, "services[0].limits.max_open", "minimum"},
		{"per_period max", func(s, _ map[string]any) { m(m(s["limits"])["per_period"])["max"] = 0 }, "services[0].limits.per_period.max", "minimum"},
		{"per_period period", func(s, _ map[string]any) { delete(m(m(s["limits"])["per_period"]), "period") }, "services[0].limits.per_period.period", "required"},
		{"window day", func(s, _ map[string]any) { m(m(s["limits"])["windows"].([]any)[0])["days"] = []any{"funday"} }, "services[0].limits.windows[0].days[0]", "enum"},
		{"window clock", func(s, _ map[string]any) { m(m(s["limits"])["windows"].([]any)[0])["start"] = "8am" }, "services[0].limits.windows[0].start", "pattern"},
		{"window order", func(s, _ map[string]any) { m(m(s["limits"])["windows"].([]any)[0])["end"] = "07:00" }, "services[0].limits.windows[0].end", "minimum"},
		{"window both ends", func(s, _ map[string]any) { delete(m(m(s["limits"])["windows"].([]any)[0]), "end") }, "services[0].limits.windows[0]", "required"},
		{"window zone", func(s, _ map[string]any) { m(m(s["limits"])["windows"].([]any)[0])["timezone"] = "Mars/Olympus" }, "services[0].limits.windows[0].timezone", "timezone"},
		{"window date", func(s, _ map[string]any) { m(m(s["limits"])["windows"].([]any)[0])["from"] = "tomorrow" }, "services[0].limits.windows[0].from", "format"},
		{"window dates order", func(s, _ map[string]any) {
			w := m(m(s["limits"])["windows"].([]any)[0])
			w["from"], w["until"] = "2026-12-01", "2026-11-01"
		}, "services[0].limits.windows[0].until", "minimum"},
		{"currency", func(s, _ map[string]any) { m(s["cost"])["currency"] = "euro" }, "services[0].cost.currency", "pattern"},
		{"unit price", func(s, _ map[string]any) { m(s["cost"])["unit_price"] = -5 }, "services[0].cost.unit_price", "minimum"},
		{"recurrence", func(s, _ map[string]any) { m(s["cost"])["recurrence"] = "weekly" }, "services[0].cost.recurrence", "enum"},
		{"price part name", func(s, _ map[string]any) { delete(m(m(s["cost"])["parts"].([]any)[0]), "name") }, "services[0].cost.parts[0].name", "required"},
		{"price part condition", func(s, _ map[string]any) { m(m(s["cost"])["parts"].([]any)[0])["when"] = "form.model ==" }, "services[0].cost.parts[0].when", "cel"},
		{"price part field", func(s, _ map[string]any) { m(m(s["cost"])["parts"].([]any)[1])["per_field"] = "model" }, "services[0].cost.parts[1].per_field", "reference"},
		{"form required", func(s, _ map[string]any) { delete(m(s["request"]), "form") }, "services[0].request.form", "required"},
		{"form is a schema, the error at the keyword it breaks", func(s, _ map[string]any) { m(m(s["request"])["form"])["type"] = "thing" }, "services[0].request.form.type", "schema"},
		{"help group", func(s, _ map[string]any) { m(s["help"])["group"] = "nobody" }, "services[0].help.group", "reference"},
		{"step name", func(s, _ map[string]any) { delete(m(m(s["approval"])["steps"].([]any)[0]), "name") }, "services[0].approval.steps[0].name", "required"},
		{"step mode", func(s, _ map[string]any) { m(m(s["approval"])["steps"].([]any)[1])["mode"] = "most" }, "services[0].approval.steps[1].mode", "enum"},
		{"step approvers", func(s, _ map[string]any) { m(m(s["approval"])["steps"].([]any)[0])["approvers"] = map[string]any{} }, "services[0].approval.steps[0].approvers", "required"},
		{"step group", func(s, _ map[string]any) { m(m(m(s["approval"])["steps"].([]any)[1])["approvers"])["group"] = "ghosts" }, "services[0].approval.steps[1].approvers.group", "reference"},
		{"step people", func(s, _ map[string]any) {
			m(m(m(s["approval"])["steps"].([]any)[1])["approvers"])["people"] = []any{"ghost"}
		}, "services[0].approval.steps[1].approvers.people[0]", "reference"},
		{"tasks required", func(s, _ map[string]any) { m(s["fulfilment"])["tasks"] = []any{} }, "services[0].fulfilment.tasks", "required"},
		{"task id", func(s, _ map[string]any) { m(m(s["fulfilment"])["tasks"].([]any)[0])["id"] = "Prepare It" }, "services[0].fulfilment.tasks[0].id", "pattern"},
		{"task id unique", func(s, _ map[string]any) {
			f := m(s["fulfilment"])
			f["tasks"] = append(f["tasks"].([]any), f["tasks"].([]any)[0])
		}, "services[0].fulfilment.tasks[1].id", "unique"},
		{"task name", func(s, _ map[string]any) { delete(m(m(s["fulfilment"])["tasks"].([]any)[0]), "name") }, "services[0].fulfilment.tasks[0].name", "required"},
		{"task group", func(s, _ map[string]any) { delete(m(m(s["fulfilment"])["tasks"].([]any)[0]), "group") }, "services[0].fulfilment.tasks[0].group", "required"},
		{"task group exists", func(s, _ map[string]any) { m(m(s["fulfilment"])["tasks"].([]any)[0])["group"] = "elves" }, "services[0].fulfilment.tasks[0].group", "reference"},
		{"task kind", func(s, _ map[string]any) { m(m(s["fulfilment"])["tasks"].([]any)[0])["kind"] = "magic" }, "services[0].fulfilment.tasks[0].kind", "enum"},
		{"automated needs a call", func(s, _ map[string]any) { task0(s)["kind"] = "automated" }, "services[0].fulfilment.tasks[0].http", "required"},
		{"manual makes no call", func(s, _ map[string]any) { task0(s)["http"] = map[string]any{"url": "http://x.test/a"} }, "services[0].fulfilment.tasks[0].http", "kind"},
		{"call url", func(s, _ map[string]any) {
			task0(s)["kind"] = "automated"
			task0(s)["http"] = map[string]any{"url": "ftp://x.test/a"}
		}, "services[0].fulfilment.tasks[0].http.url", "format"},
		{"call method", func(s, _ map[string]any) {
			task0(s)["kind"] = "automated"
			task0(s)["http"] = map[string]any{"url": "http://x.test/a", "method": "FETCH"}
		}, "services[0].fulfilment.tasks[0].http.method", "enum"},
		{"compensate automated only", func(s, _ map[string]any) { task0(s)["compensate"] = map[string]any{"url": "http://x.test/a"} }, "services[0].fulfilment.tasks[0].compensate", "kind"},
		{"needs exist", func(s, _ map[string]any) { task0(s)["needs"] = []any{"ghost"} }, "services[0].fulfilment.tasks[0].needs[0]", "reference"},
		{"no cycles", func(s, _ map[string]any) {
			f := m(s["fulfilment"])
			f["tasks"] = []any{
				map[string]any{"id": "a", "name": "A", "group": "it-service-desk", "needs": []any{"b"}},
				map[string]any{"id": "b", "name": "B", "group": "it-service-desk", "needs": []any{"a"}},
			}
		}, "services[0].fulfilment.tasks", "acyclic"},
		{"fallback", func(s, _ map[string]any) { task0(s)["fallback"] = "robot" }, "services[0].fulfilment.tasks[0].fallback", "enum"},
		{"on_failure", func(s, _ map[string]any) { task0(s)["on_failure"] = "explode" }, "services[0].fulfilment.tasks[0].on_failure", "enum"},
		{"task condition", func(s, _ map[string]any) { task0(s)["when"] = "form.model ==" }, "services[0].fulfilment.tasks[0].when", "cel"},
		{"outputs schema", func(s, _ map[string]any) { task0(s)["outputs"] = map[string]any{"type": "thing"} }, "services[0].fulfilment.tasks[0].outputs", "schema"},
		{"step condition", func(s, _ map[string]any) { m(m(s["approval"])["steps"].([]any)[0])["when"] = "quote.total >" }, "services[0].approval.steps[0].when", "cel"},
		{"auto-approval", func(s, _ map[string]any) { m(s["approval"])["auto_approve"] = "quote.total <" }, "services[0].approval.auto_approve", "cel"},
		{"quorum", func(s, _ map[string]any) { m(m(s["approval"])["steps"].([]any)[0])["mode"] = "quorum" }, "services[0].approval.steps[0].quorum", "minimum"},
		{"percent", func(s, _ map[string]any) { m(m(s["approval"])["steps"].([]any)[0])["mode"] = "percent" }, "services[0].approval.steps[0].percent", "range"},
		{"levels", func(s, _ map[string]any) { m(m(m(s["approval"])["steps"].([]any)[1])["approvers"])["levels"] = 2 }, "services[0].approval.steps[1].approvers.levels", "range"},
		{"department head", func(s, _ map[string]any) {
			m(m(m(s["approval"])["steps"].([]any)[0])["approvers"])["department_head"] = "mine"
		}, "services[0].approval.steps[0].approvers.department_head", "enum"},
		{"escalation target", func(s, _ map[string]any) {
			m(m(s["approval"])["steps"].([]any)[0])["escalate"] = map[string]any{"after": "1d", "to": "ceo"}
		}, "services[0].approval.steps[0].escalate.to", "enum"},
		{"escalation group", func(s, _ map[string]any) {
			m(m(s["approval"])["steps"].([]any)[0])["escalate"] = map[string]any{"after": "1d", "to": "group", "group": "ghosts"}
		}, "services[0].approval.steps[0].escalate.group", "reference"},
		{"expiry outcome", func(s, _ map[string]any) {
			m(m(s["approval"])["steps"].([]any)[0])["expire"] = map[string]any{"after": "1d", "outcome": "shrug"}
		}, "services[0].approval.steps[0].expire.outcome", "enum"},
		{"escalation before expiry", func(s, _ map[string]any) {
			st := m(m(s["approval"])["steps"].([]any)[0])
			st["escalate"] = map[string]any{"after": "3d", "to": "manager"}
			st["expire"] = map[string]any{"after": "2d", "outcome": "reject"}
		}, "services[0].approval.steps[0].escalate.after", "maximum"},
		{"governance approvers", func(s, _ map[string]any) { s["governance"] = map[string]any{"approvers": map[string]any{}} }, "services[0].governance.approvers", "required"},
		{"governance group", func(s, _ map[string]any) {
			s["governance"] = map[string]any{"approvers": map[string]any{"group": "ghosts"}}
		}, "services[0].governance.approvers.group", "reference"},
		{"governance quorum", func(s, _ map[string]any) {
			s["governance"] = map[string]any{"approvers": map[string]any{"group": "change-board"}, "mode": "quorum"}
		}, "services[0].governance.quorum", "minimum"},
		{"review cron", func(s, _ map[string]any) { s["review"] = map[string]any{"cron": "every tuesday"} }, "services[0].review.cron", "cron"},
		{"retirement policy", func(s, _ map[string]any) { s["retirement"] = map[string]any{"policy": "vanish"} }, "services[0].retirement.policy", "enum"},
		{"retirement successor", func(s, _ map[string]any) { s["retirement"] = map[string]any{"policy": "drain", "successor": "ghost"} }, "services[0].retirement.successor", "reference"},
		{"retirement sunset", func(s, _ map[string]any) { s["retirement"] = map[string]any{"policy": "drain", "sunset": "soon"} }, "services[0].retirement.sunset", "format"},
		{"escalation level at", func(s, _ map[string]any) {
			m(s["sla"])["escalation"] = []any{map[string]any{"at": "later", "raise_priority": true}}
		}, "services[0].sla.escalation[0].at", "format"},
		{"escalation level order", func(s, _ map[string]any) {
			m(s["sla"])["escalation"] = []any{map[string]any{"at": "breach", "raise_priority": true}, map[string]any{"at": "50%", "raise_priority": true}}
		}, "services[0].sla.escalation[1].at", "order"},
		{"escalation level acts", func(s, _ map[string]any) { m(s["sla"])["escalation"] = []any{map[string]any{"at": "50%"}} }, "services[0].sla.escalation[0]", "required"},
		{"urgent level tells someone", func(s, _ map[string]any) {
			m(s["sla"])["escalation"] = []any{map[string]any{"at": "50%", "raise_priority": true, "urgent": true}}
		}, "services[0].sla.escalation[0].urgent", "requires"},
		{"urgent reminder needs one", func(s, _ map[string]any) {
			st := m(m(s["approval"])["steps"].([]any)[0])
			delete(st, "remind_after")
			st["remind_urgent"] = true
		}, "services[0].approval.steps[0].remind_urgent", "requires"},
		{"escalation reassign", func(s, _ map[string]any) {
			m(s["sla"])["escalation"] = []any{map[string]any{"at": "50%", "reassign": "ghosts"}}
		}, "services[0].sla.escalation[0].reassign", "reference"},
		{"department calendar", func(_, doc map[string]any) {
			m(doc["departments"].([]any)[0])["calendar"] = map[string]any{"timezone": "Europe/London", "hours": map[string]any{"mon": "17:00-09:00"}}
		}, "departments[0].calendar", "calendar"},
		{"department webhook", func(_, doc map[string]any) {
			m(doc["departments"].([]any)[0])["webhook"] = map[string]any{"url": "ftp://x", "secret_env": "S"}
		}, "departments[0].webhook.url", "format"},
		{"department chat url", func(_, doc map[string]any) {
			m(doc["departments"].([]any)[0])["chat"] = map[string]any{"url": "hooks.slack.com/x", "kind": "slack"}
		}, "departments[0].chat.url", "format"},
		{"group chat kind", func(_, doc map[string]any) {
			m(doc["groups"].([]any)[0])["chat"] = map[string]any{"url": "https://chat.test/x", "kind": "irc"}
		}, "groups[0].chat.kind", "enum"},
		{"person reminders", func(_, doc map[string]any) { m(doc["people"].([]any)[0])["reminders"] = "weekly" }, "people[0].reminders", "enum"},
		{"sla priority", func(s, _ map[string]any) {
			m(m(s["sla"])["targets"])["urgent"] = map[string]any{"response": "1h", "resolution": "2h"}
		}, "services[0].sla.targets.urgent", "enum"},
		{"sla order", func(s, _ map[string]any) { m(m(m(s["sla"])["targets"])["normal"])["response"] = "5d" }, "services[0].sla.targets.normal.response", "maximum"},
		{"sla resolution", func(s, _ map[string]any) { delete(m(m(m(s["sla"])["targets"])["normal"]), "resolution") }, "services[0].sla.targets.normal.resolution", "required"},
		{"sla warnings", func(s, _ map[string]any) { m(s["sla"])["warnings"] = []any{50, 40} }, "services[0].sla.warnings[1]", "range"},
		{"person department", func(_, doc map[string]any) { m(doc["people"].([]any)[1])["department"] = "space" }, "people[1].department", "reference"},
		{"person manager", func(_, doc map[string]any) { m(doc["people"].([]any)[2])["manager"] = "ghost" }, "people[2].manager", "reference"},
		{"person group", func(_, doc map[string]any) { m(doc["people"].([]any)[0])["groups"] = []any{"ghosts"} }, "people[0].groups[0]", "reference"},
		{"person id", func(_, doc map[string]any) { m(doc["people"].([]any)[1])["id"] = "Bob R" }, "people[1].id", "pattern"},
		{"person name", func(_, doc map[string]any) { delete(m(doc["people"].([]any)[1]), "name") }, "people[1].name", "required"},
		{"group department", func(_, doc map[string]any) { m(doc["groups"].([]any)[0])["department"] = "space" }, "groups[0].department", "reference"},
		{"department head", func(_, doc map[string]any) { m(doc["departments"].([]any)[0])["head"] = "ghost" }, "departments[0].head", "reference"},
		{"duplicate person", func(_, doc map[string]any) { doc["people"] = append(doc["people"].([]any), doc["people"].([]any)[0]) }, "people[4]", "unique"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("svc.yaml", []byte(mutate(t, tc.edit)))
			if err == nil {
				t.Fatalf("no error; want %s (%s)", tc.field, tc.rule)
			}
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("error %T: %v", err, err)
			}
			for _, fe := range ve.Errors {
				if fe.Field == tc.field && fe.Rule == tc.rule {
					if fe.File != "svc.yaml" {
						t.Errorf("error names file %q", fe.File)
					}
					return
				}
			}
			t.Fatalf("want %s (%s), got:\n%v", tc.field, tc.rule, err)
		})
	}
}

func TestUnknownFieldsAndBadYAMLNameTheFile(t *testing.T) {
	for name, src := range map[string]string{
		"unknown field": strings.Replace(base, "    category: hardware", "    categroy: hardware", 1),
		"bad yaml":      "services: [",
		"bad money":     strings.Replace(base, "unit_price: 1200", "unit_price: 12.005", 1),
		"bad duration":  strings.Replace(base, "period: 365d", "period: a year", 1),
	} {
		_, err := Parse("broken.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), "broken.yaml") || !strings.Contains(err.Error(), "line") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
