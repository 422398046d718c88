package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// TestSCIMRevivedStartsFresh: an identity provider that reuses the id of someone who left, for a
// new hire, creates a new person, not the leaver again (issue 22). An admin removed (adam), and
// another deactivated (oscar, given admin for the test), are created again over SCIM with the
// same userName, and a third deactivated admin (omar) is reactivated (PATCH active=true, as an
// identity provider that matched the new hire to the old account does): no roles (the admin-only creation of another department's service is refused,
// where before it passed the rule and only Temporal, down here, stopped it), no groups but
// those the identity provider's group calls give (a User's groups in the body are read-only,
// RFC 7643 4.1.2), no delegations given or received.
func TestSCIMRevivedStartsFresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b, err := catalog.Load("../examples")
		if err != nil {
			t.Fatal(err)
		}
		var probe catalog.Definition
		for i, p := range b.People {
			if p.ID == "oscar" || p.ID == "omar" {
				b.People[i].Roles = append(b.People[i].Roles, catalog.RoleAdmin)
			}
		}
		for _, d := range b.Services {
			if d.Department == "hr" {
				probe = d
				break
			}
		}
		probe.Key, probe.Name = "revived-probe", "Revived probe"
		if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
			t.Fatal(err)
		}
		// Temporal is down: a call that passes the desk's rules fails after them (503), one
		// refused by them answers 403 before Temporal is asked.
		down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
		if err != nil {
			t.Fatal(err)
		}
		defer down.Close()
		secret := []byte("scim-revive-test-secret-00000000")
		srv := httptest.NewServer(New(Config{Store: s, JWTSecret: secret, Temporal: down, SCIMToken: "scim-secret",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
		defer srv.Close()
		c := scimClient{t: t, base: srv.URL + "/scim/v2", token: "scim-secret"}
		def, _ := json.Marshal(probe)
		createService := func(who string) int {
			t.Helper()
			tok, err := IssueToken(secret, who, time.Now(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(cctx, "POST", srv.URL+"/v1/catalog/services", strings.NewReader(string(def)))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		patchOp := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`

		for _, tc := range []struct{ who, leave, back string }{{"adam", "remove", "create"}, {"oscar", "deactivate", "create"}, {"omar", "deactivate", "reactivate"}} {
			t.Run(tc.who+" "+tc.leave+" "+tc.back, func(t *testing.T) {
				now := time.Now()
				// The leaver: an admin, in two groups, with a delegation given and one received.
				if p, err := s.Person(ctx, tc.who); err != nil || !p.HasRole(catalog.RoleAdmin) {
					t.Fatalf("%s before: %+v %v", tc.who, p, err)
				}
				for _, g := range []string{"it-network", "change-board"} {
					if code, res := c.do("PATCH", "/Groups/"+g, patchOp+`{"op":"add","path":"members","value":[{"value":"`+tc.who+`"}]}]}`); code != 200 {
						t.Fatalf("add %s to %s: %d %v", tc.who, g, code, res)
					}
				}
				for _, d := range []store.Delegation{{Person: tc.who, Delegate: "grace"}, {Person: "ivan", Delegate: tc.who}} {
					d.StartsAt, d.EndsAt, d.CreatedAt = now.Add(-time.Hour), now.Add(7*24*time.Hour), now
					if _, err := s.CreateDelegation(ctx, d); err != nil {
						t.Fatal(err)
					}
				}
				if code := createService(tc.who); code == http.StatusForbidden || code < 500 {
					t.Fatalf("the admin %s before leaving: %d, want the rule passed and Temporal's 5xx", tc.who, code)
				}

				switch tc.leave {
				case "remove":
					if code, res := c.do("DELETE", "/Users/"+tc.who, ""); code != http.StatusNoContent {
						t.Fatalf("delete: %d %v", code, res)
					}
				case "deactivate":
					if code, res := c.do("PATCH", "/Users/"+tc.who, patchOp+`{"op":"replace","value":{"active":false}}]}`); code != 200 {
						t.Fatalf("deactivate: %d %v", code, res)
					}
				}

				// A new hire given the same userName; the body claims the old groups (read-only).
				var code int
				var u map[string]any
				if tc.back == "create" {
					code, u = c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+tc.who+`",
						"displayName":"New `+tc.who+`","active":true,"groups":[{"value":"it-network"},{"value":"change-board"}]}`)
					if code != http.StatusCreated {
						t.Fatalf("create again: %d %v", code, u)
					}
				} else {
					code, u = c.do("PATCH", "/Users/"+tc.who, patchOp+`{"op":"replace","value":{"active":true,"displayName":"New `+tc.who+`"}}]}`)
					if code != 200 {
						t.Fatalf("reactivate: %d %v", code, u)
					}
				}
				if u["groups"] != nil {
					t.Errorf("the new %s's groups in the answer: %v, want none", tc.who, u["groups"])
				}
				p, err := s.Person(ctx, tc.who)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Roles) != 0 || p.HasRole(catalog.RoleAdmin) || len(p.Groups) != 0 || len(p.Attributes) != 0 {
					t.Errorf("the new %s inherits the leaver's access: roles %v, groups %v, attributes %v", tc.who, p.Roles, p.Groups, p.Attributes)
				}
				if ds, _ := s.Delegations(ctx, tc.who, time.Now()); len(ds) != 0 {
					t.Errorf("the new %s inherits delegations: %+v", tc.who, ds)
				}
				if ds, _ := s.Delegators(ctx, tc.who, time.Now()); len(ds) != 0 {
					t.Errorf("the new %s decides for %v", tc.who, ds)
				}
				if code := createService(tc.who); code != http.StatusForbidden {
					t.Errorf("the new %s creates another department's service (admin only): %d, want 403", tc.who, code)
				}

				// Groups are what the identity provider gives them now, and only that.
				if code, res := c.do("PATCH", "/Groups/it-service-desk", patchOp+`{"op":"add","path":"members","value":[{"value":"`+tc.who+`"}]}]}`); code != 200 {
					t.Fatalf("add to it-service-desk: %d %v", code, res)
				}
				if p, _ := s.Person(ctx, tc.who); !reflect.DeepEqual(p.Groups, []string{"it-service-desk"}) {
					t.Errorf("the new %s's groups: %v, want [it-service-desk]", tc.who, p.Groups)
				}
				code, u = c.do("GET", "/Users/"+tc.who, "")
				if code != 200 || u["active"] != true {
					t.Fatalf("get: %d %v", code, u)
				}
				var gs []string
				for _, g := range u["groups"].([]any) {
					gs = append(gs, g.(map[string]any)["value"].(string))
				}
				if !slices.Equal(gs, []string{"it-service-desk"}) {
					t.Errorf("SCIM groups of the new %s: %v", tc.who, gs)
				}
			})
		}
	})
}
