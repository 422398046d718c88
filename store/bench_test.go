package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// BenchmarkReadModel times the requester's list, the approval inbox and a group's task queue as
// the read model grows (10k and 100k rows, storetest.SeedRequests; ESM_BENCH_ROWS=1000000 adds
// a million).
func BenchmarkReadModel(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if v, err := strconv.Atoi(os.Getenv("ESM_BENCH_ROWS")); err == nil && v > 0 {
		sizes = append(sizes, v)
	}
	for _, dialect := range storetest.Dialects() {
		for _, n := range sizes {
			s := storetest.Open(b, dialect)
			storetest.SeedRequests(b, s, n)
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
