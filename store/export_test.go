package store

import (
	"context"
	"database/sql"
)

// DB and Rebind let the store's tests read what no method shows (the
// rows a fan-out wrote), in the store's own dialect.
func (s *Store) DB() *sql.DB { return s.db }

// Rebind writes a query with $n placeholders in the store's dialect.
func (s *Store) Rebind(query string) string { return s.q(query) }

// RowQuerier is what InTx hands its function.
type RowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// InTx runs fn inside one of the store's transactions, with the store's
// prepared-statement runner for it.
func (s *Store) InTx(ctx context.Context, fn func(q RowQuerier) error) error {
	return s.transact(ctx, false, func(tx *sql.Tx) error { return fn(s.prep(tx)) })
}

// Prepared reports whether query (in the store's dialect) is prepared.
func (s *Store) Prepared(query string) bool { return s.cachedStmt(query) != nil }
