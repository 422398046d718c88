package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"
)

// TestStatementCache: SQLite connections keep their compiled statements (stmtcache.go) and
// still answer right when the same text runs while its rows are open, when more texts run than
// a connection keeps, and inside a transaction.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.DB.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		for i := range 5 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
				return err
			}
		}
		// The same query while its rows are open: a second statement, not the busy one.
		rows, err := tx.QueryContext(ctx, `SELECT k FROM t WHERE k >= ? ORDER BY k`, 0)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var k int
			if err := rows.Scan(&k); err != nil {
				return err
			}
			var inner []int
			if err := tx.SelectContext(ctx, &inner, `SELECT k FROM t WHERE k >= ? ORDER BY k`, k); err != nil {
				return err
			}
			if len(inner) != 5-k {
				return fmt.Errorf("inner query from %d: %v", k, inner)
			}
			n++
		}
		if n != 5 {
			return fmt.Errorf("outer query: %d rows", n)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	// More texts than a connection keeps, each run twice: every answer right.
	for round := range 2 {
		for i := range stmtCacheSize + 20 {
			var v string
			if err := s.DB.GetContext(ctx, &v, fmt.Sprintf(`SELECT v FROM t WHERE k = ? /* %d */`, i), i%5); err != nil {
				t.Fatalf("round %d, text %d: %v", round, i, err)
			}
			if v != fmt.Sprint("v", i%5) {
				t.Fatalf("round %d, text %d: %q", round, i, v)
			}
		}
	}
	// A statement that fails gives its statement back: the same text runs again.
	for range 2 {
		if _, err := s.DB.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`, 1, "dup"); err == nil {
			t.Fatal("a duplicate key was inserted")
		}
	}
	var count int
	if err := s.DB.GetContext(ctx, &count, `SELECT count(*) FROM t`); err != nil || count != 5 {
		t.Fatalf("count = %d, %v", count, err)
	}
}
