package activities_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// directory applies the example catalog to a fresh store.
func directory(t *testing.T, s *store.Store) *activities.Directory {
	t.Helper()
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	return &activities.Directory{Store: s}
}

func ids(people []catalog.PersonRef) string {
	var out []string
	for _, p := range people {
		out = append(out, p.ID)
	}
	return fmt.Sprint(out)
}

func TestResolveApprovers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		d := directory(t, s)
		ctx := context.Background()
		ethan, _ := s.Person(ctx, "ethan")
		felix, _ := s.Person(ctx, "felix")
		cases := []struct {
			name      string
			in        activities.ResolveApproversInput
			approvers string
			excluded  string
		}{
			{"manager", activities.ResolveApproversInput{Approvers: catalog.Approvers{Manager: true}, Requester: ethan}, "[carol]", ""},
			{"two-level chain", activities.ResolveApproversInput{Approvers: catalog.Approvers{Manager: true, Levels: 2}, Requester: ethan}, "[carol bob]", ""},
			{"chain ends at the top", activities.ResolveApproversInput{Approvers: catalog.Approvers{Manager: true, Levels: 9}, Requester: ethan}, "[carol bob grace]", ""},
			{"group", activities.ResolveApproversInput{Approvers: catalog.Approvers{Group: "finance-approvers"}, Requester: ethan}, "[farah fay felix]", ""},
			// Nobody approves their own request: Felix is in the group he would approve for.
			{"separation of duties", activities.ResolveApproversInput{Approvers: catalog.Approvers{Group: "finance-approvers"}, Requester: felix}, "[farah fay]", "felix"},
			{"earlier decider", activities.ResolveApproversInput{Approvers: catalog.Approvers{Group: "finance-approvers"}, Requester: ethan,
				Exclude: map[string]string{"fay": "decided step manager already"}}, "[farah felix]", "fay"},
			{"role", activities.ResolveApproversInput{Approvers: catalog.Approvers{Role: "operator"}, Requester: ethan}, "[oscar]", ""},
			{"owner", activities.ResolveApproversInput{Approvers: catalog.Approvers{Owner: true}, Requester: ethan, Owner: "omar"}, "[omar]", ""},
			{"requester's department head", activities.ResolveApproversInput{Approvers: catalog.Approvers{DepartmentHead: "requester"}, Requester: ethan}, "[bob]", ""},
			{"service's department head", activities.ResolveApproversInput{Approvers: catalog.Approvers{DepartmentHead: "service"}, Requester: ethan, Department: "legal"}, "[leo]", ""},
			{"managers of", activities.ResolveApproversInput{Requester: ethan, ManagersOf: []string{"dave", "farah"}}, "[tara felix]", ""},
			{"no duplicates", activities.ResolveApproversInput{Approvers: catalog.Approvers{Manager: true, People: []string{"carol"}, DepartmentHead: "requester", Levels: 2}, Requester: ethan}, "[carol bob]", ""},
		}
		for _, tc := range cases {
			res, err := d.ResolveApprovers(ctx, tc.in)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := ids(res.Approvers); got != tc.approvers {
				t.Errorf("%s: approvers %s, want %s", tc.name, got, tc.approvers)
			}
			var ex []string
			for _, x := range res.Excluded {
				ex = append(ex, x.ID)
			}
			if fmt.Sprint(ex) != fmt.Sprint(nonEmpty(tc.excluded)) {
				t.Errorf("%s: excluded %v, want %s", tc.name, res.Excluded, tc.excluded)
			}
		}
		if _, err := d.ResolveApprovers(ctx, activities.ResolveApproversInput{Approvers: catalog.Approvers{People: []string{"ghost"}}, Requester: ethan}); err == nil {
			t.Error("an unknown person resolved")
		}
	})
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
