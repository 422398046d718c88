package catalog

import (
	"errors"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// formSchemaError says where in a form (a JSON Schema) the metaschema refused it and why: the
// field under request.form of the deepest refusal (request.form.properties.model.type) and its
// message. Any other error (not JSON, a reference that does not resolve) is reported on
// request.form as it is.
func formSchemaError(err error) (field, detail string) {
	var sve *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	if !errors.As(err, &sve) || !errors.As(sve.Err, &ve) {
		return "request.form", err.Error()
	}
	leaf := ve
	var walk func(v *jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		if len(v.Causes) == 0 {
			if len(v.InstanceLocation) > len(leaf.InstanceLocation) || len(leaf.Causes) > 0 {
				leaf = v
			}
			return
		}
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(ve)
	field = "request.form"
	for _, tok := range leaf.InstanceLocation {
		field += "." + tok
	}
	return field, leaf.ErrorKind.LocalizedString(message.NewPrinter(language.English))
}
