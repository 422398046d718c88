package catalog

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary YAML to the catalog parser: never a panic; a refusal always names
// the file, and every field error says which rule.
func FuzzParse(f *testing.F) {
	f.Add(base)
	f.Add("services: [")
	f.Add("people:\n  - {id: x}\n")
	f.Add(strings.Replace(base, "requester.employment", "requester.employment ==", 1))
	f.Add("services:\n  - key: a\n    cost: {unit_price: [1]}\n")
	f.Fuzz(func(t *testing.T, src string) {
		_, err := Parse("fuzz.yaml", []byte(src))
		if err == nil {
			return
		}
		ve, ok := err.(*ValidationError)
		if !ok {
			t.Fatalf("error %T: %v", err, err)
		}
		for _, fe := range ve.Errors {
			if fe.File != "fuzz.yaml" || fe.Rule == "" {
				t.Fatalf("an error without file or rule: %+v", fe)
			}
		}
	})
}

// FuzzDefinitionJSON feeds arbitrary JSON to a definition (as the API will take it): never a
// panic, and a decoded definition validates or says where it is wrong.
func FuzzDefinitionJSON(f *testing.F) {
	good, _ := json.Marshal(Definition{Key: "x", Name: "X", Department: "it", Owner: "o",
		Request:    RequestSpec{Form: map[string]any{"type": "object"}},
		Fulfilment: Fulfilment{Tasks: []TaskSpec{{ID: "t", Name: "T", Group: "g"}}}})
	f.Add(string(good))
	f.Add(`{"key": 1}`)
	f.Add(`{"cost": {"unit_price": "1.234"}}`)
	f.Add(`{"limits": {"per_period": {"max": 1, "period": "forever"}}}`)
	f.Add(`{"request": {"form": {"type": "object", "properties": {"a": {"pattern": "("}}}}}`)
	f.Fuzz(func(t *testing.T, src string) {
		var d Definition
		if err := json.Unmarshal([]byte(src), &d); err != nil {
			return
		}
		err := d.Validate()
		if err == nil {
			return
		}
		for _, fe := range err.(*ValidationError).Errors {
			if fe.Field == "" || fe.Rule == "" {
				t.Fatalf("an error that does not say where or which rule: %+v", fe)
			}
		}
	})
}

// FuzzCEL compiles and runs arbitrary expressions: never a panic; a failure is an error.
func FuzzCEL(f *testing.F) {
	for _, s := range []string{`requester.department == "it"`, `"a" in requester.groups`, `size(requester.id) > 3`,
		`[1,2].all(x, x > 0)`, `requester.nope`, `1 / 0 == 1`, `(`, `requester.attributes["location"].startsWith("lon")`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := CompileEligibility(src)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		_, _ = e.Eval(map[string]any{"requester": RequesterVars(employee)})
		c, err := CompileCondition(src)
		if err == nil {
			_, _ = c.Eval(map[string]any{"form": map[string]any{"model": "x"}, "quantity": int64(1), "requester": RequesterVars(employee)})
		}
	})
}
