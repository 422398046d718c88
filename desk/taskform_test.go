package desk

import (
	"context"
	"testing"

	"github.com/esmhq/esm/catalog"
)

// TestTaskForm: Task answers a task of a request one may see with the outputs schema of the
// version it was made under, and ErrNotFound for what one may not see or what is not there.
func TestTaskForm(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ref := f.approvedLaptop(t, "alice", "bob")
		dave := f.person("dave")
		var got TaskForm
		eventually(t, "the task opens in the read model", func() bool {
			var err error
			got, err = f.desk.Task(ctx, dave, ref)
			return err == nil && got.Task.State == catalog.TaskOpen
		})
		if got.Task.ID != "prepare" || got.Request+".prepare" != ref || got.Title != "Laptop for Alice Chen" {
			t.Errorf("Task(%s) = %+v", ref, got)
		}
		if got.Outputs != nil {
			t.Errorf("the laptop's task declares no outputs, got the schema %v", got.Outputs)
		}
		_, err := f.desk.Task(ctx, f.person("erin"), ref)
		wantKind(t, err, ErrNotFound) // a request erin may not see
		_, err = f.desk.Task(ctx, dave, got.Request+".nope")
		wantKind(t, err, ErrNotFound)
		_, err = f.desk.Task(ctx, dave, "prepare")
		wantKind(t, err, ErrNotFound)
	})
}
