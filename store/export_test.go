package store

import "database/sql"

// DB and Rebind let the store's tests read what no method shows (the
// rows a fan-out wrote), in the store's own dialect.
func (s *Store) DB() *sql.DB { return s.db }

// Rebind writes a query with $n placeholders in the store's dialect.
func (s *Store) Rebind(query string) string { return s.q(query) }
