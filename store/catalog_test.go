package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// storetest.Open migrated once already; twice more must be no-ops that keep the data.
		apply(t, s, bundle(t), t0)
		for i := 0; i < 2; i++ {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrate again (%d): %v", i+1, err)
			}
		}
		if _, err := s.CurrentService(ctx, "laptop"); err != nil {
			t.Fatalf("service after re-migrating: %v", err)
		}
	})
}

func TestApplyBundleIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := bundle(t)
		first := apply(t, s, b, t0)
		want := store.ApplyReport{Departments: 2, Groups: 1, People: 4, Versions: []string{"laptop@1"}}
		if !reflect.DeepEqual(first, want) {
			t.Fatalf("first apply = %+v, want %+v", first, want)
		}

		second := apply(t, s, bundle(t), t0.Add(time.Hour))
		if len(second.Versions) != 0 || second.Unchanged != len(b.Services) {
			t.Fatalf("second apply = %+v, want no new versions and %d unchanged", second, len(b.Services))
		}
		sv, err := s.CurrentService(context.Background(), "laptop")
		if err != nil {
			t.Fatal(err)
		}
		if sv.Version != 1 || !sv.CreatedAt.Equal(t0) {
			t.Fatalf("current = v%d created %v, want v1 created %v", sv.Version, sv.CreatedAt, t0)
		}
	})
}

func TestApplyBundleVersionsChangedService(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		apply(t, s, bundle(t), t0)

		b := bundle(t)
		b.Services[0].Name = "Laptop (2025 range)"
		rep := apply(t, s, b, t0.Add(time.Hour))
		if !reflect.DeepEqual(rep.Versions, []string{"laptop@2"}) || rep.Unchanged != 0 {
			t.Fatalf("apply = %+v, want versions [laptop@2] and none unchanged", rep)
		}

		cur, err := s.CurrentService(ctx, "laptop")
		if err != nil {
			t.Fatal(err)
		}
		if cur.Version != 2 || cur.Definition.Name != "Laptop (2025 range)" {
			t.Fatalf("current = v%d %q, want v2 %q", cur.Version, cur.Definition.Name, "Laptop (2025 range)")
		}
		// The stored definition is the whole definition, not just the changed field.
		if !reflect.DeepEqual(cur.Definition, b.Services[0]) {
			t.Fatalf("current definition = %+v\nwant %+v", cur.Definition, b.Services[0])
		}
		old, err := s.ServiceAt(ctx, "laptop", 1)
		if err != nil {
			t.Fatal(err)
		}
		if old.Version != 1 || old.Definition.Name != "Laptop" {
			t.Fatalf("v1 = v%d %q, want v1 %q", old.Version, old.Definition.Name, "Laptop")
		}
		if _, err := s.ServiceAt(ctx, "laptop", 3); err != store.ErrNotFound {
			t.Fatalf("v3: err = %v, want ErrNotFound", err)
		}
		if _, err := s.CurrentService(ctx, "printer"); err != store.ErrNotFound {
			t.Fatalf("unknown service: err = %v, want ErrNotFound", err)
		}
	})
}

func TestApplyBundleDirectory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := bundle(t)
		apply(t, s, b, t0)

		for _, want := range b.People {
			got, err := s.Person(ctx, want.ID)
			if err != nil {
				t.Fatalf("person %s: %v", want.ID, err)
			}
			if got.ID != want.ID || got.Name != want.Name || got.Email != want.Email ||
				got.Department != want.Department || got.Manager != want.Manager ||
				!sameStrings(got.Groups, want.Groups) || !sameStrings(got.Roles, want.Roles) ||
				!sameAttributes(got.Attributes, want.Attributes) {
				t.Errorf("person %s = %+v, want %+v", want.ID, got, want)
			}
		}
		if _, err := s.Person(ctx, "nobody"); err != store.ErrNotFound {
			t.Fatalf("unknown person: err = %v, want ErrNotFound", err)
		}
		if got := memberIDs(t, s, "service-desk"); !reflect.DeepEqual(got, []string{"dave", "ivan"}) {
			t.Fatalf("service-desk members = %v, want [dave ivan]", got)
		}

		// Dave leaves the group: reapplying removes the membership, and only his.
		for i := range b.People {
			if b.People[i].ID == "dave" {
				b.People[i].Groups = nil
			}
		}
		apply(t, s, b, t0.Add(time.Hour))
		if got := memberIDs(t, s, "service-desk"); !reflect.DeepEqual(got, []string{"ivan"}) {
			t.Fatalf("service-desk members after dave left = %v, want [ivan]", got)
		}
		dave, err := s.Person(ctx, "dave")
		if err != nil {
			t.Fatal(err)
		}
		if len(dave.Groups) != 0 {
			t.Fatalf("dave's groups = %v, want none", dave.Groups)
		}
	})
}

func memberIDs(t *testing.T, s *store.Store, group string) []string {
	t.Helper()
	members, err := s.GroupMembers(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	return ids
}

// sameStrings compares string lists, treating nil and empty alike.
func sameStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func sameAttributes(a, b map[string]string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// TestApplyAfterDraft: applying a changed definition while a draft is saved takes the next free
// version number instead of colliding with the draft's.
func TestApplyAfterDraft(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := bundle(t)
		if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
			t.Fatal(err)
		}
		draft := b.Services[0]
		draft.Summary = "a draft"
		if v, err := s.SaveDraft(ctx, draft, 0, time.Now()); err != nil || v != 2 {
			t.Fatalf("draft: %d %v", v, err)
		}
		b.Services[0].Name = "Renamed from the files"
		rep, err := s.ApplyBundle(ctx, b, time.Now())
		if err != nil || len(rep.Versions) != 1 || rep.Versions[0] != b.Services[0].Key+"@3" {
			t.Fatalf("apply after a draft: %v %v", rep, err)
		}
	})
}
