package api

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
	scimfilter "github.com/scim2/filter-parser/v2"
)

// SCIM 2.0 (RFC 7643, 7644) at /scim/v2 with github.com/elimity-com/scim: Users (core schema
// and the enterprise extension's department and manager) and Groups. The library parses and
// validates bodies against the RFC's schemas, parses filters and paging, and answers errors
// as SCIM errors; this file maps resources to the desk's provisioning calls (desk/directory.go)
// and applies PATCH operations in the shapes Okta and Entra ID send. Its own bearer token
// (Config.SCIMToken, ESM_SCIM_TOKEN) is compared in constant time; with none set, /scim/v2 is
// not served. Lists filter in memory (the library's filter.Validator) over the directory: a
// directory of tens of thousands is read whole per list call.

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func (s *Server) scimRoutes(r *gin.Engine, token string) {
	srv, err := newSCIMServer(s)
	if err != nil {
		panic(err) // the schemas are constants: a failure is a programming error
	}
	h := http.StripPrefix("/scim/v2", srv)
	serve := func(c *gin.Context) {
		got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="scim"`)
			c.Data(http.StatusUnauthorized, "application/scim+json",
				[]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"a SCIM call needs the SCIM bearer token (ESM_SCIM_TOKEN)"}`))
			return
		}
		if c.Request.Method == http.MethodPatch {
			entraManager(c.Request)
		}
		h.ServeHTTP(c.Writer, c.Request)
	}
	r.Any("/scim/v2", serve)
	r.Any("/scim/v2/*path", serve)
}

// entraManager rewrites the manager operations Entra ID sends, the manager's id as a plain
// string ({"path": "...:manager", "value": "id"}), into the RFC's complex value ({"value": "id"})
// before the library validates the body against the enterprise schema. Other bodies pass as
// they came.
func entraManager(r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if err != nil {
		return
	}
	var body map[string]any
	if json.Unmarshal(raw, &body) != nil {
		return
	}
	ops, _ := body["Operations"].([]any)
	changed := false
	for _, o := range ops {
		op, _ := o.(map[string]any)
		path, _ := op["path"].(string)
		if v, ok := op["value"].(string); ok && strings.EqualFold(path, enterpriseURN+":manager") {
			op["value"] = map[string]any{"value": v}
			changed = true
		}
	}
	if changed {
		raw, _ = json.Marshal(body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.ContentLength = int64(len(raw))
	}
}

func newSCIMServer(s *Server) (scim.Server, error) {
	return scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			DocumentationURI: optional.NewString("https://github.com/esmhq/esm/blob/main/README.md#scim"),
			MaxResults:       200,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []scim.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Description: optional.NewString("People in the ESM directory"),
				Schema: schema.CoreUserSchema(), SchemaExtensions: []scim.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}},
				Handler: scimUsers{s}},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Description: optional.NewString("Groups of fulfillers and approvers"),
				Schema: schema.CoreGroupSchema(), Handler: scimGroups{s}},
		},
	})
}

// scimError maps the desk's errors to SCIM errors (RFC 7644 3.12).
func scimError(err error) error {
	var v *desk.ValidationError
	switch {
	case errors.As(err, &v):
		return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: v.Detail}
	case errors.Is(err, desk.ErrNotFound):
		return scimerr.ScimError{Status: http.StatusNotFound, Detail: err.Error()}
	}
	return err
}

func micros(us int64) *time.Time {
	if us == 0 {
		return nil
	}
	t := time.UnixMicro(us).UTC()
	return &t
}

type scimUsers struct{ s *Server }

func userResource(p store.DirPerson) scim.Resource {
	attrs := scim.ResourceAttributes{
		"userName":    p.ID,
		"displayName": p.Name,
		"active":      p.Active,
		"name":        map[string]interface{}{"formatted": p.Name, "givenName": p.GivenName, "familyName": p.FamilyName},
	}
	if p.Email != "" {
		attrs["emails"] = []interface{}{map[string]interface{}{"value": p.Email, "type": "work", "primary": true}}
	}
	ent := map[string]interface{}{"department": p.Department}
	if p.Manager != "" {
		ent["manager"] = map[string]interface{}{"value": p.Manager}
	}
	attrs[enterpriseURN] = ent
	if len(p.Groups) > 0 {
		var gs []interface{}
		for _, g := range p.Groups {
			gs = append(gs, map[string]interface{}{"value": g, "display": g})
		}
		attrs["groups"] = gs
	}
	r := scim.Resource{ID: p.ID, Attributes: attrs, Meta: scim.Meta{Created: micros(p.Created), LastModified: micros(p.Modified)}}
	if p.Modified != 0 {
		r.Meta.Version = fmt.Sprintf(`W/"%d"`, p.Modified)
	}
	if p.ExternalID != "" {
		r.ExternalID = optional.NewString(p.ExternalID)
	}
	return r
}

func str(m map[string]interface{}, k string) string {
	v, _ := m[k].(string)
	return v
}

// personFrom reads the attributes of a User (after validation by the library's schemas).
func personFrom(id string, a scim.ResourceAttributes) store.DirPerson {
	p := store.DirPerson{ID: id, Active: true, ExternalID: str(a, "externalId")}
	if p.ID == "" {
		p.ID = str(a, "userName")
	}
	if v, ok := a["active"].(bool); ok {
		p.Active = v
	}
	if n, ok := a["name"].(map[string]interface{}); ok {
		p.GivenName, p.FamilyName = str(n, "givenName"), str(n, "familyName")
		p.Name = str(n, "formatted")
		if p.Name == "" {
			p.Name = strings.TrimSpace(p.GivenName + " " + p.FamilyName)
		}
	}
	if dn := str(a, "displayName"); dn != "" {
		p.Name = dn
	}
	if es, ok := a["emails"].([]interface{}); ok {
		for _, e := range es {
			if m, ok := e.(map[string]interface{}); ok && (p.Email == "" || m["primary"] == true) {
				p.Email = str(m, "value")
			}
		}
	}
	if ent, ok := a[enterpriseURN].(map[string]interface{}); ok {
		p.Department = str(ent, "department")
		if m, ok := ent["manager"].(map[string]interface{}); ok {
			p.Manager = str(m, "value")
		} else if m, ok := ent["manager"].(string); ok {
			p.Manager = m // Entra ID sends the manager's id as a plain string
		}
	}
	return p
}

// Create provisions a new person. A userName held by someone active is a conflict (409); one
// held by someone deactivated (or removed) is taken by the new person, who starts with none of
// the leaver's roles, groups or delegations (desk.ProvisionPerson).
func (u scimUsers) Create(r *http.Request, a scim.ResourceAttributes) (scim.Resource, error) {
	p := personFrom("", a)
	if cur, err := u.s.desk.ProvisionedPerson(r.Context(), p.ID); err == nil && cur.Active {
		return scim.Resource{}, scimerr.ScimError{Status: http.StatusConflict, ScimType: scimerr.ScimTypeUniqueness, Detail: "userName " + p.ID + " exists"}
	}
	got, _, err := u.s.desk.ProvisionPerson(r.Context(), p)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	return userResource(got), nil
}

func (u scimUsers) Get(r *http.Request, id string) (scim.Resource, error) {
	p, err := u.s.desk.ProvisionedPerson(r.Context(), id)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	return userResource(p), nil
}

// scimPage filters resources with the request's filter and cuts the page (startIndex is 1-based).
func scimPage(all []scim.Resource, params scim.ListRequestParams) scim.Page {
	var kept []scim.Resource
	for _, res := range all {
		if params.FilterValidator != nil {
			attrs := scim.ResourceAttributes{"id": res.ID}
			for k, v := range res.Attributes {
				attrs[k] = v
			}
			if res.ExternalID.Present() {
				attrs["externalId"] = res.ExternalID.Value()
			}
			if params.FilterValidator.PassesFilter(attrs) != nil {
				continue
			}
		}
		kept = append(kept, res)
	}
	out := scim.Page{TotalResults: len(kept), Resources: []scim.Resource{}}
	start := max(params.StartIndex, 1) - 1
	for i := start; i < len(kept) && len(out.Resources) < params.Count; i++ {
		out.Resources = append(out.Resources, kept[i])
	}
	return out
}

func (u scimUsers) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	people, err := u.s.desk.ProvisionedPeople(r.Context())
	if err != nil {
		return scim.Page{}, err
	}
	all := make([]scim.Resource, 0, len(people))
	for _, p := range people {
		all = append(all, userResource(p))
	}
	return scimPage(all, params), nil
}

func (u scimUsers) Replace(r *http.Request, id string, a scim.ResourceAttributes) (scim.Resource, error) {
	if _, err := u.s.desk.ProvisionedPerson(r.Context(), id); err != nil {
		return scim.Resource{}, scimError(err)
	}
	if un := str(a, "userName"); un != "" && un != id {
		return scim.Resource{}, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeMutability, Detail: "userName: an ESM id does not change (" + id + ")"}
	}
	got, _, err := u.s.desk.ProvisionPerson(r.Context(), personFrom(id, a))
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	return userResource(got), nil
}

func (u scimUsers) Delete(r *http.Request, id string) error {
	_, err := u.s.desk.DeprovisionPerson(r.Context(), id)
	return scimError(err)
}

// Patch applies the operations to the user's current attributes, then replaces them.
func (u scimUsers) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	cur, err := u.s.desk.ProvisionedPerson(r.Context(), id)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	a := userResource(cur).Attributes
	a["externalId"] = cur.ExternalID
	for _, op := range ops {
		if err := patchUser(a, op); err != nil {
			return scim.Resource{}, err
		}
	}
	if un := str(a, "userName"); un != id {
		return scim.Resource{}, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeMutability, Detail: "userName: an ESM id does not change (" + id + ")"}
	}
	got, _, err := u.s.desk.ProvisionPerson(r.Context(), personFrom(id, a))
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	return userResource(got), nil
}

func patchUser(a scim.ResourceAttributes, op scim.PatchOperation) error {
	kind := strings.ToLower(op.Op)
	if op.Path == nil {
		// Okta: {"op":"replace","value":{"active":false}}; keys may carry the extension's URN.
		m, ok := op.Value.(map[string]interface{})
		if !ok {
			return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: "an operation without a path has an object value"}
		}
		for k, v := range m {
			if err := setUserAttr(a, kind, k, v); err != nil {
				return err
			}
		}
		return nil
	}
	name := op.Path.AttributePath.AttributeName
	if op.Path.AttributePath.URIPrefix != nil {
		name = op.Path.AttributePath.URI() + ":" + name
	}
	if sub := op.Path.AttributePath.SubAttribute; sub != nil {
		name += "." + *sub
	}
	if op.Path.ValueExpression != nil && op.Path.AttributePath.AttributeName == "emails" {
		name = "emails" // emails[type eq "work"].value: ESM keeps one address
	}
	if kind == "remove" {
		return setUserAttr(a, kind, name, nil)
	}
	return setUserAttr(a, kind, name, op.Value)
}

func setUserAttr(a scim.ResourceAttributes, kind, path string, v interface{}) error {
	ent, _ := a[enterpriseURN].(map[string]interface{})
	if ent == nil {
		ent = map[string]interface{}{}
		a[enterpriseURN] = ent
	}
	nm, _ := a["name"].(map[string]interface{})
	if nm == nil {
		nm = map[string]interface{}{}
		a["name"] = nm
	}
	lower := strings.ToLower(path)
	switch {
	case lower == strings.ToLower(enterpriseURN):
		if m, ok := v.(map[string]interface{}); ok {
			for k, x := range m {
				if err := setUserAttr(a, kind, enterpriseURN+":"+k, x); err != nil {
					return err
				}
			}
		}
	case lower == strings.ToLower(enterpriseURN+":department"):
		ent["department"] = v
	case strings.HasPrefix(lower, strings.ToLower(enterpriseURN+":manager")):
		switch m := v.(type) {
		case nil:
			delete(ent, "manager")
		case string: // Entra ID: the manager's id as a plain string
			ent["manager"] = map[string]interface{}{"value": m}
		case map[string]interface{}:
			ent["manager"] = map[string]interface{}{"value": str(m, "value")}
		}
	case lower == "name":
		if m, ok := v.(map[string]interface{}); ok {
			for k, x := range m {
				nm[k] = x
			}
		}
	case strings.HasPrefix(lower, "name."):
		nm[path[len("name."):]] = v
		delete(nm, "formatted")
		a["displayName"] = ""
	case lower == "emails" || lower == "emails.value":
		switch e := v.(type) {
		case string:
			a["emails"] = []interface{}{map[string]interface{}{"value": e, "primary": true}}
		case []interface{}:
			a["emails"] = e
		case nil:
			delete(a, "emails")
		}
	case lower == "active":
		switch b := v.(type) {
		case bool:
			a["active"] = b
		case string: // older Entra ID tenants send "False"
			a["active"] = strings.EqualFold(b, "true")
		default:
			return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: "active: a boolean"}
		}
	case lower == "username", lower == "displayname", lower == "externalid":
		key := map[string]string{"username": "userName", "displayname": "displayName", "externalid": "externalId"}[lower]
		if v == nil {
			delete(a, key)
		} else {
			a[key] = v
		}
	default:
		// Attributes ESM does not keep (title, phoneNumbers, addresses...) are accepted and
		// dropped, as RFC 7644 3.5.2 lets a provider do for attributes it does not support.
	}
	return nil
}

type scimGroups struct{ s *Server }

func groupResource(g store.DirGroup) scim.Resource {
	members := []interface{}{}
	for _, m := range g.Members {
		members = append(members, map[string]interface{}{"value": m, "display": m, "type": "User"})
	}
	r := scim.Resource{ID: g.Key, Attributes: scim.ResourceAttributes{"displayName": g.Name, "members": members},
		Meta: scim.Meta{LastModified: micros(g.Modified)}}
	if g.ExternalID != "" {
		r.ExternalID = optional.NewString(g.ExternalID)
	}
	return r
}

func memberIDs(v interface{}) []string {
	var out []string
	list, _ := v.([]interface{})
	for _, x := range list {
		if m, ok := x.(map[string]interface{}); ok && str(m, "value") != "" {
			out = append(out, str(m, "value"))
		}
	}
	return out
}

// groupKey derives a group's key from its display name for a group the identity provider
// creates: lower case, spaces to dashes ("IT Network" -> "it-network").
func groupKey(name string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, name), "-")
}

func (g scimGroups) Create(r *http.Request, a scim.ResourceAttributes) (scim.Resource, error) {
	name := str(a, "displayName")
	key := groupKey(name)
	if _, err := g.s.desk.ProvisionedGroup(r.Context(), key); err == nil {
		return scim.Resource{}, scimerr.ScimError{Status: http.StatusConflict, ScimType: scimerr.ScimTypeUniqueness, Detail: "group " + key + " exists"}
	}
	members := memberIDs(a["members"])
	if members == nil {
		members = []string{}
	}
	got, err := g.s.desk.ProvisionGroup(r.Context(), store.DirGroup{Key: key, Name: name, ExternalID: str(a, "externalId")}, members)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	return groupResource(got), nil
}

func (g scimGroups) Get(r *http.Request, id string) (scim.Resource, error) {
	got, err := g.s.desk.ProvisionedGroup(r.Context(), id)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	return groupResource(got), nil
}

func (g scimGroups) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	gs, err := g.s.desk.ProvisionedGroups(r.Context())
	if err != nil {
		return scim.Page{}, err
	}
	all := make([]scim.Resource, 0, len(gs))
	for _, x := range gs {
		all = append(all, groupResource(x))
	}
	return scimPage(all, params), nil
}

func (g scimGroups) Replace(r *http.Request, id string, a scim.ResourceAttributes) (scim.Resource, error) {
	cur, err := g.s.desk.ProvisionedGroup(r.Context(), id)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	members := memberIDs(a["members"])
	if members == nil {
		members = []string{}
	}
	cur.Name = str(a, "displayName")
	got, err := g.s.desk.ProvisionGroup(r.Context(), store.DirGroup{Key: id, Name: cur.Name, Department: cur.Department, ExternalID: str(a, "externalId")}, members)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	return groupResource(got), nil
}

func (g scimGroups) Delete(r *http.Request, id string) error {
	return scimError(g.s.desk.DeprovisionGroup(r.Context(), id))
}

// Patch applies displayName and members operations: add and remove a list of members (Okta,
// Entra ID), remove members[value eq "id"] (Okta), replace members wholesale.
func (g scimGroups) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	cur, err := g.s.desk.ProvisionedGroup(r.Context(), id)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	name := cur.Name
	members := map[string]bool{}
	for _, m := range cur.Members {
		members[m] = true
	}
	for _, op := range ops {
		kind := strings.ToLower(op.Op)
		path := ""
		if op.Path != nil {
			path = strings.ToLower(op.Path.AttributePath.AttributeName)
		}
		switch {
		case path == "" && kind != "remove":
			m, _ := op.Value.(map[string]interface{})
			if dn := str(m, "displayName"); dn != "" {
				name = dn
			}
			if v, ok := m["members"]; ok {
				if kind == "replace" {
					members = map[string]bool{}
				}
				for _, x := range memberIDs(v) {
					members[x] = true
				}
			}
		case path == "displayname":
			if s, ok := op.Value.(string); ok {
				name = s
			}
		case path == "members" && kind == "remove":
			for _, x := range memberIDs(op.Value) {
				delete(members, x)
			}
			if op.Path.ValueExpression != nil {
				matched, err := matchedMembers(op.Path.ValueExpression, members)
				if err != nil {
					return scim.Resource{}, err
				}
				for _, x := range matched {
					delete(members, x)
				}
			} else if op.Value == nil {
				members = map[string]bool{}
			}
		case path == "members":
			if kind == "replace" {
				members = map[string]bool{}
			}
			for _, x := range memberIDs(op.Value) {
				members[x] = true
			}
		default:
			return scim.Resource{}, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidPath,
				Detail: fmt.Sprintf("a group's patch changes displayName or members, not %q", path)}
		}
	}
	list := make([]string, 0, len(members))
	for m := range members {
		list = append(list, m)
	}
	sort.Strings(list)
	got, err := g.s.desk.ProvisionGroup(r.Context(), store.DirGroup{Key: id, Name: name, Department: cur.Department}, list)
	if err != nil {
		return scim.Resource{}, scimError(err)
	}
	return groupResource(got), nil
}

// matchedMembers answers the members the filter of a path members[<filter>] matches, evaluated
// by the library's filter over each member as a Group resource shows it (value, display, type:
// RFC 7644 3.5.2.2), so value ne, sw, or and the rest mean what they say. A filter on anything
// else is a 400 (invalidFilter).
func matchedMembers(expr scimfilter.Expression, members map[string]bool) ([]string, error) {
	var attr schema.CoreAttribute
	for _, a := range schema.CoreGroupSchema().Attributes {
		if a.Name() == "members" {
			attr = a
		}
	}
	v := filter.NewFilterValidator(expr, schema.Schema{ID: "members", Attributes: filter.MultiValuedFilterAttributes(attr)})
	if err := v.Validate(); err != nil {
		return nil, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidFilter,
			Detail: "members[...]: filter on value, display or type: " + err.Error()}
	}
	var out []string
	for m := range members {
		if v.PassesFilter(map[string]interface{}{"value": m, "display": m, "type": "User"}) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}
