package api

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/getkin/kin-openapi/openapi3"
)

// jsonFields are the names a value of type t has in JSON: its exported fields' json names,
// those of embedded structs inlined, "-" left out.
func jsonFields(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			names = append(names, jsonFields(f.Type)...)
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// TestOpenAPISchemaFields: the schemas of answers the end-to-end tests cannot hold to every
// field (a schema with no additionalProperties: false lets an undocumented field through) name
// each field the Go type answers, and no field it does not: Service (desk.ServiceView, GET
// /v1/catalog/services/{key}), Attachments (catalog.Attachments, a service's files) and
// Attachment (desk.Attachment, the attachment endpoints).
func TestOpenAPISchemaFields(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	for schema, typ := range map[string]reflect.Type{
		"Service":     reflect.TypeFor[desk.ServiceView](),
		"Attachments": reflect.TypeFor[catalog.Attachments](),
		"Attachment":  reflect.TypeFor[desk.Attachment](),
	} {
		ref := doc.Components.Schemas[schema]
		if ref == nil || ref.Value == nil {
			t.Errorf("openapi.yaml has no schema %s (%s)", schema, typ)
			continue
		}
		documented := map[string]bool{}
		for name := range ref.Value.Properties {
			documented[name] = true
		}
		for _, name := range jsonFields(typ) {
			if !documented[name] {
				t.Errorf("%s answers %q, openapi.yaml's %s does not name it", typ, name, schema)
			}
			delete(documented, name)
		}
		for name := range documented {
			t.Errorf("openapi.yaml's %s names %q, which %s does not answer", schema, name, typ)
		}
	}
}
