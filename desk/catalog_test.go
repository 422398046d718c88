package desk

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
)

// wantInvalidField fails unless err is a *ValidationError (ErrInvalid) naming field.
func wantInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want a *ValidationError, got %v (%T)", err, err)
	}
	for _, fe := range ve.Fields {
		if fe.Field == field {
			return
		}
	}
	t.Fatalf("want a field error on %s, got %+v", field, ve.Fields)
}

// exampleDefinition is a service of the example catalog, as its file has it.
func exampleDefinition(t *testing.T, key string) catalog.Definition {
	t.Helper()
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range b.Services {
		if d.Key == key {
			return d
		}
	}
	t.Fatalf("no %s in the examples", key)
	return catalog.Definition{}
}

func listed(items []ServiceSummary, key string) *ServiceSummary {
	for i := range items {
		if items[i].Key == key {
			return &items[i]
		}
	}
	return nil
}

// TestCatalog: Catalog and Service, with every kind of error they return and the rows of
// docs/ACCESS.md for them (anyone reads the catalog; internals only to the owning department's
// staff, the owner and operators), on each database.
func TestCatalog(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice := f.person("alice")

		t.Run("Catalog", func(t *testing.T) {
			items, err := f.desk.Catalog(ctx, alice, CatalogQuery{})
			if err != nil {
				t.Fatal(err)
			}
			l := listed(items, "laptop")
			if l == nil || !l.Eligible || l.Version < 1 || l.Stage != catalog.StagePublished || l.Department != "it" {
				t.Fatalf("laptop: %+v", l)
			}
			for _, it := range items {
				if !it.Eligible {
					t.Errorf("%s listed though ineligible without include", it.Key)
				}
			}
			all, err := f.desk.Catalog(ctx, alice, CatalogQuery{Include: IncludeIneligible})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) < len(items) {
				t.Fatalf("with ineligible: %d < %d", len(all), len(items))
			}
			for _, it := range all {
				if !it.Eligible && it.Ineligible == "" {
					t.Errorf("%s ineligible without a reason", it.Key)
				}
			}
			it, err := f.desk.Catalog(ctx, alice, CatalogQuery{Department: "it", Words: "  LAPTOP "})
			if err != nil || listed(it, "laptop") == nil {
				t.Fatalf("department it, words laptop: %v %+v", err, it)
			}
			for _, s := range it {
				if s.Department != "it" {
					t.Errorf("department it lists %s of %s", s.Key, s.Department)
				}
			}
			none, err := f.desk.Catalog(ctx, alice, CatalogQuery{Words: "laptop no-such-word"})
			if err != nil || len(none) != 0 {
				t.Fatalf("every word must match: %v %+v", err, none)
			}
			none, err = f.desk.Catalog(ctx, alice, CatalogQuery{Department: "no-such-department"})
			if err != nil || none == nil || len(none) != 0 {
				t.Fatalf("an empty catalog is an empty list: %v %#v", err, none)
			}
		})
		t.Run("Catalog/ErrInvalid", func(t *testing.T) {
			_, err := f.desk.Catalog(ctx, alice, CatalogQuery{Include: "everything"})
			wantInvalidField(t, err, "include")
		})
		t.Run("Service", func(t *testing.T) {
			for who, internal := range map[string]bool{"alice": false, "erin": false, "dave": true, "adam": true, "oscar": true, "ivan": true} {
				v, err := f.desk.Service(ctx, f.person(who), "laptop")
				if err != nil {
					t.Fatalf("laptop as %s: %v", who, err)
				}
				if got := v.Internal != nil; got != internal || (v.Owner != nil) != internal {
					t.Errorf("laptop as %s: internal %v, owner %v, want %v", who, got, v.Owner, internal)
				}
				if v.Key != "laptop" || v.Version < 1 || v.Stage != catalog.StagePublished || !v.Eligible && v.Why == "" {
					t.Errorf("laptop as %s: %+v", who, v)
				}
			}
			if v, _ := f.desk.Service(ctx, f.person("ivan"), "laptop"); v.Owner == nil || v.Owner.ID != "ivan" {
				t.Errorf("the laptop's owner: %+v", v.Owner)
			}
		})
		t.Run("Service/ErrNotFound", func(t *testing.T) {
			_, err := f.desk.Service(ctx, alice, "no-such-service")
			wantKind(t, err, ErrNotFound)
		})
	})
}

// TestLifecycle: CreateService, SaveDraft (and MayEditDraft), Lifecycle, ApplyLifecycleAction
// (and KnownService), with every kind of error they return and the rows of docs/ACCESS.md for
// them, on each database. Who one is to a service comes from the stored definition and the
// directory, never from what was sent.
func TestLifecycle(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		p := f.person

		t.Run("Lifecycle", func(t *testing.T) {
			st, err := f.desk.Lifecycle(ctx, p("dave"), "laptop")
			if err != nil || st.Key != "laptop" || st.Stage != catalog.StagePublished || st.Live < 1 {
				t.Fatalf("laptop's lifecycle: %v %+v", err, st)
			}
			_, err = f.desk.Lifecycle(ctx, p("alice"), "laptop")
			wantKind(t, err, ErrForbidden) // not of IT: TestLifecycleVisibility
		})
		t.Run("Lifecycle/ErrNotFound", func(t *testing.T) {
			_, err := f.desk.Lifecycle(ctx, p("alice"), "no-such-service")
			wantKind(t, err, ErrNotFound)
			wantKind(t, f.desk.KnownService(ctx, p("alice"), "no-such-service"), ErrNotFound)
			if err := f.desk.KnownService(ctx, p("alice"), "laptop"); err != nil {
				t.Fatal(err)
			}
		})

		spare := exampleDefinition(t, "laptop")
		spare.Key, spare.Name = "spare-laptop", "Spare laptop"
		t.Run("CreateService/ErrForbidden", func(t *testing.T) {
			_, err := f.desk.CreateService(ctx, p("alice"), spare)
			wantKind(t, err, ErrForbidden)
			if _, err := f.store.Service(ctx, spare.Key); err == nil {
				t.Fatal("a refused service was stored")
			}
		})
		t.Run("CreateService/ErrInvalid", func(t *testing.T) {
			bad := spare
			bad.Name = ""
			_, err := f.desk.CreateService(ctx, p("dave"), bad)
			wantInvalidField(t, err, "/name")
		})
		t.Run("CreateService", func(t *testing.T) {
			st, err := f.desk.CreateService(ctx, p("dave"), spare)
			if err != nil || st.Key != spare.Key || st.Draft != 1 || st.Stage != catalog.StageDraft {
				t.Fatalf("create: %v %+v", err, st)
			}
			if si, err := f.store.Service(ctx, spare.Key); err != nil || si.Draft != 1 {
				t.Fatalf("stored: %v %+v", err, si)
			}
		})
		t.Run("CreateService/ErrConflict", func(t *testing.T) {
			_, err := f.desk.CreateService(ctx, p("dave"), spare)
			wantKind(t, err, ErrConflict)
		})

		vpn := exampleDefinition(t, "vpn-access")
		vpn.Summary += " (revised)"
		t.Run("SaveDraft/ErrForbidden", func(t *testing.T) {
			grab := vpn
			grab.Owner = "erin"
			for _, who := range []string{"erin", "alice", "dave"} {
				_, err := f.desk.SaveDraft(ctx, p(who), Draft{Service: "vpn-access", Definition: grab})
				wantKind(t, err, ErrForbidden)
			}
			wantKind(t, f.desk.MayEditDraft(ctx, p("alice"), "vpn-access"), ErrForbidden)
			if err := f.desk.MayEditDraft(ctx, p("ivan"), "vpn-access"); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("SaveDraft/ErrNotFound", func(t *testing.T) {
			_, err := f.desk.SaveDraft(ctx, p("ivan"), Draft{Service: "no-such-service", Definition: vpn})
			wantKind(t, err, ErrNotFound)
			wantKind(t, f.desk.MayEditDraft(ctx, p("ivan"), "no-such-service"), ErrNotFound)
		})
		t.Run("SaveDraft/ErrInvalid", func(t *testing.T) {
			other := vpn
			other.Key = "laptop"
			_, err := f.desk.SaveDraft(ctx, p("ivan"), Draft{Service: "vpn-access", Definition: other})
			wantInvalidField(t, err, "/key")
			broken := vpn
			broken.Name = ""
			_, err = f.desk.SaveDraft(ctx, p("ivan"), Draft{Service: "vpn-access", Definition: broken})
			wantInvalidField(t, err, "/name")
		})
		var saved LifecycleState
		t.Run("SaveDraft", func(t *testing.T) {
			st, err := f.desk.SaveDraft(ctx, p("ivan"), Draft{Service: "vpn-access", Definition: vpn})
			if err != nil || st.Draft <= st.Live || st.DraftAuthor != "ivan" {
				t.Fatalf("save: %v %+v", err, st)
			}
			saved = st
		})

		t.Run("ApplyLifecycleAction/ErrInvalid", func(t *testing.T) {
			_, err := f.desk.ApplyLifecycleAction(ctx, p("nina"), LifecycleActionInput{Service: "vpn-access", Action: "launch"})
			wantInvalidField(t, err, "/action")
		})
		t.Run("ApplyLifecycleAction/ErrNotFound", func(t *testing.T) {
			_, err := f.desk.ApplyLifecycleAction(ctx, p("nina"), LifecycleActionInput{Service: "no-such-service", Action: "submit"})
			wantKind(t, err, ErrNotFound)
		})
		// The draft's review, four eyes: Nina (the owner) submits, Ivan wrote it and may not
		// approve it, Grace (his manager) does; Nina publishes.
		act := func(who, action string, want error) LifecycleState {
			t.Helper()
			st, err := f.desk.ApplyLifecycleAction(ctx, p(who), LifecycleActionInput{Service: "vpn-access", Action: action})
			if want == nil && err != nil {
				t.Fatalf("%s as %s: %v", action, who, err)
			}
			if want != nil {
				wantKind(t, err, want)
			}
			return st
		}
		t.Run("ApplyLifecycleAction", func(t *testing.T) {
			act("dave", "submit", ErrForbidden)
			act("nina", "submit", nil)
			act("ivan", "approve", ErrForbidden)
			act("nina", "approve", ErrForbidden)
			act("dave", "approve", ErrForbidden)
			act("grace", "approve", nil)
			act("dave", "publish", ErrForbidden)
			st := act("nina", "publish", nil)
			if st.Stage != catalog.StagePublished || st.Live != saved.Draft {
				t.Fatalf("published: %+v (draft was %d)", st, saved.Draft)
			}
		})
		t.Run("ApplyLifecycleAction/ErrConflict", func(t *testing.T) {
			act("nina", "publish", ErrConflict) // nothing approved to publish
		})
		t.Run("ApplyLifecycleAction/deprecate", func(t *testing.T) {
			for _, who := range []string{"dave", "alice", "oscar"} {
				_, err := f.desk.ApplyLifecycleAction(ctx, p(who), LifecycleActionInput{Service: "laptop", Action: "deprecate"})
				wantKind(t, err, ErrForbidden)
			}
			st, err := f.desk.ApplyLifecycleAction(ctx, p("ivan"), LifecycleActionInput{Service: "laptop", Action: "deprecate"})
			if err != nil || st.Stage != catalog.StageDeprecated {
				t.Fatalf("deprecate: %v %+v", err, st)
			}
		})
		t.Run("ApplyLifecycleAction/retired", func(t *testing.T) {
			for _, who := range []string{"omar", "dave", "oscar"} {
				_, err := f.desk.ApplyLifecycleAction(ctx, p(who), LifecycleActionInput{Service: "software-licence", Action: "retire"})
				wantKind(t, err, ErrForbidden)
			}
			if _, err := f.desk.ApplyLifecycleAction(ctx, p("adam"), LifecycleActionInput{Service: "software-licence", Action: "retire"}); err != nil {
				t.Fatal(err)
			}
			// Nothing in flight: the service retires, its lifecycle ends, the catalog drops it.
			deadline := time.Now().Add(10 * time.Second)
			for {
				st, err := f.desk.Lifecycle(ctx, p("oscar"), "software-licence")
				if err == nil && st.Stage == catalog.StageRetired {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not retired: %v %+v", err, st)
				}
				time.Sleep(100 * time.Millisecond)
			}
			items, err := f.desk.Catalog(ctx, p("alice"), CatalogQuery{Include: IncludeIneligible})
			if err != nil || listed(items, "software-licence") != nil {
				t.Fatalf("a retired service in the catalog: %v", err)
			}
			_, err = f.desk.Service(ctx, p("alice"), "software-licence")
			if err != nil {
				// The live version stays readable; only requesting it is refused (Submit).
				wantKind(t, err, ErrNotFound)
			}
			deadline = time.Now().Add(10 * time.Second)
			for {
				_, err := f.desk.ApplyLifecycleAction(ctx, p("adam"), LifecycleActionInput{Service: "software-licence", Action: "deprecate"})
				if errors.Is(err, ErrConflict) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("an action on a retired service: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	})
}
