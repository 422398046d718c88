package desk

import (
	"context"
	"errors"
	"testing"
)

// TestVisibleUnknown: an id that is not a request id, and a request that does not exist, are
// both not found.
func TestVisibleUnknown(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice := f.person("alice")
		wantKind(t, f.desk.Visible(ctx, alice, "nope"), ErrNotFound)
		err := f.desk.Visible(ctx, alice, "REQ-999999")
		wantKind(t, err, ErrNotFound)
		var e *Error
		if !errors.As(err, &e) || e.Detail != "no request REQ-999999" {
			t.Fatalf("detail: %v", err)
		}
	})
}
