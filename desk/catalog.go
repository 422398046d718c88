package desk

import (
	"context"
	"fmt"
	"strings"

	"github.com/esmhq/esm/catalog"
)

// CatalogQuery narrows the catalog: a department, a category, words (each must appear in the
// service's key, name, summary, description, category or tags). Include "ineligible" lists the
// services the person may not request too, each saying why.
type CatalogQuery struct {
	Department string
	Category   string
	Words      string
	Include    string
}

// IncludeIneligible is the one value of CatalogQuery.Include.
const IncludeIneligible = "ineligible"

// ServiceSummary is one entry of the catalog.
type ServiceSummary struct {
	Key        string        `json:"key"`
	Name       string        `json:"name"`
	Department string        `json:"department"`
	Category   string        `json:"category,omitempty"`
	Summary    string        `json:"summary,omitempty"`
	Tags       []string      `json:"tags,omitempty"`
	Version    int           `json:"version"`
	Stage      string        `json:"stage"`
	Cost       catalog.Cost  `json:"cost"`
	Eligible   bool          `json:"eligible"`
	Ineligible string        `json:"ineligible_reason,omitempty"`
	Help       *catalog.Help `json:"help,omitempty"`
}

// Catalog lists the services the person may request (published and deprecated ones: never one
// retiring or retired), narrowed by q. With q.Include "ineligible" the others are listed too,
// each saying why the person may not request it.
func (d *Desk) Catalog(ctx context.Context, me Actor, q CatalogQuery) ([]ServiceSummary, error) {
	if q.Include != "" && q.Include != IncludeIneligible {
		return nil, invalid("a query parameter is not valid", catalog.FieldError{
			Field: "include", Rule: "enum", Detail: "the only value is ineligible"})
	}
	all, err := d.store.ListServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	words := strings.ToLower(strings.TrimSpace(q.Words))
	items := []ServiceSummary{}
	for _, sv := range all {
		def := sv.Definition
		if sv.Stage == catalog.StageRetiring || sv.Stage == catalog.StageRetired {
			continue
		}
		if q.Department != "" && def.Department != q.Department || q.Category != "" && def.Category != q.Category {
			continue
		}
		if words != "" && !matches(def, words) {
			continue
		}
		ok, why := def.Eligible(me)
		if !ok && q.Include != IncludeIneligible {
			continue
		}
		items = append(items, ServiceSummary{Key: def.Key, Name: def.Name, Department: def.Department,
			Category: def.Category, Summary: def.Summary, Tags: def.Tags, Version: sv.Version, Stage: sv.Stage, Cost: def.Cost,
			Eligible: ok, Ineligible: why})
	}
	return items, nil
}

// matches reports whether every word of q (lower case) appears in the service's text.
func matches(d catalog.Definition, q string) bool {
	hay := strings.ToLower(strings.Join(append([]string{d.Key, d.Name, d.Summary, d.Description, d.Category}, d.Tags...), " "))
	for _, word := range strings.Fields(q) {
		if !strings.Contains(hay, word) {
			return false
		}
	}
	return true
}

// ServiceView is a service as a person sees it: the customer-facing parts for everyone (whether
// they may request it, and why not), the internal processes and the owner for the owning
// department's staff, the owner and operators.
type ServiceView struct {
	catalog.CustomerView
	Version  int                `json:"version"`
	Stage    string             `json:"stage"`
	Eligible bool               `json:"eligible"`
	Why      string             `json:"ineligible_reason,omitempty"`
	Internal *catalog.Processes `json:"internal,omitempty"`
	Owner    *catalog.PersonRef `json:"owner,omitempty"`
}

// MayManage says whether the person sees a service's internals: the owning department's staff,
// the service owner and operators.
func MayManage(p Actor, d catalog.Definition) bool {
	return p.Department == d.Department || p.ID == d.Owner || p.HasRole(catalog.RoleOperator)
}

// Service answers a service at its current (live) version: ErrNotFound when the catalog has no
// such service (or none of its versions is live).
func (d *Desk) Service(ctx context.Context, me Actor, key string) (ServiceView, error) {
	sv, err := d.currentService(ctx, key)
	if err != nil {
		return ServiceView{}, err
	}
	def := sv.Definition
	v := ServiceView{CustomerView: def.Customer(), Version: sv.Version, Stage: sv.Stage}
	v.Eligible, v.Why = def.Eligible(me)
	if MayManage(me, def) {
		p := def.Processes()
		v.Internal = &p
		if owner, err := d.store.Person(ctx, def.Owner); err == nil {
			r := Ref(owner)
			v.Owner = &r
		}
	}
	return v, nil
}
