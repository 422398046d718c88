package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// rfcUserSchema is the shape RFC 7643 gives a User resource (section 4.1, 3.1 common
// attributes, 4.3 enterprise extension, 8.2 full representation), as a JSON Schema: what an
// identity provider reads back must hold to it.
const rfcUserSchema = `{
  "type": "object",
  "required": ["schemas", "id", "userName", "meta"],
  "properties": {
    "schemas": {"type": "array", "items": {"type": "string"}, "contains": {"const": "urn:ietf:params:scim:schemas:core:2.0:User"}},
    "id": {"type": "string", "minLength": 1},
    "externalId": {"type": "string"},
    "userName": {"type": "string", "minLength": 1},
    "displayName": {"type": "string"},
    "active": {"type": "boolean"},
    "name": {"type": "object", "properties": {"givenName": {"type": "string"}, "familyName": {"type": "string"}, "formatted": {"type": "string"}}},
    "emails": {"type": "array", "items": {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}, "primary": {"type": "boolean"}}}},
    "groups": {"type": "array", "items": {"type": "object", "required": ["value"]}},
    "meta": {"type": "object", "required": ["resourceType", "location"], "properties": {"resourceType": {"const": "User"}, "created": {"type": "string", "format": "date-time"}, "lastModified": {"type": "string", "format": "date-time"}}},
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"type": "object", "properties": {
      "department": {"type": "string"},
      "manager": {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}}}}
  }
}`

// rfcListSchema: RFC 7644 3.4.2 ListResponse.
const rfcListSchema = `{
  "type": "object",
  "required": ["schemas", "totalResults", "Resources", "startIndex", "itemsPerPage"],
  "properties": {
    "schemas": {"const": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]},
    "totalResults": {"type": "integer", "minimum": 0},
    "startIndex": {"type": "integer", "minimum": 1},
    "itemsPerPage": {"type": "integer", "minimum": 0},
    "Resources": {"type": "array"}
  }
}`

// rfcGroupSchema: RFC 7643 4.2.
const rfcGroupSchema = `{
  "type": "object",
  "required": ["schemas", "id", "displayName", "meta"],
  "properties": {
    "schemas": {"const": ["urn:ietf:params:scim:schemas:core:2.0:Group"]},
    "displayName": {"type": "string"},
    "members": {"type": "array", "items": {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}, "type": {"enum": ["User", "Group"]}}}},
    "meta": {"type": "object", "required": ["resourceType"], "properties": {"resourceType": {"const": "Group"}}}
  }
}`

func compile(t *testing.T, name, doc string) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, v); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

type scimClient struct {
	t     *testing.T
	base  string
	token string
}

func (c scimClient) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
		}
	}
	return res.StatusCode, out
}

func valid(t *testing.T, sch *jsonschema.Schema, doc map[string]any, what string) {
	t.Helper()
	raw, _ := json.Marshal(doc)
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s breaks the RFC's schema: %v\n%s", what, err, raw)
	}
}

// TestSCIMOktaAndEntra replays the calls Okta and Entra ID make when they provision: look the
// user up by userName, create, set the manager (enterprise extension), add to a group, list
// with a filter, deactivate (PATCH active=false), remove a member; each answer is checked
// against the RFC's schemas and the directory tables the YAML writes too.
func TestSCIMOktaAndEntra(t *testing.T) {
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
		users, lists, groups := compile(t, "user.json", rfcUserSchema), compile(t, "list.json", rfcListSchema), compile(t, "group.json", rfcGroupSchema)

		// The token is the SCIM one, compared whole.
		if code, _ := (scimClient{t: t, base: c.base, token: "scim-secre"}).do("GET", "/Users", ""); code != http.StatusUnauthorized {
			t.Errorf("a wrong token: %d", code)
		}

		// Okta: does the user exist? (GET with a filter on userName, paging)
		code, list := c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "nora.new@example.com"`)+"&startIndex=1&count=100", "")
		if code != 200 || list["totalResults"] != float64(0) {
			t.Fatalf("lookup before create: %d %v", code, list)
		}
		valid(t, lists, list, "the empty list")

		// Okta: create.
		code, u := c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":"nora.new@example.com","name":{"givenName":"Nora","familyName":"New"},
			"emails":[{"primary":true,"value":"nora.new@example.com","type":"work"}],"displayName":"Nora New","active":true,
			"externalId":"00u1abcd","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Information Technology"}}`)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, u)
		}
		valid(t, users, u, "the created user")
		p, err := s.Person(ctx, "nora.new@example.com")
		if err != nil || p.Name != "Nora New" || p.Email != "nora.new@example.com" {
			t.Fatalf("the directory after create: %+v %v", p, err)
		}
		// A retried create is a conflict (RFC 7644 3.3: uniqueness).
		if code, _ := c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"nora.new@example.com"}`); code != http.StatusConflict {
			t.Errorf("a second create: %d", code)
		}

		// Entra ID: set the manager with a plain string value, and the department by path.
		code, u = c.do("PATCH", "/Users/nora.new@example.com", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"ivan"},
			{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"it"}]}`)
		if code != 200 {
			t.Fatalf("patch manager: %d %v", code, u)
		}
		valid(t, users, u, "the user with a manager")
		if p, _ := s.Person(ctx, "nora.new@example.com"); p.Manager != "ivan" || p.Department != "it" {
			t.Errorf("manager and department: %+v", p)
		}
		// Okta: the manager as the extension's object.
		if code, _ := c.do("PATCH", "/Users/nora.new@example.com", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"grace"}}}}]}`); code != 200 {
			t.Errorf("okta manager: %d", code)
		}
		if p, _ := s.Person(ctx, "nora.new@example.com"); p.Manager != "grace" {
			t.Errorf("okta manager: %+v", p)
		}

		// Okta: group membership, add then remove by filter; Entra: add and remove lists.
		code, g := c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Okta Admins","members":[]}`)
		if code != http.StatusCreated {
			t.Fatalf("create group: %d %v", code, g)
		}
		valid(t, groups, g, "the created group")
		gid := g["id"].(string)
		code, g = c.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"add","path":"members","value":[{"value":"nora.new@example.com","display":"nora.new@example.com"},{"value":"ivan"}]}]}`)
		if code != 200 || len(g["members"].([]any)) != 2 {
			t.Fatalf("add members: %d %v", code, g)
		}
		if p, _ := s.Person(ctx, "nora.new@example.com"); !p.InGroup(gid) {
			t.Errorf("the directory has no membership of %s: %+v", gid, p)
		}
		code, g = c.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"remove","path":"members[value eq \"ivan\"]"}]}`)
		if code != 200 || len(g["members"].([]any)) != 1 {
			t.Fatalf("okta remove member: %d %v", code, g)
		}
		code, g = c.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Replace","path":"displayName","value":"Okta Admins 2"},
			{"op":"Remove","path":"members","value":[{"$ref":null,"value":"nora.new@example.com"}]}]}`)
		if code != 200 || len(g["members"].([]any)) != 0 || g["displayName"] != "Okta Admins 2" {
			t.Fatalf("entra remove member: %d %v", code, g)
		}
		valid(t, groups, g, "the patched group")
		if code, _ := c.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"add","path":"members","value":[{"value":"nobody-here"}]}]}`); code != http.StatusBadRequest {
			t.Errorf("a member who is not in the directory: %d", code)
		}

		// List with a filter: the RFC's ListResponse, paging over the people.
		code, list = c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "nora.new@example.com"`), "")
		if code != 200 || list["totalResults"] != float64(1) {
			t.Fatalf("filter: %d %v", code, list)
		}
		valid(t, lists, list, "the filtered list")
		valid(t, users, list["Resources"].([]any)[0].(map[string]any), "a listed user")
		code, list = c.do("GET", "/Users?startIndex=3&count=2", "")
		if code != 200 || len(list["Resources"].([]any)) != 2 || list["startIndex"] != float64(3) || list["totalResults"].(float64) < 40 {
			t.Fatalf("paging: %d %v", code, list)
		}
		code, list = c.do("GET", "/Groups?filter="+url.QueryEscape(`displayName eq "Okta Admins 2"`), "")
		if code != 200 || list["totalResults"] != float64(1) {
			t.Fatalf("group filter: %d %v", code, list)
		}

		// Okta deactivates: PATCH without a path. The person leaves the directory's readers.
		code, u = c.do("PATCH", "/Users/nora.new@example.com", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
		if code != 200 || u["active"] != false {
			t.Fatalf("deactivate: %d %v", code, u)
		}
		valid(t, users, u, "the deactivated user")
		if _, err := s.Person(ctx, "nora.new@example.com"); err != store.ErrNotFound {
			t.Errorf("a deactivated person is still in the directory: %v", err)
		}
		// Entra ID deactivates ivan by path; then deletes him.
		if code, u := c.do("PATCH", "/Users/ivan", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":false}]}`); code != 200 || u["active"] != false {
			t.Errorf("entra deactivate: %d %v", code, u)
		}
		if code, _ := c.do("DELETE", "/Users/ivan", ""); code != http.StatusNoContent {
			t.Errorf("delete: %d", code)
		}
		if code, _ := c.do("GET", "/Users/ivan", ""); code != http.StatusNotFound {
			t.Errorf("a deleted user: %d", code)
		}
		// Bad input names the field and the rule.
		code, e := c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"has space"}`)
		if code != http.StatusBadRequest || !strings.Contains(e["detail"].(string), "userName") {
			t.Errorf("a bad userName: %d %v", code, e)
		}
	})
}

// failChanges makes every insert into directory_changes fail (a trigger raising an error) until
// the returned function removes it: the database failing between the person's write and the
// change's record.
func failChanges(t *testing.T, s *store.Store) (restore func()) {
	t.Helper()
	ctx := context.Background()
	create := []string{`CREATE TRIGGER fail_change BEFORE INSERT ON directory_changes BEGIN SELECT RAISE(ABORT, 'directory_changes is failing'); END`}
	drop := []string{`DROP TRIGGER fail_change`}
	if s.Dialect() == "postgres" {
		create = []string{`CREATE FUNCTION fail_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'directory_changes is failing'; END $$`,
			`CREATE TRIGGER fail_change BEFORE INSERT ON directory_changes FOR EACH ROW EXECUTE FUNCTION fail_change()`}
		drop = []string{`DROP TRIGGER fail_change ON directory_changes`, `DROP FUNCTION fail_change()`}
	}
	for _, q := range create {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for _, q := range drop {
			if _, err := s.DB.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSCIMChangeRecordedWithPerson (issue 22, both databases): the person's write and the
// leaver/mover change's record are one transaction. With the record failing (a trigger on
// directory_changes), a deactivation (PATCH), a new manager (PUT) and a removal (DELETE) each
// answer an error and leave the person as they were; the identity provider's retry, once the
// database is well, changes the person and records the change, once.
func TestSCIMChangeRecordedWithPerson(t *testing.T) {
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
		changes := func(person string) []string {
			t.Helper()
			var kinds []string
			if err := s.DB.SelectContext(ctx, &kinds, s.DB.Rebind(`SELECT kind FROM directory_changes WHERE person_id = ? ORDER BY key`), person); err != nil {
				t.Fatal(err)
			}
			return kinds
		}
		once := func(person, kind string) {
			t.Helper()
			if got := changes(person); len(got) != 1 || got[0] != kind {
				t.Errorf("%s's changes = %v, want one %s", person, got, kind)
			}
		}
		failed := func(what string, code int) {
			t.Helper()
			if code < 500 {
				t.Errorf("%s with the change's record failing: %d, want a server error for the identity provider to retry", what, code)
			}
		}

		deactivate := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
		frank := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":"frank","displayName":"Frank Osei","active":true,"emails":[{"primary":true,"value":"frank@example.com"}],
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"IT","manager":{"value":"nina"}}}`

		restore := failChanges(t, s)
		code, _ := c.do("PATCH", "/Users/dave", deactivate)
		failed("deactivating dave", code)
		if p, err := s.DirectoryPerson(ctx, "dave"); err != nil || !p.Active {
			t.Errorf("dave after the failed deactivation: %+v %v, want still active", p, err)
		}
		code, _ = c.do("PUT", "/Users/frank", frank)
		failed("moving frank", code)
		if p, err := s.DirectoryPerson(ctx, "frank"); err != nil || p.Manager != "tara" {
			t.Errorf("frank after the failed move: %+v %v, want manager tara still", p, err)
		}
		code, _ = c.do("DELETE", "/Users/omar", "")
		failed("removing omar", code)
		if p, err := s.DirectoryPerson(ctx, "omar"); err != nil || !p.Active {
			t.Errorf("omar after the failed removal: %+v %v, want still there and active", p, err)
		}
		for _, who := range []string{"dave", "frank", "omar"} {
			if got := changes(who); len(got) != 0 {
				t.Errorf("%s's changes with the record failing: %v", who, got)
			}
		}
		restore()

		// The identity provider retries; then retries again (a lost answer): one change each.
		for i := 0; i < 2; i++ {
			if code, u := c.do("PATCH", "/Users/dave", deactivate); code != http.StatusOK {
				t.Fatalf("retried deactivation %d: %d %v", i, code, u)
			}
			if code, u := c.do("PUT", "/Users/frank", frank); code != http.StatusOK {
				t.Fatalf("retried move %d: %d %v", i, code, u)
			}
		}
		if code, u := c.do("DELETE", "/Users/omar", ""); code != http.StatusNoContent {
			t.Fatalf("retried removal: %d %v", code, u)
		}
		if code, _ := c.do("DELETE", "/Users/omar", ""); code != http.StatusNotFound {
			t.Errorf("a second removal: %d, want 404", code)
		}
		if p, err := s.DirectoryPerson(ctx, "dave"); err != nil || p.Active {
			t.Errorf("dave after the retry: %+v %v, want inactive", p, err)
		}
		if p, err := s.DirectoryPerson(ctx, "frank"); err != nil || p.Manager != "nina" {
			t.Errorf("frank after the retry: %+v %v, want manager nina", p, err)
		}
		if _, err := s.DirectoryPerson(ctx, "omar"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("omar after the retry: %v, want removed", err)
		}
		once("dave", store.ChangeLeft)
		once("frank", store.ChangeMoved)
		once("omar", store.ChangeLeft)
		if got, err := s.UnstartedChanges(ctx, 10); err != nil || len(got) != 3 {
			t.Errorf("unstarted changes for the sweep: %+v %v, want 3", got, err)
		}
	})
}
