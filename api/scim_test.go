package api

import (
	"bytes"
	"context"
	"encoding/json"
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
