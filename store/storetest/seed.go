package storetest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/lib/pq"
)

// The shape of what SeedRequests writes: request i (0-based) is REQ-%06d of i+1, made by
// "user-<i%SeedRequesters>"; its approval is "approver-<i%SeedApprovers>"'s; its task is
// "group-<i%SeedGroups>"'s. A fifth of the requests (i%5 == 0) are pending approval, with that
// approval pending; a fifth (i%5 == 1) are in fulfilment, with that task open and actionable;
// the rest are resolved or rejected (closed now) with their approval decided and their task
// done. So only approvers whose number is a multiple of 5 have pending approvals
// (n/SeedApprovers each) and only groups 1, 6, 11 and 16 have open tasks (n/SeedGroups each).
const (
	SeedRequesters = 500
	SeedApprovers  = 100
	SeedGroups     = 20
)

// SeedRequests fills the read model (requests, request_approvers, request_tasks) with n
// requests as described above, in one transaction (COPY on Postgres, prepared inserts on
// SQLite), submitted a minute apart up to now, and analyzes the tables on Postgres. The rows are
// what the lists read; each request's stored state is "{}" (store.Request answers an empty
// state): a test that opens a request's page writes that request with ProjectRequest. The
// people, groups and services named are not written to the directory or the catalog.
func SeedRequests(tb testing.TB, s *store.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	tx, err := s.DB.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	type table struct {
		name string
		cols []string
		row  func(i int) []any
	}
	tables := []table{
		{"requests", []string{"id", "number", "seq", "service_key", "service_version", "department", "requester_id", "title",
			"status", "stage", "priority", "submitted_at", "updated_at", "closed_at", "state"}, func(i int) []any {
			status := []string{"pending_approval", "in_fulfilment", "resolved", "resolved", "rejected"}[i%5]
			var closed any // a closed request has its closed_at, as the projection writes it
			if i%5 >= 2 {
				closed = now
			}
			return []any{fmt.Sprintf("REQ-%06d", i+1), i + 1, 1, "svc-" + strconv.Itoa(i%15), 1, "it", "user-" + strconv.Itoa(i%SeedRequesters),
				"a title", status, status, "normal", now.Add(-time.Duration(n-i) * time.Minute), now, closed, "{}"}
		}},
		{"request_approvers", []string{"request_id", "step", "person_id", "step_name", "status", "since"}, func(i int) []any {
			status := "approved"
			if i%5 == 0 {
				status = "pending"
			}
			return []any{fmt.Sprintf("REQ-%06d", i+1), 0, "approver-" + strconv.Itoa(i%SeedApprovers), "manager", status, now.Add(-time.Duration(n-i) * time.Minute)}
		}},
		// An open task is actionable, as the projection writes it (catalog.RequestState.TaskRefusal):
		// a fixture without it would have the queue filter out every row and read the whole group.
		{"request_tasks", []string{"request_id", "task_id", "name", "group_key", "state", "since", "actionable"}, func(i int) []any {
			state := "done"
			if i%5 == 1 {
				state = "open"
			}
			return []any{fmt.Sprintf("REQ-%06d", i+1), "do", "Do it", "group-" + strconv.Itoa(i%SeedGroups), state, now.Add(-time.Duration(n-i) * time.Minute), state == "open"}
		}},
	}
	for _, t := range tables {
		if s.Dialect() == "postgres" {
			stmt, err := tx.Prepare(pq.CopyIn(t.name, t.cols...))
			if err != nil {
				tb.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if _, err := stmt.Exec(t.row(i)...); err != nil {
					tb.Fatal(err)
				}
			}
			if _, err := stmt.Exec(); err != nil {
				tb.Fatal(err)
			}
			stmt.Close()
			continue
		}
		q := "INSERT INTO " + t.name + " ("
		for j, c := range t.cols {
			if j > 0 {
				q += ", "
			}
			q += c
		}
		q += ") VALUES (?"
		for range t.cols[1:] {
			q += ", ?"
		}
		q += ")"
		stmt, err := tx.Prepare(q)
		if err != nil {
			tb.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if _, err := stmt.Exec(t.row(i)...); err != nil {
				tb.Fatal(err)
			}
		}
		stmt.Close()
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if s.Dialect() == "postgres" {
		_, _ = s.DB.ExecContext(ctx, "ANALYZE")
	}
}
