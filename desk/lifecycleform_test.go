package desk

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/esmhq/esm/workflows"
)

// TestLifecycleForm: what LifecycleForm offers each person is what the lifecycle accepts. At
// each stage of vpn-access's draft (owner Nina, IT's head Ivan, Grace his manager its reviewer)
// every action it does not offer someone is refused to them by ApplyLifecycleAction (a refusal
// changes nothing, so each is tried), and the ones it offers are the ones the story then takes;
// the draft's definition is shown to those who may see the internals and to its reviewer only;
// the versions say who saved and published them. On each database.
func TestLifecycleForm(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const key = "vpn-access"
		people := []string{"nina", "ivan", "grace", "dave", "alice", "adam"}
		form := func(t *testing.T, who string) LifecycleForm {
			t.Helper()
			lf, err := f.desk.LifecycleForm(ctx, f.person(who), key)
			if err != nil {
				t.Fatalf("LifecycleForm as %s: %v", who, err)
			}
			return lf
		}
		actions := map[string]func(LifecycleMay) bool{
			workflows.ActionSubmit:    func(m LifecycleMay) bool { return m.Submit },
			workflows.ActionApprove:   func(m LifecycleMay) bool { return m.Approve },
			workflows.ActionReject:    func(m LifecycleMay) bool { return m.Reject },
			workflows.ActionPublish:   func(m LifecycleMay) bool { return m.Publish },
			workflows.ActionDeprecate: func(m LifecycleMay) bool { return m.Deprecate },
			workflows.ActionRetire:    func(m LifecycleMay) bool { return m.Retire },
		}
		// offered answers, per person, the actions offered; and checks that each one not offered
		// is refused (forbidden or conflict), the draft included.
		offered := func(t *testing.T) map[string][]string {
			t.Helper()
			out := map[string][]string{}
			for _, who := range people {
				// Someone outside the service is refused its page (TestLifecycleVisibility), and
				// is offered nothing.
				var m LifecycleMay
				if lf, err := f.desk.LifecycleForm(ctx, f.person(who), key); err == nil {
					m = lf.May
				} else if !errors.Is(err, ErrForbidden) {
					t.Fatalf("LifecycleForm as %s: %v", who, err)
				}
				for _, action := range LifecycleActions {
					ok := false
					if may, known := actions[action]; known {
						ok = may(m)
					}
					if ok {
						out[who] = append(out[who], action)
						continue
					}
					_, err := f.desk.ApplyLifecycleAction(ctx, f.person(who), LifecycleActionInput{Service: key, Action: action, Comment: "a comment", Outcome: workflows.ReviewKeep})
					if !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrConflict) {
						t.Errorf("%s is not offered %s, and the lifecycle answers %v", who, action, err)
					}
				}
				if m.Edit {
					out[who] = append(out[who], "edit")
				} else {
					def := exampleDefinition(t, key)
					def.Summary += " (by " + who + ")"
					_, err := f.desk.SaveDraft(ctx, f.person(who), Draft{Service: key, Definition: def})
					if !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrConflict) {
						t.Errorf("%s may not edit, and SaveDraft answers %v", who, err)
					}
				}
				slices.Sort(out[who])
			}
			return out
		}
		want := func(t *testing.T, got map[string][]string, who string, actions ...string) {
			t.Helper()
			slices.Sort(actions)
			if !slices.Equal(got[who], actions) {
				t.Errorf("%s is offered %v, want %v", who, got[who], actions)
			}
		}

		// Published, no draft: the owner and the staff edit; the owner and the head deprecate;
		// the head and admins retire; nobody outside IT does anything.
		got := offered(t)
		want(t, got, "nina", "edit", "deprecate")
		want(t, got, "ivan", "edit", "deprecate", "retire")
		want(t, got, "dave", "edit")
		want(t, got, "adam", "edit", "deprecate", "retire")
		want(t, got, "alice")
		want(t, got, "grace")
		if _, err := f.desk.LifecycleForm(ctx, f.person("alice"), key); !errors.Is(err, ErrForbidden) {
			t.Errorf("alice, outside IT, reads the lifecycle: %v", err)
		}
		lf := form(t, "nina")
		if lf.Definition == nil || lf.Definition.Owner != "nina" || lf.DefinitionVersion != lf.State.Live || lf.Name != "VPN access" {
			t.Fatalf("nina's view of her service: %+v", lf)
		}

		// Ivan saves a draft: the owner may submit it.
		def := exampleDefinition(t, key)
		def.Summary = "Remote access, revised."
		if _, err := f.desk.SaveDraft(ctx, f.person("ivan"), Draft{Service: key, Definition: def}); err != nil {
			t.Fatal(err)
		}
		got = offered(t)
		want(t, got, "nina", "edit", "submit", "deprecate")
		want(t, got, "adam", "edit", "submit", "deprecate", "retire")
		lf = form(t, "nina")
		if lf.Definition == nil || lf.Definition.Summary != "Remote access, revised." || lf.DefinitionVersion != lf.State.Draft {
			t.Fatalf("nina's view of the draft: %+v", lf)
		}
		if v := lf.Versions[0]; !v.Draft || v.Version != lf.State.Draft || v.By != "ivan" || v.At.IsZero() {
			t.Errorf("the newest version: %+v", v)
		}

		// Submitted: Grace reviews (Ivan, its author, may not: four eyes) and sees the draft.
		if _, err := f.desk.ApplyLifecycleAction(ctx, f.person("nina"), LifecycleActionInput{Service: key, Action: workflows.ActionSubmit}); err != nil {
			t.Fatal(err)
		}
		got = offered(t)
		want(t, got, "grace", "approve", "reject")
		want(t, got, "ivan", "deprecate", "retire")
		want(t, got, "nina", "deprecate")
		if lf := form(t, "grace"); lf.Definition == nil || lf.Definition.Summary != "Remote access, revised." {
			t.Errorf("the reviewer does not see the draft: %+v", lf)
		}

		// Approved: the owner, the head and admins publish.
		if _, err := f.desk.ApplyLifecycleAction(ctx, f.person("grace"), LifecycleActionInput{Service: key, Action: workflows.ActionApprove}); err != nil {
			t.Fatal(err)
		}
		got = offered(t)
		want(t, got, "nina", "edit", "publish", "deprecate")
		want(t, got, "ivan", "edit", "publish", "deprecate", "retire")
		want(t, got, "grace")
		st, err := f.desk.ApplyLifecycleAction(ctx, f.person("nina"), LifecycleActionInput{Service: key, Action: workflows.ActionPublish})
		if err != nil {
			t.Fatal(err)
		}
		lf = form(t, "nina")
		if v := lf.Versions[0]; !v.Live || v.Version != st.Live || v.By != "ivan" || v.PublishedBy != "nina" || v.PublishedAt == nil {
			t.Errorf("the published version: %+v", v)
		}

		_, err = f.desk.LifecycleForm(ctx, f.person("nina"), "no-such-service")
		wantKind(t, err, ErrNotFound)
	})
}

// TestMyServices: the services one owns and one's department's, whatever their stage.
func TestMyServices(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		keys := func(who string) (all, owned []string) {
			t.Helper()
			items, err := f.desk.MyServices(ctx, f.person(who))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range items {
				all = append(all, s.Key)
				if s.Owner {
					owned = append(owned, s.Key)
				}
			}
			return all, owned
		}
		all, owned := keys("nina")
		if !slices.Equal(owned, []string{"vpn-access"}) || !slices.Contains(all, "laptop") {
			t.Errorf("nina's services: %v, owned %v", all, owned)
		}
		if all, _ := keys("alice"); len(all) != 0 {
			t.Errorf("alice looks after no service: %v", all)
		}
		// A new service, only a draft: its department's staff see it.
		spare := exampleDefinition(t, "laptop")
		spare.Key, spare.Name, spare.Owner = "spare-laptop", "Spare laptop", "dave"
		if _, err := f.desk.CreateService(ctx, f.person("dave"), spare); err != nil {
			t.Fatal(err)
		}
		if all, owned := keys("dave"); !slices.Contains(all, "spare-laptop") || !slices.Equal(owned, []string{"spare-laptop"}) {
			t.Errorf("dave's services: %v, owned %v", all, owned)
		}
	})
}
