package store_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// lockedBuffer is a log sink read while the monitor writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The database really goes away (a proxy between the store and PostgreSQL
// closes every connection and refuses new ones) and comes back: the
// monitor says so once each way, learns of the outage from a failed query
// at once, tells its hooks, and LISTEN/NOTIFY works again afterwards
// without waiting for the poll.
func TestHealthFollowsTheDatabase(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proxied, directURL, proxy := storetest.ProxiedURL(t)
	st, err := store.Open(ctx, store.Postgres, proxied, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The listener holds a connection until ctx ends: end it first.
	defer func() { cancel(); st.Close() }()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// A second handle straight to the database: another replica's writes.
	direct, err := store.Open(ctx, store.Postgres, directURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()

	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	// A long interval: the outage must be learnt from the failed query,
	// not from the next tick.
	h := st.NewHealth(log, time.Hour, 500*time.Millisecond)
	var changes atomic.Int32
	h.OnChange(func() { changes.Add(1) })
	go h.Run(ctx)
	if h.Check(ctx) {
		t.Fatalf("the database is reported down before any cut: %s", h.LastError())
	}
	// An hour's poll: a change seen within the test came by LISTEN.
	var notified atomic.Int32
	go st.Watch(ctx, time.Hour, log, func() { notified.Add(1) })
	comps := []herald.ComponentSpec{{Key: "api", Name: "API"}}
	waitFor(t, 10*time.Second, "LISTEN to carry another replica's write", func() bool {
		// Until the listener is up, a write may go unheard: write again.
		if err := direct.SyncComponents(ctx, nil, comps); err != nil {
			t.Fatal(err)
		}
		comps[0].Name += "!"
		time.Sleep(20 * time.Millisecond)
		return notified.Load() > 0
	})

	proxy.Cut()
	_, _, qerr := st.Version(ctx)
	if qerr == nil {
		t.Fatal("a query through the cut proxy succeeded")
	}
	if !h.Unreachable(ctx, qerr) {
		t.Fatalf("the failed query (%v) does not count as the database unreachable", qerr)
	}
	since, down := h.Down()
	if !down || since.IsZero() {
		t.Fatalf("Down() = %v, %v after a failed check", since, down)
	}
	// More checks while down: still one line.
	for range 3 {
		if !h.Check(ctx) {
			t.Fatal("the database is reported back while cut")
		}
	}
	if n := logs.count("database unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, logs.b.String())
	}
	if n := changes.Load(); n != 1 {
		t.Errorf("the hooks were told %d times of the outage, want once", n)
	}
	restored := time.Now()
	proxy.Restore()
	waitFor(t, 10*time.Second, "the monitor to see the database back", func() bool { return !h.Check(ctx) })
	if n := logs.count("database reachable again"); n != 1 {
		t.Errorf("the return was logged %d times, want once:\n%s", n, logs.b.String())
	}
	if n := changes.Load(); n != 2 {
		t.Errorf("the hooks were told %d times in all, want twice", n)
	}
	// LISTEN again: a session of the proxied store listens, connected after
	// the return, and another replica's write is heard (the poll is an hour).
	admin, err := pgx.Connect(ctx, directURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	waitFor(t, 15*time.Second, "the listener to reconnect", func() bool {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN herald_changes' AND backend_start > $1`, restored).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	before := notified.Load()
	waitFor(t, 10*time.Second, "LISTEN to resume after the outage", func() bool {
		if err := direct.SyncComponents(ctx, nil, comps); err != nil {
			t.Fatal(err)
		}
		comps[0].Name += "!"
		time.Sleep(20 * time.Millisecond)
		return notified.Load() > before
	})
	if _, _, err := st.Version(ctx); err != nil {
		t.Fatalf("a query after the return: %v", err)
	}
	if h.Unreachable(ctx, fmt.Errorf("store: %w", herald.ErrNotFound)) {
		t.Error("with the database back, an error the database answered counts as unreachable")
	}
}
