// Package storetest opens real databases for tests: a fresh SQLite file, or
// a fresh PostgreSQL database created for the test and dropped after it.
//
// PostgreSQL is found at HERALD_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). When it
// cannot be reached the test fails: CI must never skip the PostgreSQL half
// silently. A developer without PostgreSQL may set HERALD_TEST_SKIP_POSTGRES=1,
// which skips it loudly.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kredete/herald/store"
)

// Dialects are the dialects every store test runs on.
var Dialects = []string{store.SQLite, store.Postgres}

// DefaultPostgresURL is the server the tests use when
// HERALD_TEST_POSTGRES_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// URL returns a database URL for a fresh, migrated-nothing database of the
// dialect, in the form HERALD_DATABASE_URL accepts.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case store.SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "herald.db")
	case store.Postgres:
		return postgresURL(t)
	}
	t.Fatalf("storetest: unknown dialect %q", dialect)
	return ""
}

// Open returns a migrated store on a fresh database of the dialect.
func Open(t testing.TB, dialect string, opts store.Options) *store.Store {
	t.Helper()
	u := URL(t, dialect)
	dsn := u
	if dialect == store.SQLite {
		dsn = u[len("sqlite:"):]
	}
	ctx := context.Background()
	s, err := store.Open(ctx, dialect, dsn, opts)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", dialect, err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate %s: %v", dialect, err)
	}
	return s
}

func postgresURL(t testing.TB) string {
	t.Helper()
	if os.Getenv("HERALD_TEST_SKIP_POSTGRES") == "1" {
		t.Skip("HERALD_TEST_SKIP_POSTGRES=1: PostgreSQL half skipped (never set this in CI)")
	}
	admin := os.Getenv("HERALD_TEST_POSTGRES_URL")
	if admin == "" {
		admin = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("storetest: PostgreSQL is required at %s and cannot be reached: %v "+
			"(start it, set HERALD_TEST_POSTGRES_URL, or set HERALD_TEST_SKIP_POSTGRES=1 locally)", admin, err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b) //nolint:errcheck
	name := "herald_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("storetest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("storetest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("storetest: parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return u.String()
}
