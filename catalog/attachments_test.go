package catalog

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// The examples take a receipt (required) for expense reimbursement, the contract for contract
// review and optional photos for repairs, with their retention.
func TestExamplesAttachments(t *testing.T) {
	b := loadExamples(t)
	for key, want := range map[string]struct {
		required, optional []string
		retention          time.Duration
	}{
		"expense-reimbursement": {[]string{"receipt"}, nil, 2555 * 24 * time.Hour},
		"contract-review":       {[]string{"contract"}, []string{"annex"}, 3650 * 24 * time.Hour},
		"repair":                {nil, []string{"photo"}, 365 * 24 * time.Hour},
	} {
		d := exampleService(t, b, key)
		a := d.Attachments
		if a == nil || !slices.Equal(a.Required, want.required) || !slices.Equal(a.Optional, want.optional) || d.Retention.Std() != want.retention {
			t.Errorf("%s: attachments %+v retention %s", key, a, d.Retention)
		}
	}
	if d := exampleService(t, b, "expense-reimbursement"); d.Attachments.Bytes() != 10<<20 || d.Attachments.Files() != 5 {
		t.Errorf("expense: max_bytes %d max_files %d", d.Attachments.Bytes(), d.Attachments.Files())
	}
}

// A wrong attachments block is refused at apply, each field named with its rule.
func TestAttachmentsValidate(t *testing.T) {
	base := exampleService(t, loadExamples(t), "repair")
	for name, tc := range map[string]struct {
		a         *Attachments
		retention Duration
		field     string
		rule      string
	}{
		"bad kind":          {&Attachments{Optional: []string{"Photo!"}}, 0, "attachments.optional[0]", "pattern"},
		"twice":             {&Attachments{Required: []string{"a"}, Optional: []string{"a"}}, 0, "attachments.optional[0]", "unique"},
		"no kinds":          {&Attachments{MaxFiles: 3}, 0, "attachments", "required"},
		"too few files":     {&Attachments{Required: []string{"a", "b"}, MaxFiles: 1}, 0, "attachments.max_files", "minimum"},
		"too many files":    {&Attachments{Optional: []string{"a"}, MaxFiles: 1000}, 0, "attachments.max_files", "range"},
		"too big":           {&Attachments{Optional: []string{"a"}, MaxBytes: MaxMaxBytes + 1}, 0, "attachments.max_bytes", "range"},
		"html":              {&Attachments{Optional: []string{"a"}, Types: []string{"text/html"}}, 0, "attachments.types[0]", "enum"},
		"retention no file": {nil, Duration(24 * time.Hour), "retention", "requires"},
	} {
		d := base
		d.Attachments, d.Retention = tc.a, tc.retention
		err := d.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: want a validation error, got %v", name, err)
			continue
		}
		found := false
		for _, fe := range ve.Errors {
			found = found || (fe.Field == tc.field && fe.Rule == tc.rule)
		}
		if !found {
			t.Errorf("%s: want %s (%s), got %v", name, tc.field, tc.rule, ve.Errors)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"10MiB": 10 << 20, "10MB": 10e6, "512": 512, "1 GiB": 1 << 30, "2KB": 2000} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "10XB", "6GiB", "0"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", in)
		}
	}
}
