// Package storetest gives tests real, migrated, throw-away databases: a SQLite file always, and
// a fresh Postgres database as well when DATABASE_URL is set.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/esmhq/esm/store"
	"github.com/jmoiron/sqlx"
)

// Each runs fn as a subtest once per available database ("sqlite", and "postgres" when
// DATABASE_URL is set), each with a fresh migrated store.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, Open(t, d)) })
	}
}

// Dialects lists the databases tests run against here.
func Dialects() []string {
	if os.Getenv("DATABASE_URL") != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Open returns a fresh migrated store of the dialect, removed when the test ends.
func Open(t testing.TB, dialect string) *store.Store {
	t.Helper()
	u := URL(t, dialect)
	s, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return s
}

// URL makes a fresh empty database of the dialect and returns its URL; the database is dropped
// when the test ends.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == "sqlite" {
		return filepath.Join(t.TempDir(), "esm.db")
	}
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		t.Skip("DATABASE_URL is not set")
	}
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "esm_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sqlx.Open("postgres", base)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	})
	pu, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	pu.Path = "/" + name
	return pu.String()
}
