package desk

import (
	"context"
	"testing"
)

// TestRequestsEveryone: the lists the terminal asks for (esm requests, esm breaches): everyone's
// requests are an operator's to list (ErrForbidden to anyone else), and Breached keeps the open
// ones that missed their resolution target, on each database.
func TestRequestsEveryone(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		id := f.submitLaptop(t, "alice")
		_, err := f.desk.Requests(ctx, f.person("erin"), RequestsInput{Everyone: true})
		wantKind(t, err, ErrForbidden)
		all, err := f.desk.Requests(ctx, f.person("oscar"), RequestsInput{Everyone: true})
		if err != nil || len(all.Items) != 1 || all.Items[0].ID != id {
			t.Fatalf("everyone's, as an operator: %v %+v", err, all)
		}
		own, err := f.desk.Requests(ctx, f.person("oscar"), RequestsInput{})
		if err != nil || len(own.Items) != 0 {
			t.Fatalf("the operator's own: %v %+v", err, own)
		}
		breached, err := f.desk.Requests(ctx, f.person("oscar"), RequestsInput{Everyone: true, Breached: true})
		if err != nil || len(breached.Items) != 0 {
			t.Fatalf("breached, none yet: %v %+v", err, breached)
		}
	})
}
