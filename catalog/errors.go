package catalog

import (
	"fmt"
	"strings"
)

// FieldError is one broken rule: where it is, which rule, and a sentence for a human.
type FieldError struct {
	// File is the catalog file, when the error comes from one.
	File string `json:"file,omitempty"`
	// Field is where the error is. Catalog validation writes a readable path inside a definition
	// (approval.steps[1].mode), which `esm catalog apply` prints beside the file name; the API
	// always speaks JSON pointers into the body (/approval/steps/1/mode, /form/model): see
	// Pointer.
	Field  string `json:"field"`
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s (%s)", e.Detail, e.Rule)
	return b.String()
}

// ValidationError collects every FieldError found, so a caller sees them all at once.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, "\n")
}

// errs accumulates field errors under a path prefix.
type errs struct {
	file string
	list []FieldError
}

func (e *errs) add(field, rule, format string, args ...any) {
	e.list = append(e.list, FieldError{File: e.file, Field: field, Rule: rule, Detail: fmt.Sprintf(format, args...)})
}

func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: e.list}
}

// Pointer turns a readable path as catalog validation writes it (approval.steps[1].mode,
// cost.parts[0].when) into a JSON pointer (RFC 6901) into the same document
// (/approval/steps/1/mode), escaping "~" and "/" in each token. A path that already is a
// pointer, and the empty path (the whole document), are returned as they are.
func Pointer(path string) string {
	if path == "" || strings.HasPrefix(path, "/") {
		return path
	}
	var tokens []string
	var cur strings.Builder
	flush := func() {
		tokens = append(tokens, cur.String())
		cur.Reset()
	}
	for i := 0; i < len(path); i++ {
		switch ch := path[i]; ch {
		case '.':
			flush()
		case '[':
			if cur.Len() > 0 || (i > 0 && path[i-1] != ']') {
				flush()
			}
			end := strings.IndexByte(path[i:], ']')
			if end < 0 {
				cur.WriteString(path[i:])
				i = len(path)
				continue
			}
			cur.WriteString(strings.Trim(path[i+1:i+end], `"'`))
			flush()
			i += end
			if i+1 < len(path) && path[i+1] == '.' {
				i++ // "].": the dot only separates
			}
		default:
			cur.WriteByte(ch)
		}
	}
	if cur.Len() > 0 || len(path) > 0 && path[len(path)-1] == '.' {
		flush()
	}
	return pointer(tokens)
}

// PointerTo is the JSON pointer of the tokens, each escaped (RFC 6901).
func PointerTo(tokens ...string) string { return pointer(tokens) }
