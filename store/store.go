// Package store is the only package that speaks SQL. One concrete Store runs
// on PostgreSQL (pgx v5) in production and on an embedded SQLite file (pure
// Go, no cgo) by default; both pass the same conformance suite.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/kredete/herald"
	"github.com/kredete/herald/migrations"
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Store reads and writes Herald's data.
type Store struct {
	db      *sql.DB
	pool    *pgxpool.Pool // PostgreSQL only: LISTEN/NOTIFY
	dialect string
	now     func() time.Time
	local   chan struct{} // signalled after every committed write in this process
	health  *Health       // set by NewHealth: the listener reconnects when it says the database is back

	sessions     scs.Store
	stopSessions func()

	plan   *herald.Plan // set by EnableDeliveries: writes fan out to the plan's channels
	paging bool         // set by EnablePaging: incidents page PagerDuty as the plan says

	fanout bool // set by EnableFanout: public updates reach subscribers

	keyMu   sync.Mutex
	linkKey []byte // subscribers' signed links (signing.go)
	riverMu sync.Mutex
	river   *river.Client[*sql.Tx]

	stmts stmtCache // the delivery path's prepared statements (prepared.go)
}

// pgIdleConns is database/sql's idle connections over the pgx pool (its
// default), set again after dropConnections.
const pgIdleConns = 2

// Options tune a Store.
type Options struct {
	// Now is the clock; time.Now when nil. Tests and seeding inject their own.
	Now func() time.Time
}

// Open connects to the database. dialect is Postgres or SQLite; dsn is the
// driver's data source name (a postgres:// URL or an SQLite path).
func Open(ctx context.Context, dialect, dsn string, opts Options) (*Store, error) {
	s := &Store{dialect: dialect, now: opts.Now, local: make(chan struct{}, 1)}
	if s.now == nil {
		s.now = time.Now
	}
	switch dialect {
	case Postgres:
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("store: parse database url: %w", err)
		}
		if cfg.MaxConns < 8 {
			cfg.MaxConns = 8
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("store: connect: %w", err)
		}
		s.pool = pool
		s.db = stdlib.OpenDBFromPool(pool)
		s.db.SetMaxIdleConns(pgIdleConns)
	case SQLite:
		db, err := sql.Open("sqlite", sqliteDSN(dsn))
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		// One writer at a time is SQLite's rule; WAL lets readers go on.
		// An in-memory database exists per connection, so it gets one.
		if strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory") {
			db.SetMaxOpenConns(1)
		} else {
			db.SetMaxOpenConns(4)
			// Keep them all open: database/sql keeps two idle by default,
			// and a connection closed and opened again under load loses
			// its prepared statements and runs its pragmas again.
			db.SetMaxIdleConns(4)
		}
		s.db = db
	default:
		return nil, fmt.Errorf("store: unknown dialect %q", dialect)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: ping %s: %w", dialect, err)
	}
	return s, nil
}

func sqliteDSN(path string) string {
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
}

// Close releases the connections.
func (s *Store) Close() {
	if s.stopSessions != nil {
		s.stopSessions()
	}
	s.stmts.close()
	if s.db != nil {
		s.db.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}

// Dialect is Postgres or SQLite.
func (s *Store) Dialect() string { return s.dialect }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *Store) provider() (*goose.Provider, error) {
	d := goose.DialectPostgres
	if s.dialect == SQLite {
		d = goose.DialectSQLite3
	}
	return goose.NewProvider(d, s.db, migrations.FS(s.dialect))
}

// Migrate applies every pending migration.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return s.migrateQueue(ctx)
}

// ErrSchemaOutOfDate means migrations are pending: run `herald migrate`.
var ErrSchemaOutOfDate = errors.New("store: the database schema is out of date; run `herald migrate`")

// CheckSchema returns ErrSchemaOutOfDate when migrations are pending.
func (s *Store) CheckSchema(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("store: check schema: %w", err)
	}
	if pending {
		return ErrSchemaOutOfDate
	}
	ok, err := s.queueCurrent(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrSchemaOutOfDate
	}
	return nil
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// q adapts a query written for PostgreSQL ($1 placeholders, FOR UPDATE) to
// the store's dialect. SQLite binds ?NNN by number, like $N.
func (s *Store) q(query string) string {
	if s.dialect == Postgres {
		return query
	}
	query = strings.ReplaceAll(query, " FOR UPDATE", "")
	return placeholder.ReplaceAllString(query, "?$1")
}

// transact runs fn in a transaction, committing when it returns nil. A write
// also bumps the page version, so every replica rebuilds its snapshot.
func (s *Store) transact(ctx context.Context, write bool, fn func(tx *sql.Tx) error) error {
	return s.transactChanges(ctx, func(tx *sql.Tx) (bool, error) { return write, fn(tx) })
}

// transactChanges is transact for a write that may turn out to change
// nothing (fn says whether it did): then the version stays, and no replica
// rebuilds its snapshot or sends browsers a new page for the same content.
func (s *Store) transactChanges(ctx context.Context, fn func(tx *sql.Tx) (changed bool, err error)) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	write, err := fn(tx)
	if err != nil {
		return err
	}
	if write {
		if _, err := tx.ExecContext(ctx, s.q(bumpVersion), s.Now()); err != nil {
			return fmt.Errorf("store: bump version: %w", err)
		}
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify('herald_changes', '')`); err != nil {
				return fmt.Errorf("store: notify: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if write {
		select {
		case s.local <- struct{}{}:
		default:
		}
	}
	return nil
}

const bumpVersion = `UPDATE page_state SET version = version + 1, updated_at = $1 WHERE id = 1`

// Version is the page version and the time of the last write.
func (s *Store) Version(ctx context.Context) (int64, time.Time, error) {
	var v int64
	var at time.Time
	err := s.prep(nil).QueryRowContext(ctx, `SELECT version, updated_at FROM page_state WHERE id = 1`).Scan(&v, &at)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: version: %w", err)
	}
	return v, at.UTC(), nil
}

// newID returns a 12-character lower-case id like Statuspage's.
func newID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timePtr(n sql.NullTime) *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time.UTC()
	return &t
}
