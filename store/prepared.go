package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// stmtCache keeps the statements of the delivery path prepared. SQLite
// (modernc.org/sqlite through database/sql) parses and plans every
// unprepared query again: during a fan-out that was a quarter of the
// processor time a message costs. database/sql prepares a statement once
// per connection and reuses it, inside transactions too (Tx.StmtContext).
// pgx caches its statements itself, so on PostgreSQL queries run as they
// are.
//
// A statement is prepared on the pool (DB.PrepareContext), which takes a
// free connection: never from inside a transaction, whose connection is
// already held (four transactions each waiting for a fifth connection would
// wait for ever). A transaction that finds its query not yet prepared runs
// it plain and has it prepared in the background, outside any transaction.
type stmtCache struct {
	mu        sync.Mutex
	stmts     map[string]*sql.Stmt
	preparing map[string]bool
	closed    bool
}

// cachedStmt returns the query's statement if it is prepared.
func (s *Store) cachedStmt(query string) *sql.Stmt {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// prepareLater prepares the query in the background, once at a time.
func (s *Store) prepareLater(query string) {
	c := &s.stmts
	c.mu.Lock()
	if c.closed || c.preparing[query] {
		c.mu.Unlock()
		return
	}
	if c.preparing == nil {
		c.preparing = map[string]bool{}
	}
	c.preparing[query] = true
	c.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.stmt(ctx, query) //nolint:errcheck // a query that cannot be prepared keeps running plain
		c.mu.Lock()
		delete(c.preparing, query)
		c.mu.Unlock()
	}()
}

// stmt prepares query on the pool, or returns it prepared. The caller
// must hold no connection of the pool (no transaction).
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := s.cachedStmt(query); st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		st.Close()
		return nil, sql.ErrConnDone
	}
	if have, ok := c.stmts[query]; ok {
		st.Close()
		return have, nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts, c.closed = nil, true
}

// prepared runs queries (already in the store's dialect) on db or tx as
// prepared statements on SQLite, and as they are on PostgreSQL.
type prepared struct {
	s  *Store
	tx *sql.Tx // nil: the pool
}

// prep is the store's pool, or tx when given, running prepared statements.
func (s *Store) prep(tx *sql.Tx) prepared { return prepared{s: s, tx: tx} }

func (p prepared) plain() interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
} {
	if p.tx != nil {
		return p.tx
	}
	return p.s.db
}

// statement returns the prepared statement for query, bound to the
// transaction when there is one; nil (run it plain) when a transaction's
// query is not prepared yet.
func (p prepared) statement(ctx context.Context, query string) (*sql.Stmt, error) {
	if p.tx == nil {
		return p.s.stmt(ctx, query)
	}
	st := p.s.cachedStmt(query)
	if st == nil {
		p.s.prepareLater(query)
		return nil, nil
	}
	// Prepared again on the transaction's own connection if it was not
	// yet; closed with the transaction.
	return p.tx.StmtContext(ctx, st), nil
}

func (p prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if p.s.dialect != SQLite {
		return p.plain().QueryContext(ctx, query, args...)
	}
	st, err := p.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return p.plain().QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext falls back to the plain query when the statement cannot
// be prepared, so that the error comes back through Row.Scan.
func (p prepared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if p.s.dialect != SQLite {
		return p.plain().QueryRowContext(ctx, query, args...)
	}
	st, err := p.statement(ctx, query)
	if err != nil || st == nil {
		return p.plain().QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (p prepared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if p.s.dialect != SQLite {
		return p.plain().ExecContext(ctx, query, args...)
	}
	st, err := p.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return p.plain().ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}
