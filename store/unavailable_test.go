package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"testing"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/lib/pq"
)

// TestUnavailable tells a database that is down (refused, closed, shutting down) from a fault of
// the query or the data.
func TestUnavailable(t *testing.T) {
	// A Postgres that refuses connections: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = store.Open(context.Background(), "postgres://postgres@"+addr+"/esm?sslmode=disable")
	if err == nil || !store.Unavailable(err) {
		t.Errorf("a refused connection: %v is not unavailable", err)
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pq.Error{Code: "57P03", Message: "the database system is not accepting connections"}, true},
		{fmt.Errorf("load principal: %w", &pq.Error{Code: "57P01"}), true},
		{&pq.Error{Code: "08006"}, true},
		{&pq.Error{Code: "53300"}, true},
		{&pq.Error{Code: "23505"}, false},
		{&pq.Error{Code: "42601"}, false},
		{sql.ErrNoRows, false},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{nil, false},
	} {
		if got := store.Unavailable(c.err); got != c.want {
			t.Errorf("Unavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.Person(ctx, "nobody"); store.Unavailable(err) {
			t.Errorf("not found: %v is unavailable", err)
		}
		if _, err := s.DB.ExecContext(ctx, "SELEC 1"); err == nil || store.Unavailable(err) {
			t.Errorf("a syntax error: %v is unavailable", err)
		}
		s.Close()
		if _, err := s.Person(ctx, "alice"); !store.Unavailable(err) {
			t.Errorf("a closed database: %v is not unavailable", err)
		}
	})
}
