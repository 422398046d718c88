package catalog

import (
	"fmt"
	"strings"
)

// FieldError is one broken rule: where it is, which rule, and a sentence for a human.
type FieldError struct {
	// File is the catalog file, when the error comes from one.
	File string `json:"file,omitempty"`
	// Field is where the error is: a dotted path inside a definition (approval.steps[1].mode)
	// or a JSON pointer into a request body (/form/model).
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
