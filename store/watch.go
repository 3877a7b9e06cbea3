package store

import (
	"context"
	"log/slog"
	"time"
)

// Watch calls onChange whenever the data may have changed: at once after a
// write in this process, on PostgreSQL when another replica's write is
// notified (LISTEN herald_changes), and on both dialects when the page
// version moves between polls (the safety net when a notification is lost,
// and the way an SQLite server sees a CLI's writes). It returns when ctx ends.
func (s *Store) Watch(ctx context.Context, poll time.Duration, log *slog.Logger, onChange func()) {
	remote := make(chan struct{}, 1)
	if s.pool != nil {
		go s.listen(ctx, log, remote)
	}
	last, _, _ := s.Version(ctx)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.local:
			last, _, _ = s.Version(ctx)
			onChange()
		case <-remote:
			last, _, _ = s.Version(ctx)
			onChange()
		case <-t.C:
			v, _, err := s.Version(ctx)
			if err != nil {
				continue // the database is away; keep serving what we have
			}
			if v != last {
				last = v
				onChange()
			}
		}
	}
}

// listen holds one connection in LISTEN and reconnects with backoff.
// Notifications sent while it was not listening (the database restarted,
// the connection dropped) are lost, so a reconnection counts as a change:
// the caller reloads and misses nothing written in the gap.
func (s *Store) listen(ctx context.Context, log *slog.Logger, out chan<- struct{}) {
	backoff := 100 * time.Millisecond
	lost := false
	for ctx.Err() == nil {
		err := func() error {
			conn, err := s.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, "LISTEN herald_changes"); err != nil {
				return err
			}
			backoff = 100 * time.Millisecond
			if lost {
				lost = false
				log.Info("listening for changes again")
				select {
				case out <- struct{}{}:
				default:
				}
			}
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					// The connection may be broken; drop it rather than
					// return it to the pool still listening.
					conn.Conn().Close(context.Background())
					return err
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}()
		if ctx.Err() != nil {
			return
		}
		lost = true
		log.Warn("listen for changes failed; retrying", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
