package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// A replica whose LISTEN connection is lost (PostgreSQL restarted, the
// connection dropped) misses the notifications sent meanwhile; when it
// listens again it calls back at once, so that the caller reloads and sees
// what was written in the gap, without waiting for the poll.
func TestWatchCallsBackWhenListeningAgain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.URL(t, store.Postgres)
	watcher := openURL(t, store.Postgres, url, store.Options{})
	if err := watcher.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	writer := openURL(t, store.Postgres, url, store.Options{})
	changed := watch(t, watcher, time.Hour) // no poll: only LISTEN and its reconnection call back

	// Listening: a write through the other store is heard. Until the
	// watcher listens, a write may go unheard: write again, a real change
	// each time (a sync that changes nothing writes nothing).
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		if err := writer.SyncComponents(ctx, nil, []herald.ComponentSpec{{Key: "api", Name: fmt.Sprintf("API %d", i)}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-time.After(250 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("the watcher never heard a write (%d writes)", i+1)
			}
			continue
		}
		break
	}
	for len(changed) > 0 {
		<-changed
	}

	// The server ends the listening connection, as a restart does; nothing
	// is written, and yet the watcher calls back once it listens again.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ended int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN herald_changes' AND pid <> pg_backend_pid()`).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if ended != 1 {
		t.Fatalf("%d listening connections ended, want the watcher's one", ended)
	}
	waitChange(t, changed, "its LISTEN connection was ended")

	// And it hears writes again.
	for len(changed) > 0 {
		<-changed
	}
	if err := writer.SyncComponents(ctx, nil, []herald.ComponentSpec{{Key: "api", Name: "API, renamed"}}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changed, "a write after listening again")
}
