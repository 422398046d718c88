package desk

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/esmhq/esm/catalog"
)

// TestTaskMay: what Task offers each person (TaskForm.May) is what the task calls accept: every
// call not offered is refused (a refusal changes nothing, so each is tried), and the story then
// takes the ones offered. A lead assigns to the group's members, never to the requester. The
// queue narrows to the tasks one holds or nobody holds. On each database.
func TestTaskMay(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ref := f.approvedLaptop(t, "alice", "bob")
		people := []string{"dave", "frank", "tara", "alice"}
		calls := map[string]func(context.Context, Actor, TaskCall) (TaskChanged, error){
			"claim": f.desk.ClaimTask, "release": f.desk.ReleaseTask, "assign": f.desk.AssignTask,
			"complete": f.desk.CompleteTask, "fail": f.desk.FailTask, "ask": f.desk.AskRequester,
		}
		names := func(m TaskMay) []string {
			var out []string
			for name, ok := range map[string]bool{"claim": m.Claim, "release": m.Release, "assign": m.Assign, "complete": m.Complete, "fail": m.Fail, "ask": m.Ask} {
				if ok {
					out = append(out, name)
				}
			}
			slices.Sort(out)
			return out
		}
		offered := func(t *testing.T) map[string][]string {
			t.Helper()
			out := map[string][]string{}
			for _, who := range people {
				tf, err := f.desk.Task(ctx, f.person(who), ref)
				if errors.Is(err, ErrNotFound) && who == "alice" {
					t.Fatalf("alice sees her own request")
				}
				if err != nil {
					t.Fatalf("Task as %s: %v", who, err)
				}
				out[who] = names(tf.May)
				if tf.May.Any() != (len(out[who]) > 0) {
					t.Errorf("Any() = %v for %v", tf.May.Any(), out[who])
				}
				for name, call := range calls {
					if slices.Contains(out[who], name) || (name == "complete" || name == "fail" || name == "ask") && tf.Task.State == catalog.TaskOpen {
						continue // offered; or worked before it is claimed, which the portal does not offer
					}
					_, err := call(ctx, f.person(who), TaskCall{Task: ref, Reason: "a reason", Question: "a question", Assignee: "frank"})
					if !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrConflict) {
						t.Errorf("%s is not offered %s, and it answers %v", who, name, err)
					}
				}
			}
			return out
		}
		want := func(t *testing.T, got map[string][]string, who string, calls ...string) {
			t.Helper()
			slices.Sort(calls)
			if !slices.Equal(got[who], calls) {
				t.Errorf("%s is offered %v, want %v", who, got[who], calls)
			}
		}
		eventually(t, "the task opens", func() bool {
			tf, err := f.desk.Task(ctx, f.person("dave"), ref)
			return err == nil && tf.Task.State == catalog.TaskOpen
		})

		got := offered(t)
		want(t, got, "dave", "claim")
		want(t, got, "frank", "claim")
		want(t, got, "tara", "claim", "assign")
		want(t, got, "alice")
		tf, err := f.desk.Task(ctx, f.person("tara"), ref)
		if err != nil {
			t.Fatal(err)
		}
		var members []string
		for _, m := range tf.Members {
			members = append(members, m.ID)
		}
		if !slices.Equal(members, []string{"dave", "frank", "tara"}) || tf.Members[0].Name != "Dave Kim" {
			t.Errorf("tara may assign to %v", tf.Members)
		}
		if tf, _ := f.desk.Task(ctx, f.person("dave"), ref); tf.Members != nil {
			t.Errorf("dave, no lead, gets the members: %v", tf.Members)
		}
		if page, err := f.desk.Tasks(ctx, f.person("dave"), TasksInput{Whose: WhoseUnassigned}); err != nil || !slices.Contains(taskIDs(page), ref) {
			t.Errorf("unassigned: %v %v", taskIDs(page), err)
		}

		// Dave claims: he works it; Frank may do nothing; Tara, a lead, anything.
		if _, err := f.desk.ClaimTask(ctx, f.person("dave"), TaskCall{Task: ref}); err != nil {
			t.Fatal(err)
		}
		got = offered(t)
		want(t, got, "dave", "release", "complete", "fail", "ask")
		want(t, got, "frank")
		want(t, got, "tara", "claim", "release", "assign", "complete", "fail", "ask")
		if page, err := f.desk.Tasks(ctx, f.person("dave"), TasksInput{Whose: WhoseMine}); err != nil || !slices.Equal(taskIDs(page), []string{ref}) {
			t.Errorf("dave's own: %v %v", taskIDs(page), err)
		}
		for who, whose := range map[string]string{"frank": WhoseMine, "dave": WhoseUnassigned} {
			if page, err := f.desk.Tasks(ctx, f.person(who), TasksInput{Whose: whose}); err != nil || slices.Contains(taskIDs(page), ref) {
				t.Errorf("%s, %s: %v %v", who, whose, taskIDs(page), err)
			}
		}
		_, err = f.desk.Tasks(ctx, f.person("dave"), TasksInput{Whose: "everyone"})
		wantFields(t, err, "whose")

		// Tara gives it to Frank; Alice, the requester, may not be given it.
		_, err = f.desk.AssignTask(ctx, f.person("tara"), TaskCall{Task: ref, Assignee: "alice"})
		if err == nil {
			t.Fatal("a task assigned to its requester")
		}
		if res, err := f.desk.AssignTask(ctx, f.person("tara"), TaskCall{Task: ref, Assignee: "frank"}); err != nil || res.Task.Assignee != "frank" {
			t.Fatalf("assign: %+v %v", res, err)
		}
		got = offered(t)
		want(t, got, "frank", "release", "complete", "fail", "ask")
		want(t, got, "dave")

		// Frank asks the requester: the task waits on her, nobody may act on it.
		if _, err := f.desk.AskRequester(ctx, f.person("frank"), TaskCall{Task: ref, Question: "Which keyboard?"}); err != nil {
			t.Fatal(err)
		}
		got = offered(t)
		for _, who := range people {
			want(t, got, who)
		}
	})
}
