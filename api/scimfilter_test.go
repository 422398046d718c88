package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestSCIMRemoveMembersByFilter: a group PATCH removing members[<filter>] removes the members the
// filter matches, by the filter's meaning (RFC 7644 3.5.2.2), not every member whose id appears
// quoted in it: before, members[value ne "alice"] removed alice and kept everyone else. A
// filter on an attribute a member does not have is a 400 (invalidFilter), never a guess. On
// each database.
func TestSCIMRemoveMembersByFilter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b, err := catalog.Load("../examples")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(New(Config{Store: s, SCIMToken: "scim-secret", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
		defer srv.Close()
		c := scimClient{t: t, base: srv.URL + "/scim/v2", token: "scim-secret"}
		members := func(g map[string]any) []string {
			var out []string
			list, _ := g["members"].([]any)
			for _, m := range list {
				out = append(out, m.(map[string]any)["value"].(string))
			}
			slices.Sort(out)
			return out
		}
		code, g := c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Filter Test",
			"members":[{"value":"alice"},{"value":"bob"},{"value":"ivan"}]}`)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, g)
		}
		patch := func(path string) (int, map[string]any) {
			return c.do("PATCH", "/Groups/filter-test", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
				{"op":"remove","path":"members[`+strings.ReplaceAll(path, `"`, `\"`)+`]"}]}`)
		}
		code, g = patch(`value ne "alice"`)
		if code != http.StatusOK || !slices.Equal(members(g), []string{"alice"}) {
			t.Fatalf(`remove members[value ne "alice"]: %d, members %v (want [alice])`, code, members(g))
		}
		c.do("PATCH", "/Groups/filter-test", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"add","path":"members","value":[{"value":"bob"},{"value":"ivan"}]}]}`)
		code, g = patch(`value sw "b"`)
		if code != http.StatusOK || !slices.Equal(members(g), []string{"alice", "ivan"}) {
			t.Fatalf(`remove members[value sw "b"]: %d, members %v (want [alice ivan])`, code, members(g))
		}
		code, g = patch(`value eq "ivan" or value eq "alice"`)
		if code != http.StatusOK || len(members(g)) != 0 {
			t.Fatalf(`remove members[value eq "ivan" or value eq "alice"]: %d, members %v (want none)`, code, members(g))
		}
		if code, g = patch(`manager eq "bob"`); code != http.StatusBadRequest {
			t.Fatalf(`remove members[manager eq "bob"]: %d %v (want 400)`, code, g)
		}
	})
}
