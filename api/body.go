package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/gin-gonic/gin"
)

// maxBody caps every request body.
const maxBody = 1 << 20

// decodeBody reads a JSON object into v, refusing unknown fields and wrong types with a 422 that
// names the field, and malformed JSON with a 400.
func decodeBody(c *gin.Context, v any) *Problem {
	if ct := c.ContentType(); ct != "" && ct != "application/json" {
		return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "send application/json")
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newProblem(http.StatusRequestEntityTooLarge, "too-large", "Body too large", fmt.Sprintf("the body may be at most %d bytes", maxBody))
		}
		return errBadRequest("could not read the body: " + err.Error())
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errBadRequest("the body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			field := catalog.Pointer(typeErr.Field)
			if typeErr.Field == "" {
				field = ""
			}
			return errValidation("a field has the wrong type", catalog.FieldError{
				Field: field, Rule: "type", Detail: fmt.Sprintf("must be %s, not %s", jsonType(typeErr.Type.Kind().String()), typeErr.Value)})
		case errors.As(err, &syntaxErr):
			return errBadRequest(fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, err))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return errValidation("the body has a field this call does not take", catalog.FieldError{
				Field: catalog.PointerTo(name), Rule: "unknown", Detail: "is not a field of this call"})
		default:
			return errBadRequest("malformed JSON: " + err.Error())
		}
	}
	if dec.More() {
		return errBadRequest("the body holds more than one JSON value")
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return "a " + kind
}

// queryInt reads an optional integer query parameter within [min, max].
func queryInt(c *gin.Context, name string, def, min, max int) (int, *Problem) {
	raw := c.Query(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < min || n > max {
		return 0, errValidation("a query parameter is out of range", catalog.FieldError{
			Field: name, Rule: "range", Detail: fmt.Sprintf("must be a whole number from %d to %d", min, max)})
	}
	return n, nil
}
