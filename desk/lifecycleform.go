package desk

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/workflows"
)

// LifecycleMay says which lifecycle actions a person may take on a service now. Each is
// answered by the lifecycle update's own validator (workflows.LifecycleRefusal) on the
// service's current state, with who the person is to the service worked out as the actions do
// (from the stored definition that governs it and the directory): a door that offers these
// offers nothing the lifecycle would refuse, and nothing it would accept is missing.
type LifecycleMay struct {
	// Edit: save a new draft version (the owner, the department's staff, admins; not while a
	// draft is in review, nor once the service retires).
	Edit bool
	// Submit the draft for review (the owner, admins).
	Submit bool
	// Approve and Reject the draft in review (its reviewers, never an author: four eyes).
	Approve, Reject bool
	// Publish the approved draft (the owner, the department head, admins).
	Publish bool
	// Deprecate a published service (the owner, the department head, admins).
	Deprecate bool
	// Retire a published or deprecated service (the department head, admins).
	Retire bool
	// Review lists the outcomes of the periodic review (keep, revise, deprecate, retire) the
	// person may record; empty when no review is due or it is not theirs.
	Review []string
}

// Any reports whether the person may take any action.
func (m LifecycleMay) Any() bool {
	return m.Edit || m.Submit || m.Approve || m.Reject || m.Publish || m.Deprecate || m.Retire || len(m.Review) > 0
}

// VersionInfo is one stored version of a service: when it was stored and who saved it (from the
// lifecycle's history; "catalog-apply" for one applied from catalog files, "" when the history
// no longer says), and who published it.
type VersionInfo struct {
	Version     int
	At          time.Time
	By          string
	PublishedBy string
	PublishedAt *time.Time
	// Live is the version requests are made under now; Draft the one being edited or reviewed.
	Live, Draft bool
}

// LifecycleForm is a service's lifecycle page: its stage, versions, next review, the draft and
// its review, and what the person may do.
type LifecycleForm struct {
	Key        string
	Name       string
	Department string
	Owner      string
	// OwnerLeft says the owner has left the organisation (issue 22: the DirectoryChange
	// workflow flags the service and tells the department heads); a version naming a new
	// owner clears it.
	OwnerLeft bool
	State     LifecycleState
	// Versions, newest first (at most MaxVersionsShown).
	Versions []VersionInfo
	// Definition is what a new draft starts from: the draft under way, else the live version
	// (DefinitionVersion says which). Nil unless the person may see the service's internals:
	// its department's staff, owner, operators and admins (MayManage), and the draft's
	// reviewers.
	Definition        *catalog.Definition
	DefinitionVersion int
	May               LifecycleMay
}

// MaxVersionsShown bounds the versions a LifecycleForm lists.
const MaxVersionsShown = 20

// LifecycleForm answers the lifecycle page of a service for the person: what Lifecycle answers,
// with the versions, the definition a new draft starts from (to those who may see it) and the
// actions the person may take (LifecycleMay).
//
// Errors: ErrNotFound (no such service), ErrUnavailable (the lifecycle did not answer).
func (d *Desk) LifecycleForm(ctx context.Context, me Actor, key string) (LifecycleForm, error) {
	si, gov, err := d.serviceForLifecycle(ctx, key)
	if err != nil {
		return LifecycleForm{}, err
	}
	st, err := d.Lifecycle(ctx, me, key)
	if err != nil {
		return LifecycleForm{}, err
	}
	out := LifecycleForm{Key: si.Key, Name: gov.Name, Department: gov.Department, Owner: gov.Owner, State: st}
	if who, err := d.store.OwnerLeft(ctx, si.Key); err == nil && who != "" && who == gov.Owner {
		out.OwnerLeft = true
	}

	a := d.roles(ctx, me, gov)
	may := func(action, outcome string) bool {
		b := a
		b.Action, b.Outcome = action, outcome
		return workflows.LifecycleRefusal(st, b) == nil
	}
	out.May = LifecycleMay{Edit: may(workflows.ActionSaveDraft, ""), Submit: may(workflows.ActionSubmit, ""),
		Approve: may(workflows.ActionApprove, ""), Reject: may(workflows.ActionReject, ""), Publish: may(workflows.ActionPublish, ""),
		Deprecate: may(workflows.ActionDeprecate, ""), Retire: may(workflows.ActionRetire, "")}
	for _, o := range []string{workflows.ReviewKeep, workflows.ReviewRevise, workflows.ReviewDeprecate, workflows.ReviewRetire} {
		if may(workflows.ActionReview, o) {
			out.May.Review = append(out.May.Review, o)
		}
	}

	reviewer := st.Review != nil && slices.ContainsFunc(st.Review.Approvers, func(r catalog.Approver) bool { return r.ID == me.ID })
	if MayManage(me, gov) || a.Admin || reviewer {
		v := st.Draft
		if v == 0 {
			v = st.Live
		}
		if sv, err := d.store.ServiceAt(ctx, si.Key, v); err == nil {
			out.Definition, out.DefinitionVersion = &sv.Definition, v
		}
	}

	saved, published := versionAuthors(st.History)
	for v := max(st.Live, st.Draft, si.Live, si.Draft); v >= 1 && len(out.Versions) < MaxVersionsShown; v-- {
		sv, err := d.store.ServiceAt(ctx, si.Key, v)
		if err != nil {
			continue // a number never stored (a save that failed)
		}
		vi := VersionInfo{Version: v, At: sv.CreatedAt, By: saved[v].Actor, Live: v == st.Live, Draft: v == st.Draft && st.Draft > 0}
		if e, ok := published[v]; ok {
			at := e.At
			vi.PublishedBy, vi.PublishedAt = e.Actor, &at
		}
		out.Versions = append(out.Versions, vi)
	}
	return out, nil
}

// versionAuthors reads from a lifecycle's history who saved and who published each version:
// draft.saved and published events say "version N..." (the last save of a version counts).
func versionAuthors(history []catalog.Event) (saved, published map[int]catalog.Event) {
	saved, published = map[int]catalog.Event{}, map[int]catalog.Event{}
	for _, e := range history {
		var v int
		if _, err := fmt.Sscanf(e.Detail, "version %d", &v); err != nil || !strings.HasPrefix(e.Detail, "version ") {
			continue
		}
		switch e.Type {
		case "draft.saved":
			saved[v] = e
		case "published":
			published[v] = e
		}
	}
	return saved, published
}

// MyService is a service a person looks after: they own it, or it is their department's.
type MyService struct {
	Key        string
	Name       string
	Department string
	Stage      string
	Live       int
	Draft      int
	// Owner says the person owns it (otherwise it is their department's).
	Owner bool
}

// MyServices lists the services the person owns and those of their department (whose drafts
// they may edit as its staff), by key, whatever their stage. It reads the catalog: one query for
// the live services, and one per service that has no live version yet.
func (d *Desk) MyServices(ctx context.Context, me Actor) ([]MyService, error) {
	live, err := d.store.ListServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	byKey := map[string]catalog.Definition{}
	for _, sv := range live {
		byKey[sv.Definition.Key] = sv.Definition
	}
	all, err := d.store.AllServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	out := []MyService{}
	for _, si := range all {
		def, ok := byKey[si.Key]
		if !ok && si.Draft > 0 {
			sv, err := d.store.ServiceAt(ctx, si.Key, si.Draft)
			if err != nil {
				return nil, fmt.Errorf("service %s v%d: %w", si.Key, si.Draft, err)
			}
			def = sv.Definition
		}
		if def.Owner != me.ID && si.Department != me.Department {
			continue
		}
		out = append(out, MyService{Key: si.Key, Name: def.Name, Department: si.Department, Stage: si.Stage,
			Live: si.Live, Draft: si.Draft, Owner: def.Owner == me.ID})
	}
	return out, nil
}
