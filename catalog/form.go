package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// Form is a compiled request form.
type Form struct {
	schema *jsonschema.Schema
}

// CompileForm compiles a form's JSON Schema. Catalog apply compiles every form, so a broken
// schema is refused before it is stored, not at the first submission.
func CompileForm(schema map[string]any) (*Form, error) {
	// Submissions compile the same few forms again and again: keep what was compiled, by the
	// schema's canonical JSON.
	key, err := json.Marshal(schema)
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if f, ok := forms.get(string(key)); ok {
		return f, nil
	}
	f, err := compileForm(schema)
	if err == nil {
		forms.put(string(key), f)
	}
	return f, err
}

var forms = newCache[*Form]()

func compileForm(schema map[string]any) (*Form, error) {
	// Round-trip through JSON so the compiler sees JSON types (YAML decodes ints as int).
	doc, err := toJSONValue(schema)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	// A form is self-contained: no $ref may reach a file or the network.
	c.UseLoader(noLoader{})
	const loc = "mem://form.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, err
	}
	return &Form{schema: s}, nil
}

// Validate checks a submitted form. Each error's Field is a JSON pointer into the form
// ("/model", or "" for the form itself) and Rule the JSON Schema keyword that failed.
func (f *Form) Validate(form map[string]any) []FieldError {
	if form == nil {
		form = map[string]any{}
	}
	doc, err := toJSONValue(form)
	if err != nil {
		return []FieldError{{Field: "", Rule: "type", Detail: err.Error()}}
	}
	err = f.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []FieldError{{Field: "", Rule: "schema", Detail: err.Error()}}
	}
	var out []FieldError
	collectLeaves(ve, &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// ValidateFields checks only the given fields of a form that is still being filled in: their
// types, bounds and enums when they are given; a field not given yet is no error.
func (f *Form) ValidateFields(form map[string]any, fields []string) []FieldError {
	var out []FieldError
	for _, fe := range f.Validate(form) {
		name, _, _ := strings.Cut(strings.TrimPrefix(fe.Field, "/"), "/")
		name = strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")
		if fe.Field == "" || !slices.Contains(fields, name) {
			continue
		}
		if _, given := form[name]; !given && fe.Rule == "required" {
			continue
		}
		out = append(out, fe)
	}
	return out
}

func collectLeaves(ve *jsonschema.ValidationError, out *[]FieldError) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectLeaves(c, out)
		}
		return
	}
	ptr := pointer(ve.InstanceLocation)
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, FieldError{Field: pointer(append(append([]string{}, ve.InstanceLocation...), m)), Rule: "required", Detail: "is required"})
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			*out = append(*out, FieldError{Field: pointer(append(append([]string{}, ve.InstanceLocation...), p)), Rule: "additionalProperties", Detail: "is not a field of this form"})
		}
	default:
		rule := "schema"
		if kp := ve.ErrorKind.KeywordPath(); len(kp) > 0 {
			rule = kp[0]
		}
		*out = append(*out, FieldError{Field: ptr, Rule: rule, Detail: ve.ErrorKind.LocalizedString(printer)})
	}
}

func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}

// toJSONValue normalises a value to what encoding/json produces (float64 numbers decoded as
// json.Number, map[string]any objects), which is what the schema validator expects.
func toJSONValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// noLoader refuses every external reference.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("a form schema may not refer to %s: keep it self-contained", url)
}
