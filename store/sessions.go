package store

import (
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
)

// SessionStore is where console sessions live: in the database, so a
// session works on every replica. Expired sessions are removed every five
// minutes until the store is closed.
func (s *Store) SessionStore() scs.Store {
	if s.sessions != nil {
		return s.sessions
	}
	switch s.dialect {
	case Postgres:
		ps := pgxstore.NewWithCleanupInterval(s.pool, 5*time.Minute)
		s.sessions, s.stopSessions = ps, ps.StopCleanup
	default:
		ss := sqlite3store.NewWithCleanupInterval(s.db, 5*time.Minute)
		s.sessions, s.stopSessions = ss, ss.StopCleanup
	}
	return s.sessions
}
