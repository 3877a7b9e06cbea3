package main

import (
	"context"
	"log/slog"
	"time"
)

// quietWhileDown lowers warnings and errors to debug while the database is
// unreachable: the monitor has said so once, and the queue and the engine
// would otherwise log every failed poll (several lines a second) for the
// length of the outage.
type quietWhileDown struct {
	next slog.Handler
	down func() (time.Time, bool)
}

func (q quietWhileDown) Enabled(ctx context.Context, l slog.Level) bool {
	return q.next.Enabled(ctx, l)
}

func (q quietWhileDown) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		if _, down := q.down(); down {
			if !q.next.Enabled(ctx, slog.LevelDebug) {
				return nil
			}
			r.Level = slog.LevelDebug
		}
	}
	return q.next.Handle(ctx, r)
}

func (q quietWhileDown) WithAttrs(as []slog.Attr) slog.Handler {
	return quietWhileDown{q.next.WithAttrs(as), q.down}
}

func (q quietWhileDown) WithGroup(name string) slog.Handler {
	return quietWhileDown{q.next.WithGroup(name), q.down}
}
