package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// directoryYAML is a small valid catalog: two departments, a fulfiller group, four people (alice's
// manager is bob) and one service with a form, a manager approval and one task for the group.
const directoryYAML = `
departments:
  - {key: it, name: IT, head: ivan}
  - {key: engineering, name: Engineering, head: bob}
groups:
  - {key: service-desk, name: Service Desk, department: it}
people:
  - {id: ivan, name: Ivan Petrov, department: it, groups: [service-desk], roles: [operator]}
  - {id: bob, name: Bob Ruiz, email: bob@example.com, department: engineering}
  - {id: alice, name: Alice Chen, department: engineering, manager: bob, attributes: {location: london, employment: employee}}
  - id: dave
    name: Dave Kim
    department: it
    manager: ivan
    groups: [service-desk]
    roles: [fulfiller, operator]
    attributes: {location: lisbon}
services:
  - key: laptop
    name: Laptop
    department: it
    owner: ivan
    request:
      form:
        type: object
        required: [model]
        properties:
          model: {enum: [a, b]}
    approval:
      steps:
        - {name: manager, approvers: {manager: true}}
    fulfilment:
      tasks:
        - {id: prepare, name: Prepare, group: service-desk}
`

// bundle parses directoryYAML afresh, so a test may edit its copy.
func bundle(t *testing.T) *catalog.Bundle {
	t.Helper()
	b, err := catalog.Parse("directory.yaml", []byte(directoryYAML))
	if err != nil {
		t.Fatalf("parse catalog: %v", err)
	}
	return b
}

// apply applies b and fails the test on error.
func apply(t *testing.T, s *store.Store, b *catalog.Bundle, now time.Time) store.ApplyReport {
	t.Helper()
	rep, err := s.ApplyBundle(context.Background(), b, now)
	if err != nil {
		t.Fatalf("apply bundle: %v", err)
	}
	return rep
}

// t0 is when the test requests are submitted; microsecond-aligned, so it survives both databases
// exactly.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

// submitted is the state of request number n just after submission (seq 1): waiting on Bob's
// approval, its task waiting, two events in the timeline.
func submitted(n int64) catalog.RequestState {
	id := catalog.RequestID(n)
	return catalog.RequestState{
		ID:          id,
		Number:      n,
		Seq:         1,
		Service:     catalog.ServiceRef{Key: "laptop", Name: "Laptop", Department: "it", Version: 1},
		Requester:   catalog.PersonRef{ID: "alice", Name: "Alice Chen", Department: "engineering"},
		Form:        map[string]any{"model": "a"},
		Quantity:    1,
		Priority:    "normal",
		Status:      catalog.StatusPendingApproval,
		Stage:       "approval",
		SubmittedAt: t0,
		UpdatedAt:   t0,
		Approvals: []catalog.ApprovalState{{
			Step: 1, Name: "manager", Mode: catalog.ModeAny, Status: catalog.ApprovalPending, Required: 1,
			Approvers: []catalog.Approver{{PersonRef: catalog.PersonRef{ID: "bob", Name: "Bob Ruiz", Department: "engineering"}}},
			OpenedAt:  t0,
			ExpireAt:  at(72 * time.Hour),
		}},
		Tasks: []catalog.TaskState{{
			Ref: catalog.TaskRef(id, "prepare"), ID: "prepare", Name: "Prepare", Group: "service-desk",
			Kind: catalog.TaskManual, State: catalog.TaskWaiting,
		}},
		Timeline: []catalog.Event{
			{Seq: 1, At: t0, Type: "submitted", Actor: "alice"},
			{Seq: 2, At: t0, Type: "approval_requested", Detail: "manager: bob"},
		},
	}
}

// approved is the state of request n after Bob approved (seq 3): in fulfilment, the task open in
// the group's queue, four events.
func approved(n int64) catalog.RequestState {
	r := submitted(n)
	r.Seq = 3
	r.Status, r.Stage = catalog.StatusInFulfilment, "fulfilment"
	r.UpdatedAt = t0.Add(time.Hour)
	a := &r.Approvals[0]
	a.Status, a.ClosedAt = catalog.ApprovalApproved, at(time.Hour)
	a.Approvers[0].Decision, a.Approvers[0].DecidedAt = catalog.DecisionApprove, at(time.Hour)
	r.Tasks[0].State, r.Tasks[0].OpenedAt = catalog.TaskOpen, at(time.Hour)
	r.Timeline = append(r.Timeline,
		catalog.Event{Seq: 3, At: t0.Add(time.Hour), Type: "approved", Actor: "bob"},
		catalog.Event{Seq: 4, At: t0.Add(time.Hour), Type: "task_opened", Detail: "prepare"},
	)
	return r
}

// project writes r and returns whether it wrote, failing the test on error.
func project(t *testing.T, s *store.Store, r catalog.RequestState) bool {
	t.Helper()
	p, err := s.ProjectRequest(context.Background(), r)
	if err != nil {
		t.Fatalf("project %s seq %d: %v", r.ID, r.Seq, err)
	}
	return p.Wrote
}
