package web

import (
	"bytes"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/esmhq/esm/catalog"
)

// kitchenSink has a property of every kind the form renders, and one it does not.
var kitchenSink = map[string]any{
	"type":     "object",
	"required": []any{"reason", "start", "seats"},
	"properties": map[string]any{
		"reason":  map[string]any{"type": "string", "minLength": 10, "maxLength": 2000, "description": "Why you need it"},
		"start":   map[string]any{"type": "string", "format": "date"},
		"contact": map[string]any{"type": "string", "format": "email"},
		"code":    map[string]any{"type": "string", "maxLength": 20},
		"seats":   map[string]any{"type": "integer", "minimum": 1, "maximum": 50},
		"budget":  map[string]any{"type": "number", "minimum": 0.5},
		"model":   map[string]any{"type": "string", "enum": []any{"standard-14", "performance-16"}},
		"urgent":  map[string]any{"type": "boolean"},
		"tools":   map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []any{"git", "docker"}}},
		"extra":   map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}},
	},
}

func TestFormFields(t *testing.T) {
	fs := formFields(kitchenSink)
	var got []string
	for _, f := range fs {
		got = append(got, f.Name+":"+f.Kind)
	}
	want := "reason:textarea start:date seats:number budget:number code:text contact:email extra:json model:select tools:checkboxes urgent:checkbox"
	if strings.Join(got, " ") != want {
		t.Fatalf("fields\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	seats := fs[2]
	if !seats.Required || seats.Min != "1" || seats.Max != "50" || seats.Step != "1" || fs[3].Step != "any" || fs[3].Min != "0.5" {
		t.Fatalf("number bounds: %+v %+v", seats, fs[3])
	}

	// Rendered: every input has a label; required ones say so; errors and hints are tied to
	// their input.
	fs[0].Error = "Must be at least 10 characters."
	p, _ := newTestPortal(t, true)
	var buf bytes.Buffer
	for _, f := range fs {
		if err := p.pages["service"].ExecuteTemplate(&buf, "field", f); err != nil {
			t.Fatal(err)
		}
	}
	html := buf.String()
	for _, s := range []string{
		`<label for="f-reason">Reason <span class="req"`,
		`aria-describedby="f-reason-error f-reason-hint" aria-invalid="true"`,
		`<p class="error" id="f-reason-error">Must be at least 10 characters.</p>`,
		`<input type="date" id="f-start" name="f.start" value="" required`,
		`<input type="email" id="f-contact"`,
		`<input type="number" id="f-seats" name="f.seats" value="" step="1" min="1" max="50" required`,
		`<select id="f-model" name="f.model"`,
		`<input type="checkbox" id="f-urgent" name="f.urgent"`,
		`<legend>Tools</legend>`,
		`<input type="checkbox" id="f-tools-1" name="f.tools" value="docker">`,
		`<textarea id="f-extra" name="f.extra" rows="5" class="mono"`,
	} {
		if !strings.Contains(html, s) {
			t.Errorf("the form lacks %s", s)
		}
	}
	if t.Failed() {
		t.Log(html)
	}
}

func TestReadForm(t *testing.T) {
	fs := formFields(kitchenSink)
	posted := url.Values{"f.reason": {"because"}, "f.seats": {"3"}, "f.budget": {"2.5"}, "f.urgent": {"true"},
		"f.tools": {"git", "docker"}, "f.model": {""}, "f.extra": {`{"a":"b"}`}}
	form, ok := readForm(fs, posted)
	if !ok {
		t.Fatalf("not readable: %+v", fs)
	}
	want := map[string]any{"reason": "because", "seats": int64(3), "budget": 2.5, "urgent": true, "tools": []any{"git", "docker"}, "extra": map[string]any{"a": "b"}}
	if len(form) != len(want) {
		t.Fatalf("form %v, want %v", form, want)
	}
	for k, v := range want {
		if got := form[k]; !equalJSON(got, v) {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}

	// What cannot be read is an error beside its field, and what was typed stays.
	fs = formFields(kitchenSink)
	_, ok = readForm(fs, url.Values{"f.seats": {"three"}, "f.extra": {"{"}})
	if ok || fs[2].Error == "" || fs[2].Value != "three" || fs[6].Error == "" || fs[6].Value != "{" {
		t.Fatalf("unreadable: ok %v, %+v, %+v", ok, fs[2], fs[6])
	}
}

func equalJSON(a, b any) bool { return reflect.DeepEqual(a, b) }

// TestPlaceErrors: the desk's JSON pointers land beside their fields; others go on top.
func TestPlaceErrors(t *testing.T) {
	fs := formFields(kitchenSink)
	var qty string
	rest := placeErrors(fs, []catalog.FieldError{
		{Field: "/form/reason", Rule: "minLength", Detail: "minLength: got 7, want 10"},
		{Field: "/form/tools/1", Rule: "enum", Detail: "value must be one of"},
		{Field: "/form/start", Rule: "required", Detail: "is required"},
		{Field: "/quantity", Rule: "range", Detail: "from 1 to 1 per request"},
		{Field: "/form", Rule: "cost", Detail: "no price"},
	}, map[string]*string{"quantity": &qty})
	if fs[0].Error != "Write at least 10 characters." || fs[1].Error != "Fill this in." || qty != "From 1 to 1 per request." {
		t.Fatalf("placed: reason %q start %q quantity %q", fs[0].Error, fs[1].Error, qty)
	}
	for _, f := range fs {
		if f.Name == "tools" && f.Error == "" {
			t.Fatal("an item's error is not beside its list")
		}
	}
	if len(rest) != 1 || rest[0] != "No price." {
		t.Fatalf("rest %q", rest)
	}
}
