// Package store is the catalog and the read model: sqlx repositories over SQLite (the embedded
// default) or Postgres, with goose migrations embedded per dialect. Every query goes through one
// code path; db.Rebind adapts placeholders.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // Postgres driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite" // SQLite driver
)

//go:embed migrations
var migrations embed.FS

// ErrNotFound is returned when a row asked for by key does not exist.
var ErrNotFound = errors.New("not found")

// Store wraps the database.
type Store struct {
	DB       *sqlx.DB
	postgres bool
	// writing serializes this process's SQLite transactions (each takes the database's write
	// lock when it begins): waiting here is a hand-off, where waiting in SQLite is its busy
	// handler's sleeps of up to 100 ms, the tail of every write under load (docs/BENCHMARKS.md).
	writing sync.Mutex
}

// DefaultSQLitePath is where `make run` keeps the embedded database.
const DefaultSQLitePath = ".data/esm.db"

// Open connects to the database named by url: a postgres:// URL for Postgres, anything else is
// a SQLite file path ("" means DefaultSQLitePath). It does not migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	var (
		db  *sqlx.DB
		err error
		pg  = strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
	)
	if pg {
		db, err = sqlx.Open("postgres", pgSession(url))
		if err == nil {
			db.SetMaxOpenConns(20)
			db.SetMaxIdleConns(10)
			db.SetConnMaxIdleTime(5 * time.Minute)
		}
	} else {
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			path = DefaultSQLitePath
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("create database directory: %w", err)
			}
		}
		// WAL lets readers run beside the writer; busy_timeout makes writers from the API and
		// the worker (two processes in production) wait for each other instead of failing.
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		// Connections that keep the statements they compiled (stmtcache.go), and enough of
		// them kept open that their statements are reused.
		db = sqlx.NewDb(sql.OpenDB(cachingConnector{dsn: dsn, d: &sqlite.Driver{}}), "sqlite")
		db.SetMaxIdleConns(8)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &Store{DB: db, postgres: pg}, nil
}

// pgSession sets two lib/pq connection parameters unless the URL names them itself:
//   - timezone=UTC: lib/pq returns timestamptz values in the session's zone, which is the
//     server's TimeZone (often local time), while everything the store writes, and all SQLite
//     gives back, is UTC;
//   - binary_parameters=yes: lib/pq then sends a statement with arguments in one round trip
//     (parse, bind and execute together) instead of two (parse and describe first); a
//     projection is a handful of statements in a transaction (docs/BENCHMARKS.md).
func pgSession(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return raw // lib/pq reports it
	}
	q := u.Query()
	for name, value := range map[string]string{"timezone": "UTC", "binary_parameters": "yes"} {
		set := false
		for k := range q {
			set = set || strings.EqualFold(k, name)
		}
		if !set {
			q.Set(name, value)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Dialect names the database: "postgres" or "sqlite".
func (s *Store) Dialect() string {
	if s.postgres {
		return "postgres"
	}
	return "sqlite"
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

// Ping checks the database answers, for readiness.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

// Migrate applies every pending migration. On Postgres a session lock makes concurrent
// migrations (API and worker starting together) wait for each other.
func (s *Store) Migrate(ctx context.Context) error {
	dir := "migrations/sqlite"
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.postgres {
		dir = "migrations/postgres"
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, s.DB.DB, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	applied, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range applied {
		if r.Source != nil && r.Source.Version == inboxDueVersion {
			if err := s.rederiveApprovers(ctx); err != nil {
				return fmt.Errorf("migrate: after %d: %w", inboxDueVersion, err)
			}
		}
		if r.Source != nil && r.Source.Version == inboxBarredVersion {
			if err := s.rederiveBarred(ctx); err != nil {
				return fmt.Errorf("migrate: after %d: %w", inboxBarredVersion, err)
			}
		}
	}
	return nil
}

// inboxBarredVersion is the migration that added request_barred: the rows of requests waiting
// on approval are derived from their states and definitions once it has run.
const inboxBarredVersion = 10

// inboxDueVersion is the migration that added request_approvers.due: the rows of open requests
// are derived again from their states once it has run.
const inboxDueVersion = 8

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	if !s.postgres {
		s.writing.Lock()
		defer s.writing.Unlock()
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
