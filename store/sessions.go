package store

import (
	"context"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
)

// sessionCleanup is how often expired sessions are deleted.
const sessionCleanup = 5 * time.Minute

// SessionStore is where console sessions live: in the database, so a
// session works on every replica. Expired sessions are removed every five
// minutes until the store is closed. The cleanup loop is ours, not the
// library's: pgxstore's creates its stop channel inside the goroutine, which
// races with StopCleanup.
func (s *Store) SessionStore() scs.Store {
	if s.sessions != nil {
		return s.sessions
	}
	var cleanup string
	switch s.dialect {
	case Postgres:
		s.sessions = pgxstore.NewWithCleanupInterval(s.pool, 0)
		cleanup = `DELETE FROM sessions WHERE expiry < current_timestamp`
	default:
		s.sessions = sqlite3store.NewWithCleanupInterval(s.db, 0)
		cleanup = `DELETE FROM sessions WHERE expiry < julianday('now')`
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(sessionCleanup)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.db.ExecContext(ctx, cleanup) //nolint:errcheck // retried at the next tick
			}
		}
	}()
	s.stopSessions = func() { cancel(); <-done }
	return s.sessions
}
