package desk

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// TestAttachRaceMaxFiles: two Attach calls at once on one request, each within the room left
// under max_files but together past it (expense reimbursement takes 5: the receipt submitted,
// then 3 and 3). Exactly one is recorded; the other is refused (a validation error naming
// /attachments, rule maxItems) and its objects deleted. Before, both counted the request's files
// before either recorded its own, and the request ended with 7. Repeated, on each database.
func TestAttachRaceMaxFiles(t *testing.T) {
	const rounds = 8
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice := f.person("alice")
		form := map[string]any{"amount": 120, "category": "travel", "description": "Hotel in Berlin"}
		three := func() Uploads {
			return uploads(file("receipt", "a.pdf", pdf), file("receipt", "b.pdf", pdf), file("receipt", "c.pdf", pdf))
		}
		for round := range rounds {
			out, err := f.desk.Submit(ctx, alice, SubmitInput{Service: "expense-reimbursement", Form: form, Files: uploads(file("receipt", "r.pdf", pdf))})
			if err != nil {
				t.Fatal(err)
			}
			start := make(chan struct{})
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					<-start
					_, errs[i] = f.desk.Attach(ctx, alice, AttachInput{Request: out.ID, Files: three()})
				})
			}
			close(start)
			wg.Wait()
			list, err := f.desk.Attachments(ctx, alice, out.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 4 {
				t.Fatalf("round %d: %s has %d files (max_files 5; want the receipt and one call's 3): %v", round, out.ID, len(list), errs)
			}
			refused := 0
			for _, err := range errs {
				if err == nil {
					continue
				}
				refused++
				var ve *ValidationError
				if !errors.As(err, &ve) || len(ve.Fields) != 1 || !strings.HasPrefix(ve.Fields[0].Field, "/attachments") || ve.Fields[0].Rule != "maxItems" {
					t.Fatalf("round %d: the refusal is not /attachments maxItems: %v", round, err)
				}
			}
			if refused != 1 {
				t.Fatalf("round %d: %d of the 2 calls refused (want 1): %v", round, refused, errs)
			}
			if n := objects(t, f); n != 4*(round+1) {
				t.Fatalf("round %d: %d objects stored, want %d (the refused call's deleted)", round, n, 4*(round+1))
			}
		}
	})
}
