package desk

import (
	"context"
	"testing"

	"github.com/esmhq/esm/catalog"
)

// TestLifecycleVisibility: a service never published (a draft, in review) is visible only to
// its insiders: its owner, its department's staff and head, operators, admins and the
// reviewers of its draft in review. To anyone else it does not exist: Lifecycle, LifecycleForm,
// KnownService, MayEditDraft, SaveDraft and ApplyLifecycleAction all answer ErrNotFound, as for
// a key nobody used, never its name, owner or versions, nor ErrForbidden (which would confirm it
// exists). A published service's lifecycle is refused to others (ErrForbidden): its catalog page
// is what is public. On each database.
func TestLifecycleVisibility(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		p := f.person
		secret := exampleDefinition(t, "laptop")
		secret.Key, secret.Name = "secret-laptop", "Secret laptop"
		// Its review goes to Grace, who is not of IT.
		secret.Governance = &catalog.ApprovalStep{Name: "board review", Approvers: catalog.Approvers{People: []string{"grace"}}, Mode: "any"}
		if _, err := f.desk.CreateService(ctx, p("dave"), secret); err != nil {
			t.Fatal(err)
		}
		hidden := func(who string) {
			t.Helper()
			me := p(who)
			_, err := f.desk.Lifecycle(ctx, me, secret.Key)
			wantKind(t, err, ErrNotFound)
			_, err = f.desk.LifecycleForm(ctx, me, secret.Key)
			wantKind(t, err, ErrNotFound)
			wantKind(t, f.desk.KnownService(ctx, me, secret.Key), ErrNotFound)
			wantKind(t, f.desk.MayEditDraft(ctx, me, secret.Key), ErrNotFound)
			_, err = f.desk.SaveDraft(ctx, me, Draft{Service: secret.Key, Definition: secret})
			wantKind(t, err, ErrNotFound)
			for _, action := range []string{"submit", "approve", "publish", "launch"} {
				_, err = f.desk.ApplyLifecycleAction(ctx, me, LifecycleActionInput{Service: secret.Key, Action: action, Comment: "x"})
				wantKind(t, err, ErrNotFound)
			}
		}
		seen := func(who string) {
			t.Helper()
			lf, err := f.desk.LifecycleForm(ctx, p(who), secret.Key)
			if err != nil || lf.Name != "Secret laptop" || lf.State.Draft != 1 {
				t.Fatalf("%s, an insider: %v %+v", who, err, lf)
			}
			if err := f.desk.KnownService(ctx, p(who), secret.Key); err != nil {
				t.Fatalf("%s: %v", who, err)
			}
		}
		for _, who := range []string{"alice", "grace", "sam"} {
			hidden(who)
		}
		for _, who := range []string{"dave", "ivan", "oscar", "adam"} {
			seen(who)
		}
		if _, err := f.desk.ApplyLifecycleAction(ctx, p("ivan"), LifecycleActionInput{Service: secret.Key, Action: "submit"}); err != nil {
			t.Fatal(err)
		}
		seen("grace") // its reviewer now
		hidden("alice")

		// Published: its lifecycle is for insiders; others are refused, and see its catalog page.
		for _, who := range []string{"alice", "grace"} {
			_, err := f.desk.Lifecycle(ctx, p(who), "laptop")
			wantKind(t, err, ErrForbidden)
			_, err = f.desk.LifecycleForm(ctx, p(who), "laptop")
			wantKind(t, err, ErrForbidden)
			if err := f.desk.KnownService(ctx, p(who), "laptop"); err != nil {
				t.Fatalf("%s: the published laptop is known: %v", who, err)
			}
		}
		if _, err := f.desk.Lifecycle(ctx, p("dave"), "laptop"); err != nil {
			t.Fatal(err)
		}
	})
}
