package desk

import (
	"context"
	"testing"
	"time"

	"github.com/esmhq/esm/worker"
)

// TestSubmitFilesSurviveRetry: a submission with its required receipt whose answer times out
// (the worker is down: the workflow is started, the submission not yet taken) is retried with
// the same Idempotency-Key once the worker is back, as a client does. The request must have its
// receipt: before, the first attempt discarded the file on the error and the retry, answered
// as a replay, discarded its copy too, leaving a request that "requires" a receipt without one.
// On each database.
func TestSubmitFilesSurviveRetry(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice := f.person("alice")
		form := map[string]any{"amount": 120, "category": "travel", "description": "Hotel in Berlin"}
		in := SubmitInput{Service: "expense-reimbursement", Form: form, IdempotencyKey: "claim-1"}
		f.worker.Stop()
		impatient := New(Config{Store: f.store, Temporal: f.tc, Logger: f.desk.log, Files: f.files, WorkflowWait: 2 * time.Second})
		first := in
		first.Files = uploads(file("receipt", "receipt.pdf", pdf))
		_, err := impatient.Submit(ctx, alice, first)
		wantKind(t, err, ErrUnavailable)

		w := worker.New(f.tc, f.store, worker.Options{})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		again := in
		again.Files = uploads(file("receipt", "receipt.pdf", pdf))
		out, err := f.desk.Submit(ctx, alice, again)
		if err != nil {
			t.Fatalf("the retry: %v", err)
		}
		if !out.Replayed {
			t.Fatalf("the retry was not a replay: %+v", out)
		}
		list, err := f.desk.Attachments(ctx, alice, out.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Kind != "receipt" {
			t.Fatalf("%s has %d files after the retry (want its one receipt): %+v", out.ID, len(list), list)
		}
		if n := objects(t, f); n != 1 {
			t.Fatalf("%d objects stored (want 1: the retry's copy is not kept twice)", n)
		}
		_, r, err := f.desk.OpenAttachment(ctx, alice, out.ID, list[0].ID)
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		r.Close()
		// A third attempt (the answer lost again) adds nothing.
		third := in
		third.Files = uploads(file("receipt", "receipt.pdf", pdf))
		if _, err := f.desk.Submit(ctx, alice, third); err != nil {
			t.Fatal(err)
		}
		if list, _ := f.desk.Attachments(ctx, alice, out.ID); len(list) != 1 || objects(t, f) != 1 {
			t.Fatalf("after a third attempt: %d listed, %d stored", len(list), objects(t, f))
		}
	})
}
