package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/lib/pq"
)

// seed fills the read model with n requests spread over 500 requesters, 100 approvers and 20
// groups, a fifth of them pending approval and a fifth with an open task (COPY on Postgres).
func seed(b *testing.B, s *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	tx, err := s.DB.Begin()
	if err != nil {
		b.Fatal(err)
	}
	type table struct {
		name string
		cols []string
		row  func(i int) []any
	}
	tables := []table{
		{"requests", []string{"id", "number", "seq", "service_key", "service_version", "department", "requester_id", "title",
			"status", "stage", "priority", "submitted_at", "updated_at", "state"}, func(i int) []any {
			status := []string{"pending_approval", "in_fulfilment", "resolved", "resolved", "rejected"}[i%5]
			return []any{fmt.Sprintf("REQ-%06d", i+1), i + 1, 1, "svc-" + strconv.Itoa(i%15), 1, "it", "user-" + strconv.Itoa(i%500),
				"a title", status, status, "normal", now.Add(-time.Duration(n-i) * time.Minute), now, "{}"}
		}},
		{"request_approvers", []string{"request_id", "step", "person_id", "step_name", "status", "since"}, func(i int) []any {
			status := "approved"
			if i%5 == 0 {
				status = "pending"
			}
			return []any{fmt.Sprintf("REQ-%06d", i+1), 0, "approver-" + strconv.Itoa(i%100), "manager", status, now.Add(-time.Duration(n-i) * time.Minute)}
		}},
		// An open task is actionable, as the projection writes it (catalog.RequestState.TaskRefusal):
		// a fixture without it would have the queue filter out every row and read the whole group.
		{"request_tasks", []string{"request_id", "task_id", "name", "group_key", "state", "since", "actionable"}, func(i int) []any {
			state := "done"
			if i%5 == 1 {
				state = "open"
			}
			return []any{fmt.Sprintf("REQ-%06d", i+1), "do", "Do it", "group-" + strconv.Itoa(i%20), state, now.Add(-time.Duration(n-i) * time.Minute), state == "open"}
		}},
	}
	for _, t := range tables {
		if s.Dialect() == "postgres" {
			stmt, err := tx.Prepare(pq.CopyIn(t.name, t.cols...))
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if _, err := stmt.Exec(t.row(i)...); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := stmt.Exec(); err != nil {
				b.Fatal(err)
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
			b.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if _, err := stmt.Exec(t.row(i)...); err != nil {
				b.Fatal(err)
			}
		}
		stmt.Close()
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if s.Dialect() == "postgres" {
		_, _ = s.DB.ExecContext(ctx, "ANALYZE")
	}
}

// BenchmarkReadModel times the requester's list, the approval inbox and a group's task queue as
// the read model grows (10k and 100k rows; ESM_BENCH_ROWS=1000000 adds a million).
func BenchmarkReadModel(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if v, err := strconv.Atoi(os.Getenv("ESM_BENCH_ROWS")); err == nil && v > 0 {
		sizes = append(sizes, v)
	}
	for _, dialect := range storetest.Dialects() {
		for _, n := range sizes {
			s := storetest.Open(b, dialect)
			seed(b, s, n)
			ctx := context.Background()
			if dialect == "postgres" && os.Getenv("ESM_BENCH_EXPLAIN") != "" {
				explain(b, s, n)
			}
			b.Run(fmt.Sprintf("%s/%d/list", dialect, n), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := s.ListRequests(ctx, store.RequestFilter{Requester: "user-" + strconv.Itoa(i%500), Limit: 21}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/inbox", dialect, n), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, _, err := s.PendingApprovals(ctx, store.InboxFilter{People: []string{"approver-" + strconv.Itoa(i%100)}, Limit: 50}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/queue", dialect, n), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, _, err := s.TaskQueue(ctx, store.QueueFilter{Groups: []string{"group-" + strconv.Itoa(i%20)}, States: []string{"open", "claimed"}, Limit: 50}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// explain prints the plans of the three queries (ESM_BENCH_EXPLAIN=1), for docs/BENCHMARKS.md.
func explain(b *testing.B, s *store.Store, n int) {
	for name, q := range map[string]string{
		"list": `SELECT r.id FROM requests r WHERE r.requester_id = 'user-7' ORDER BY r.number DESC LIMIT 21`,
		"inbox": `SELECT a.request_id FROM request_approvers a JOIN requests r ON r.id = a.request_id
			WHERE a.person_id IN ('approver-5') AND a.status = 'pending' AND r.status = 'pending_approval'
			ORDER BY a.since, a.request_id, a.person_id LIMIT 50`,
		"queue": `SELECT t.request_id FROM request_tasks t JOIN requests r ON r.id = t.request_id
			WHERE t.group_key IN ('group-1') AND t.state IN ('open', 'claimed') AND t.state IN ('open', 'claimed')
			AND (t.actionable OR t.state NOT IN ('open', 'claimed'))
			ORDER BY t.since, t.request_id, t.task_id LIMIT 50`,
	} {
		var plan []string
		if err := s.DB.Select(&plan, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "+q); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "EXPLAIN %s at %d rows:\n", name, n)
		for _, l := range plan {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
	}
}
