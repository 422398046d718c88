package desk

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/api/serviceerror"
)

// RoleAdmin may do everything a service's owner and its department's head may.
const RoleAdmin = catalog.RoleAdmin

// LifecycleState is a service's stage, versions, next review and history, as its lifecycle
// workflow holds them.
type LifecycleState = workflows.LifecycleState

// roles works out who the person is to a service from the stored definition that governs it
// (serviceForLifecycle's) and the directory: never from a definition someone sent.
func (d *Desk) roles(ctx context.Context, me Actor, def catalog.Definition) workflows.LifecycleAction {
	a := workflows.LifecycleAction{Actor: Ref(me), Owner: me.ID == def.Owner, Staff: me.Department == def.Department, Admin: me.HasRole(RoleAdmin)}
	if dept, err := d.store.Department(ctx, def.Department); err == nil {
		a.Head = dept.Head == me.ID
	}
	return a
}

// validDefinition normalizes a definition someone sent and validates it against the directory;
// its errors name fields as JSON pointers.
func (d *Desk) validDefinition(ctx context.Context, def *catalog.Definition) error {
	def.Normalize()
	known, err := d.store.Known(ctx)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	if err := catalog.ValidateWith(*def, known); err != nil {
		var ve *catalog.ValidationError
		if errors.As(err, &ve) {
			for i := range ve.Errors {
				ve.Errors[i].Field = catalog.Pointer(ve.Errors[i].Field)
			}
			return invalid("the definition is not valid", ve.Errors...)
		}
		return fmt.Errorf("validate %s: %w", def.Key, err)
	}
	return nil
}

// CreateService creates a service from its first draft: its lifecycle starts with no version
// and stores the draft once it has accepted it (nothing is written before). The department's
// staff and admins may (ErrForbidden); a key already taken is ErrConflict; a definition that
// breaks a rule is a *ValidationError.
func (d *Desk) CreateService(ctx context.Context, me Actor, def catalog.Definition) (LifecycleState, error) {
	if err := d.validDefinition(ctx, &def); err != nil {
		return LifecycleState{}, err
	}
	if me.Department != def.Department && !me.HasRole(RoleAdmin) {
		return LifecycleState{}, forbidden("only %s's staff create its services", def.Department)
	}
	if _, err := d.store.Service(ctx, def.Key); err == nil {
		return LifecycleState{}, conflict("service %q exists; edit its draft instead", def.Key)
	} else if !errors.Is(err, store.ErrNotFound) {
		return LifecycleState{}, fmt.Errorf("service %s: %w", def.Key, err)
	}
	if err := startLifecycle(ctx, d.temporal, store.ServiceInfo{Key: def.Key, Department: def.Department, Stage: catalog.StageDraft}); err != nil {
		return LifecycleState{}, fmt.Errorf("lifecycle of %s: %w", def.Key, err)
	}
	// Who the person is to a service that does not exist yet: the directory says it.
	a := workflows.LifecycleAction{Actor: Ref(me), Staff: me.Department == def.Department, Admin: me.HasRole(RoleAdmin),
		Action: workflows.ActionSaveDraft, Definition: &def, Create: true}
	if dept, err := d.store.Department(ctx, def.Department); err == nil {
		a.Head = dept.Head == me.ID
	}
	return d.lifecycleCall(ctx, def.Key, a)
}

// Draft is an edited definition of an existing service, to be stored as its next version.
type Draft struct {
	Service    string
	Definition catalog.Definition
}

// MayEditDraft answers nil when the person may edit the service's draft: ErrNotFound when there
// is no such service (or it was never published and the person may not see it: Lifecycle),
// ErrForbidden unless they are its owner, its department's staff or an admin,
// as the stored definition and the directory say. A front door that cannot read the draft sent
// asks it first, so that those refusals come before any complaint about what was sent.
func (d *Desk) MayEditDraft(ctx context.Context, me Actor, key string) error {
	si, gov, err := d.serviceForLifecycle(ctx, key)
	if err != nil {
		return err
	}
	if a := d.roles(ctx, me, gov); !(a.Owner || a.Staff || a.Admin) {
		if err := d.unseen(ctx, me, si, gov, nil); err != nil {
			return err
		}
		return forbidden("only the owner or the department's staff edit a draft")
	}
	return nil
}

// KnownService answers nil when the catalog has the service (whatever its stage) and the person
// may know it exists, ErrNotFound otherwise (no such service, or one never published that the
// person may not see: Lifecycle), and makes sure its lifecycle runs. A front door that
// cannot read the action sent asks it first, so that an unknown service is not found whatever
// was sent.
func (d *Desk) KnownService(ctx context.Context, me Actor, key string) error {
	si, gov, err := d.serviceForLifecycle(ctx, key)
	if err != nil {
		return err
	}
	return d.unseen(ctx, me, si, gov, nil)
}

// insider says whether the person sees a service's internals, its lifecycle included: its
// owner, its department's staff, operators (MayManage), its department's head, admins, and the
// reviewers of its draft in review (st: the lifecycle's state; nil: queried when it matters).
func (d *Desk) insider(ctx context.Context, me Actor, si store.ServiceInfo, gov catalog.Definition, st *LifecycleState) (bool, error) {
	if a := d.roles(ctx, me, gov); MayManage(me, gov) || a.Admin || a.Head {
		return true, nil
	}
	if st == nil {
		got, err := d.lifecycleState(ctx, si)
		if err != nil {
			return false, err
		}
		st = &got
	}
	return st.Review != nil && slices.ContainsFunc(st.Review.Approvers, func(r catalog.Approver) bool { return r.ID == me.ID }), nil
}

// unseen answers ErrNotFound, as for a service that does not exist, when the service was never
// published (no live version) and the person is no insider: a draft's name, owner and versions
// are not for everyone, nor is the fact that it exists. nil otherwise.
func (d *Desk) unseen(ctx context.Context, me Actor, si store.ServiceInfo, gov catalog.Definition, st *LifecycleState) error {
	if si.Live > 0 {
		return nil
	}
	in, err := d.insider(ctx, me, si, gov, st)
	if err != nil {
		return err
	}
	if !in {
		return notFound("there is no service %q", si.Key)
	}
	return nil
}

// SaveDraft asks the service's lifecycle to store an edited definition as its next draft
// version. Who the person is comes from the stored definition (never the draft's), and the
// lifecycle stores the draft only once it has accepted it: it refuses (ErrForbidden,
// ErrConflict) what the stage or the person's part does not allow. The key and department of a
// service never change (*ValidationError).
func (d *Desk) SaveDraft(ctx context.Context, me Actor, in Draft) (LifecycleState, error) {
	si, gov, err := d.serviceForLifecycle(ctx, in.Service)
	if err != nil {
		return LifecycleState{}, err
	}
	a := d.roles(ctx, me, gov)
	if !(a.Owner || a.Staff || a.Admin) {
		if err := d.unseen(ctx, me, si, gov, nil); err != nil {
			return LifecycleState{}, err
		}
		return LifecycleState{}, forbidden("only the owner or the department's staff edit a draft")
	}
	def := in.Definition
	if err := d.validDefinition(ctx, &def); err != nil {
		return LifecycleState{}, err
	}
	if def.Key != si.Key || def.Department != si.Department {
		return LifecycleState{}, invalid("the draft is for another service", catalog.FieldError{Field: "/key", Rule: "const", Detail: "the key and department of a service do not change"})
	}
	a.Action, a.Definition = workflows.ActionSaveDraft, &def
	return d.lifecycleCall(ctx, si.Key, a)
}

// LifecycleActions are the transitions a person may ask of a service's lifecycle.
var LifecycleActions = []string{workflows.ActionSubmit, workflows.ActionApprove, workflows.ActionReject, workflows.ActionPublish,
	workflows.ActionDeprecate, workflows.ActionRetire, workflows.ActionReview}

// LifecycleActionInput is a transition of a service's lifecycle: submit, approve, reject,
// publish, deprecate, retire, review (with its Outcome); Comment gives a reason, Successor names
// the service that replaces one retired.
type LifecycleActionInput struct {
	Service   string
	Action    string
	Comment   string
	Outcome   string
	Successor string
}

// ApplyLifecycleAction runs a transition of the service's lifecycle and answers its state. Who
// the person is to the service comes from its stored definition and the directory; the
// lifecycle refuses (ErrForbidden, ErrConflict) what their part or the stage does not allow.
// An action that is none of LifecycleActions, or a comment that is not UTF-8 text or is longer
// than MaxText characters (checkText), is a *ValidationError; a service that does not
// exist, or was never published and the person may not see (Lifecycle), ErrNotFound; a
// retired one, whose lifecycle has ended, ErrConflict.
func (d *Desk) ApplyLifecycleAction(ctx context.Context, me Actor, in LifecycleActionInput) (LifecycleState, error) {
	si, gov, err := d.serviceForLifecycle(ctx, in.Service)
	if err != nil {
		return LifecycleState{}, err
	}
	if err := d.unseen(ctx, me, si, gov, nil); err != nil {
		return LifecycleState{}, err
	}
	if !slices.Contains(LifecycleActions, in.Action) {
		return LifecycleState{}, invalid("the action is not valid", catalog.FieldError{Field: "/action", Rule: "enum",
			Detail: "one of submit, approve, reject, publish, deprecate, retire, review"})
	}
	if fe := checkText("/comment", in.Comment); fe != nil {
		return LifecycleState{}, invalid("the comment is not valid", *fe)
	}
	a := d.roles(ctx, me, gov)
	a.Action, a.Comment, a.Outcome, a.Successor = in.Action, in.Comment, in.Outcome, in.Successor
	return d.lifecycleCall(ctx, si.Key, a)
}

// Lifecycle answers the service's stage, versions, next review and history from its workflow
// (for a retired service, from its last run), to the service's insiders only: its owner, its
// department's staff and head, operators, admins, and the reviewers of its draft in review
// (docs/ACCESS.md; what is public of a service is its catalog page, Service). ErrNotFound when there is no such service, or it was never published and
// the person is no insider (its existence is not confirmed); ErrForbidden when it was published
// and the person is no insider; ErrUnavailable when the lifecycle does not answer within a third
// of the desk's WorkflowWait (a Query needs a worker: its worker is down or far behind).
func (d *Desk) Lifecycle(ctx context.Context, me Actor, key string) (LifecycleState, error) {
	si, gov, err := d.serviceForLifecycle(ctx, key)
	if err != nil {
		return LifecycleState{}, err
	}
	st, err := d.lifecycleState(ctx, si)
	if err != nil {
		return st, err
	}
	in, err := d.insider(ctx, me, si, gov, &st)
	switch {
	case err != nil:
		return LifecycleState{}, err
	case !in && si.Live == 0:
		return LifecycleState{}, notFound("there is no service %q", si.Key)
	case !in:
		return LifecycleState{}, forbidden("a service's lifecycle is for its owner, its department, its reviewers, operators and admins; its catalog page says what is public")
	}
	return st, nil
}

// lifecycleState queries the service's lifecycle workflow (see Lifecycle for the errors).
func (d *Desk) lifecycleState(ctx context.Context, si store.ServiceInfo) (LifecycleState, error) {
	var st LifecycleState
	qctx, cancel := context.WithTimeout(ctx, d.wait/3) // never wait on a dead worker
	defer cancel()
	v, err := d.temporal.QueryWorkflow(qctx, workflows.ServiceWorkflowID(si.Key), "", workflows.LifecycleQuery)
	if err == nil {
		err = v.Get(&st)
	}
	var (
		nf       *serviceerror.NotFound
		deadline *serviceerror.DeadlineExceeded
	)
	switch {
	case errors.As(err, &nf):
		return st, notFound("no lifecycle for %s", si.Key)
	case err != nil && ctx.Err() == nil && (qctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline)):
		d.log.WarnContext(ctx, "lifecycle did not answer in time", "service", si.Key, "wait", d.wait/3, "error", err)
		return st, kindErr(ErrUnavailable, "the lifecycle of %s did not answer within %s (ESM's worker may be down or busy); try again in a moment", si.Key, d.wait/3)
	case err != nil:
		return st, fmt.Errorf("lifecycle of %s: %w", si.Key, err)
	}
	return st, nil
}

// lifecycleCall sends the action to the service's lifecycle and answers its state.
func (d *Desk) lifecycleCall(ctx context.Context, key string, a workflows.LifecycleAction) (LifecycleState, error) {
	var res workflows.LifecycleResult
	err := d.update(ctx, workflows.ServiceWorkflowID(key), workflows.LifecycleUpdate, a, &res)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return res.State, conflict("the lifecycle of %s has ended: the service is retired", key)
	case err != nil:
		return res.State, d.workflowErr(ctx, key, err)
	}
	return res.State, nil
}

// serviceForLifecycle loads a service and the definition that governs it (live, else draft),
// and makes sure its lifecycle workflow runs (unless the service is retired).
func (d *Desk) serviceForLifecycle(ctx context.Context, key string) (store.ServiceInfo, catalog.Definition, error) {
	si, err := d.store.Service(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return si, catalog.Definition{}, notFound("there is no service %q", key)
	}
	if err != nil {
		return si, catalog.Definition{}, fmt.Errorf("service %s: %w", key, err)
	}
	v := si.Live
	if v == 0 {
		v = si.Draft
	}
	sv, err := d.store.ServiceAt(ctx, si.Key, v)
	if err == nil && si.Stage != catalog.StageRetired {
		err = startLifecycle(ctx, d.temporal, si)
	}
	if err != nil {
		return si, catalog.Definition{}, fmt.Errorf("lifecycle of %s: %w", si.Key, err)
	}
	return si, sv.Definition, nil
}
