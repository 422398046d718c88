package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/esmhq/esm/catalog"
)

// A form rendered from a service's JSON Schema. Each property becomes one input of a kind the
// browser knows (text, email, date, long text, number with its bounds, a select for an enum, a
// checkbox for a boolean, checkboxes for an array of enums); any other property is a JSON text
// area. This only shows and reads the form: the desk validates it against the schema.

// field is one input of a form.
type field struct {
	Name     string // the property's name
	ID       string // the input's id (and, with "-error", its error's)
	Input    string // the input's name in the posted form
	Label    string
	Hint     string
	Kind     string // text, email, date, textarea, number, select, checkbox, checkboxes, json
	Required bool
	Options  []string
	Min, Max string
	Step     string
	MinLen   int
	MaxLen   int
	Value    string   // what was typed, or the default
	Values   []string // the checked options (checkboxes)
	Checked  bool     // checkbox
	Error    string
}

// formFields lists a schema's inputs: the required properties in the order the schema lists
// them, then the others by name.
func formFields(schema map[string]any) []field {
	props, _ := schema["properties"].(map[string]any)
	var required []string
	if rs, ok := schema["required"].([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				required = append(required, s)
			}
		}
	}
	var names []string
	for _, r := range required {
		if _, ok := props[r]; ok && !slices.Contains(names, r) {
			names = append(names, r)
		}
	}
	var rest []string
	for name := range props {
		if !slices.Contains(names, name) {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	names = append(names, rest...)
	out := make([]field, 0, len(names))
	for _, name := range names {
		prop, _ := props[name].(map[string]any)
		out = append(out, newField(name, prop, slices.Contains(required, name)))
	}
	return out
}

func newField(name string, prop map[string]any, required bool) field {
	f := field{Name: name, ID: "f-" + name, Input: "f." + name, Label: str(prop["title"]), Hint: str(prop["description"]), Required: required, Kind: "json"}
	if f.Label == "" {
		f.Label = humanize(name)
	}
	typ, _ := prop["type"].(string)
	switch typ {
	case "string":
		switch {
		case prop["enum"] != nil:
			if opts, ok := strings_(prop["enum"]); ok {
				f.Kind, f.Options = "select", opts
			}
		case prop["format"] == "date":
			f.Kind = "date"
		case prop["format"] == "email":
			f.Kind = "email"
		default:
			f.Kind = "text"
			f.MinLen, f.MaxLen = intOf(prop["minLength"]), intOf(prop["maxLength"])
			if f.MaxLen == 0 || f.MaxLen > 200 {
				f.Kind = "textarea"
			}
		}
	case "integer", "number":
		if prop["enum"] == nil {
			f.Kind, f.Step = "number", "any"
			if typ == "integer" {
				f.Step = "1"
			}
			f.Min, f.Max = numStr(prop["minimum"]), numStr(prop["maximum"])
		}
	case "boolean":
		f.Kind = "checkbox"
	case "array":
		items, _ := prop["items"].(map[string]any)
		if opts, ok := strings_(items["enum"]); ok && items["type"] == "string" {
			f.Kind, f.Options = "checkboxes", opts
		}
	}
	if def, ok := prop["default"]; ok {
		f.setValue(def)
	}
	return f
}

// setValue shows a value in the field (a default, or what was submitted).
func (f *field) setValue(v any) {
	switch f.Kind {
	case "checkbox":
		f.Checked, _ = v.(bool)
	case "checkboxes":
		f.Values = nil
		if list, ok := v.([]any); ok {
			for _, x := range list {
				f.Values = append(f.Values, fmt.Sprint(x))
			}
		}
	case "json":
		b, _ := json.MarshalIndent(v, "", "  ")
		f.Value = string(b)
	default:
		switch n := v.(type) {
		case string:
			f.Value = n
		default:
			f.Value = numStr(n)
		}
	}
}

// readForm reads the posted inputs back into the form's values, keeping what was typed in each
// field for a page shown again. An input the portal cannot read (a number that is none, JSON that
// does not parse) is an error beside its field; empty inputs are left out, so the desk says which
// are required.
func readForm(fields []field, posted url.Values) (map[string]any, bool) {
	form := map[string]any{}
	ok := true
	for i := range fields {
		f := &fields[i]
		raw := posted.Get(f.Input)
		switch f.Kind {
		case "checkbox":
			f.Checked = raw != ""
			form[f.Name] = f.Checked
		case "checkboxes":
			f.Values = posted[f.Input]
			if len(f.Values) > 0 {
				list := make([]any, len(f.Values))
				for j, v := range f.Values {
					list[j] = v
				}
				form[f.Name] = list
			}
		case "number":
			f.Value = raw
			s := strings.TrimSpace(raw)
			if s == "" {
				continue
			}
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				form[f.Name] = n
			} else if x, err := strconv.ParseFloat(s, 64); err == nil {
				form[f.Name] = x
			} else {
				f.Error, ok = "Enter a number.", false
			}
		case "json":
			f.Value = raw
			if strings.TrimSpace(raw) == "" {
				continue
			}
			var v any
			if err := json.Unmarshal([]byte(raw), &v); err != nil {
				f.Error, ok = "Enter valid JSON: "+err.Error(), false
				continue
			}
			form[f.Name] = v
		default:
			f.Value = raw
			if strings.TrimSpace(raw) != "" {
				form[f.Name] = raw
			}
		}
	}
	return form, ok
}

// placeErrors puts each error of a *desk.ValidationError beside its field: "/form/name/..." is
// the form's field name; the others (quantity, priority) are matched by name through extra.
// What no field takes comes back, for the top of the page.
func placeErrors(fields []field, errs []catalog.FieldError, extra map[string]*string) []string {
	var rest []string
	for _, fe := range errs {
		msg := sentence(fe.Detail)
		ptr := strings.TrimPrefix(fe.Field, "/")
		if name, ok := strings.CutPrefix(ptr, "form/"); ok {
			name, _, _ = strings.Cut(name, "/")
			name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
			placed := false
			for i := range fields {
				if fields[i].Name == name {
					if fields[i].Error == "" {
						fields[i].Error = fields[i].plain(fe.Rule, msg)
					}
					placed = true
					break
				}
			}
			if placed {
				continue
			}
		}
		if target, ok := extra[ptr]; ok && target != nil {
			if *target == "" {
				*target = msg
			}
			continue
		}
		if fe.Field != "" && !strings.HasPrefix(fe.Field, "/form") {
			msg = fe.Field + ": " + msg
		}
		rest = append(rest, msg)
	}
	return rest
}

// plain says a rule the desk found broken in the words of the field's input, when it knows
// them: the desk's detail otherwise.
func (f *field) plain(rule, detail string) string {
	switch rule {
	case "required":
		if f.Kind == "select" || f.Kind == "checkboxes" {
			return "Choose one."
		}
		return "Fill this in."
	case "minLength":
		if f.MinLen > 0 {
			return fmt.Sprintf("Write at least %d characters.", f.MinLen)
		}
	case "maxLength":
		if f.MaxLen > 0 {
			return fmt.Sprintf("Write at most %d characters.", f.MaxLen)
		}
	case "minimum", "maximum":
		switch {
		case f.Min != "" && f.Max != "":
			return fmt.Sprintf("Enter a number from %s to %s.", f.Min, f.Max)
		case f.Min != "":
			return fmt.Sprintf("Enter %s or more.", f.Min)
		case f.Max != "":
			return fmt.Sprintf("Enter %s or less.", f.Max)
		}
	case "enum":
		if len(f.Options) > 0 {
			return "Choose one of the options."
		}
	case "format":
		switch f.Kind {
		case "date":
			return "Enter a date."
		case "email":
			return "Enter an email address, like name@example.com."
		}
	}
	return detail
}

// sentence: "is required" -> "Is required."
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "This is not valid."
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func humanize(name string) string {
	s := strings.NewReplacer("_", " ", "-", " ").Replace(name)
	if s == "" {
		return name
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func str(v any) string { s, _ := v.(string); return s }

func strings_(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func intOf(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	case int64:
		return int(n)
	case uint64:
		return int(n)
	}
	return 0
}

func numStr(v any) string {
	switch n := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	case int:
		return strconv.Itoa(n)
	case int64:
		return strconv.FormatInt(n, 10)
	case uint64:
		return strconv.FormatUint(n, 10)
	case json.Number:
		return n.String()
	}
	return fmt.Sprint(v)
}
