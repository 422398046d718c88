package desk

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// wantRule fails unless err is a *ValidationError with an error of the rule on field.
func wantRule(t *testing.T, err error, field, rule string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a *ValidationError on %s (%s), got %v (%T)", field, rule, err, err)
	}
	for _, fe := range ve.Fields {
		if fe.Field == field && fe.Rule == rule {
			return
		}
	}
	t.Fatalf("want %s on %s, got %+v", rule, field, ve.Fields)
}

// TestFreeText: what people type (a comment, a decision's comment, a withdrawal's reason, a
// task's reason and question, a lifecycle comment, a task's outputs) is refused when it is not
// UTF-8 text, naming the field (rule utf8), before anything reaches a workflow; and MaxText
// counts characters, as it says, not bytes: 4000 "é" (8000 bytes) are taken, 4001 are not. On
// each database.
func TestFreeText(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const bad = "fine so far \xff\xfe then not"
		task := f.approvedLaptop(t, "alice", "bob")
		id, _, _ := strings.Cut(task, ".")
		alice, dave, ivan := f.person("alice"), f.person("dave"), f.person("ivan")

		_, err := f.desk.Comment(ctx, alice, CommentInput{ID: id, Text: bad})
		wantRule(t, err, "/text", "utf8")
		_, err = f.desk.Comment(ctx, alice, CommentInput{ID: id, Text: strings.Repeat("é", MaxText+1)})
		wantRule(t, err, "/text", "maxLength")
		if _, err := f.desk.Comment(ctx, alice, CommentInput{ID: id, Text: strings.Repeat("é", MaxText)}); err != nil {
			t.Fatalf("4000 characters (8000 bytes) are within the limit: %v", err)
		}
		_, err = f.desk.Cancel(ctx, alice, CancelInput{ID: id, Reason: bad})
		wantRule(t, err, "/reason", "utf8")

		other := f.submitLaptop(t, "alice")
		_, err = f.desk.Decide(ctx, f.person("bob"), DecideInput{ID: other, Decision: "reject", Comment: bad})
		wantRule(t, err, "/comment", "utf8")

		_, err = f.desk.FailTask(ctx, dave, TaskCall{Task: task, Reason: bad})
		wantRule(t, err, "/reason", "utf8")
		_, err = f.desk.AskRequester(ctx, dave, TaskCall{Task: task, Question: bad})
		wantRule(t, err, "/question", "utf8")
		_, err = f.desk.CompleteTask(ctx, dave, TaskCall{Task: task, Outputs: map[string]any{"serial": "SN-1", "notes": []any{"ok", bad}}})
		wantRule(t, err, "/outputs/notes/1", "utf8")

		_, err = f.desk.ApplyLifecycleAction(ctx, ivan, LifecycleActionInput{Service: "laptop", Action: "deprecate", Comment: bad})
		wantRule(t, err, "/comment", "utf8")

		// Nothing of it reached the request.
		v, err := f.desk.Request(ctx, alice, RequestInput{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range v.State.Timeline {
			if strings.Contains(e.Detail, "\xff") {
				t.Fatalf("bad text in the timeline: %+v", e)
			}
		}
	})
}
