package store

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Health watches whether the database answers: it asks every interval,
// and at once when a query failed in a way that may mean the database is
// gone (Unreachable). It logs each change of state once, not each check,
// and tells the functions given to OnChange.
//
// On PostgreSQL it asks on a connection of its own, outside the pool: a
// pool busy with a fan-out is not a database that cannot be reached.
type Health struct {
	ping     func(ctx context.Context) error
	stop     func() // drops the monitor's own connection
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	now      func() time.Time
	kick     chan struct{}

	mu       sync.Mutex
	down     bool
	since    time.Time // when the database stopped answering
	lastErr  string
	started  uint64        // checks started
	finished uint64        // checks finished
	done     chan struct{} // closed when a check finishes, then replaced
	change   chan struct{} // closed when the state changes, then replaced
	hooks    []func()
}

// NewHealth makes the store's monitor: it checks every interval, each
// check given timeout. Call Run to start it. Only one is kept per store:
// the PostgreSQL listener reconnects as soon as it says the database is
// back.
func (s *Store) NewHealth(log *slog.Logger, interval, timeout time.Duration) *Health {
	h := &Health{interval: interval, timeout: timeout, log: log, now: time.Now, kick: make(chan struct{}, 1),
		done: make(chan struct{}), change: make(chan struct{})}
	if s.pool != nil {
		p := &pinger{cfg: s.pool.Config().ConnConfig}
		h.ping, h.stop = p.ping, p.close
	} else {
		h.ping, h.stop = s.db.PingContext, func() {}
	}
	s.health = h
	if s.pool != nil {
		h.OnChange(s.dropConnections)
	}
	return h
}

// dropConnections closes the idle connections (the pool's and
// database/sql's over it) when the database goes away or comes back: they
// were cut, and a query on one that had been idle for less than a second
// (not pinged first) would fail with "unexpected EOF" after the return.
// Connections in use close when they are given back.
func (s *Store) dropConnections() {
	s.db.SetMaxIdleConns(0)
	s.db.SetMaxIdleConns(pgIdleConns)
	s.pool.Reset()
}

// Run checks until ctx ends. It closes its own connection on the way out.
func (h *Health) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	defer h.stop()
	for {
		h.checkOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
	}
}

// checkOnce asks the database once and records the answer.
func (h *Health) checkOnce(ctx context.Context) {
	h.mu.Lock()
	h.started++
	h.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, h.timeout)
	err := h.ping(cctx)
	cancel()
	if ctx.Err() != nil {
		return // stopping: not the database's fault
	}
	h.record(err)
}

func (h *Health) record(err error) {
	now := h.now()
	h.mu.Lock()
	was, since := h.down, h.since
	if err != nil {
		h.lastErr = err.Error()
		if !h.down {
			h.down, h.since = true, now
		}
	} else {
		h.down = false
	}
	changed := was != h.down
	var hooks []func()
	if changed {
		close(h.change)
		h.change = make(chan struct{})
		hooks = h.hooks
	}
	h.mu.Unlock()
	switch {
	case changed && err != nil:
		h.log.Error("database unreachable: serving the last snapshot; writes fail until it is back", "error", err.Error())
	case changed:
		h.log.Info("database reachable again", "down_for", now.Sub(since).Round(time.Millisecond).String())
	}
	for _, f := range hooks {
		f()
	}
	// The check counts as finished once its news is out: a caller of
	// Check sees the log line written and the hooks told.
	h.mu.Lock()
	h.finished++
	close(h.done)
	h.done = make(chan struct{})
	h.mu.Unlock()
}

// OnChange adds a function called (from the monitor's goroutine) each time
// the database stops or starts answering. Add them before Run.
func (h *Health) OnChange(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks = append(h.hooks, f)
}

// Down reports whether the database is unreachable, and since when.
func (h *Health) Down() (since time.Time, down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.since, h.down
}

// downState is Down on a monitor that may be nil (never down).
func (h *Health) downState() (time.Time, bool) {
	if h == nil {
		return time.Time{}, false
	}
	return h.Down()
}

// LastError is the last failed check's error, for logs and operators.
func (h *Health) LastError() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}

// changed returns a channel closed at the next change of state.
func (h *Health) changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.change
}

// Check asks the database now, waiting for a check that starts after the
// call (not one already under way, which may predate a failure), and
// reports whether it is down. It needs Run; it waits at most until ctx
// ends, and then reports the last known state.
func (h *Health) Check(ctx context.Context) bool {
	h.mu.Lock()
	target := h.started + 1
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default: // a check is already asked for; it starts after this call
	}
	for {
		h.mu.Lock()
		if h.finished >= target {
			down := h.down
			h.mu.Unlock()
			return down
		}
		done := h.done
		h.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			_, down := h.Down()
			return down
		}
	}
}

// Unreachable tells whether err, returned by a query, means the database
// cannot be reached: when it is not plainly the database's own answer (a
// constraint, a syntax error) or the caller going away, it checks at once
// (see Check), so the monitor learns of an outage from the first failed
// query rather than at its next tick.
func (h *Health) Unreachable(ctx context.Context, err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !strings.HasPrefix(pgErr.Code, "08") && !strings.HasPrefix(pgErr.Code, "57") {
		// The server answered. Classes 08 (connection exception) and 57
		// (operator intervention: shutting down, cannot connect now)
		// are the server going away.
		return false
	}
	if _, down := h.Down(); down {
		return true
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout+time.Second)
	defer cancel()
	return h.Check(cctx)
}

// pinger holds the monitor's own PostgreSQL connection, dialled again after
// a failure.
type pinger struct {
	cfg  *pgx.ConnConfig
	mu   sync.Mutex
	conn *pgx.Conn
}

func (p *pinger) ping(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil || p.conn.IsClosed() {
		c, err := pgx.ConnectConfig(ctx, p.cfg.Copy())
		if err != nil {
			return err
		}
		p.conn = c
	}
	if err := p.conn.Ping(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.conn.Close(cctx) //nolint:errcheck // the connection is being dropped
		cancel()
		p.conn = nil
		return err
	}
	return nil
}

// close drops the monitor's connection.
func (p *pinger) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.conn.Close(cctx) //nolint:errcheck
		cancel()
		p.conn = nil
	}
}
