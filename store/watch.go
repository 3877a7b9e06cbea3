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

// listen holds one connection in LISTEN and reconnects with backoff. With
// a monitor (NewHealth), each change of the database's state ends the wait
// on the connection at once: going down, a connection the network dropped
// silently could otherwise wait for minutes; coming back, LISTEN resumes
// without waiting out the backoff. After a reconnect it signals a change
// once, since notifications sent in between were missed.
func (s *Store) listen(ctx context.Context, log *slog.Logger, out chan<- struct{}) {
	backoff := 100 * time.Millisecond
	signal := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	for connected := false; ctx.Err() == nil; {
		var changed <-chan struct{} // nil without a monitor: never ready
		if s.health != nil {
			changed = s.health.changed()
		}
		err := func() error {
			lctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-changed:
					cancel()
				case <-lctx.Done():
				}
			}()
			conn, err := s.pool.Acquire(lctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(lctx, "LISTEN herald_changes"); err != nil {
				conn.Conn().Close(context.Background()) //nolint:errcheck // dropped, not returned listening
				return err
			}
			backoff = 100 * time.Millisecond
			if connected {
				log.Info("listening for changes again")
				signal()
			}
			connected = true
			for {
				if _, err := conn.Conn().WaitForNotification(lctx); err != nil {
					// The connection may be broken; drop it rather than
					// return it to the pool still listening.
					conn.Conn().Close(context.Background()) //nolint:errcheck
					return err
				}
				signal()
			}
		}()
		if ctx.Err() != nil {
			return
		}
		select {
		case <-changed:
			continue // the database went away or came back: reconnect now
		default:
		}
		if _, down := s.health.downState(); down {
			log.Debug("listen for changes failed; the database is unreachable", "error", err, "retry_in", backoff)
		} else {
			log.Warn("listen for changes failed; retrying", "error", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		case <-changed:
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
