package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald/store"
)

// TestPreparedInsideBusyTransactions: a transaction that runs a query not
// yet prepared while every other connection of the SQLite pool waits to
// begin its own must not wait for a free connection to prepare it (it would
// wait until SQLite's busy timeout: the others wait for its lock). It runs
// the query plain; the statement is prepared later, and used.
func TestPreparedInsideBusyTransactions(t *testing.T) {
	s, _ := open(t, store.SQLite)
	ctx := t.Context()
	const query = `SELECT COUNT(*) FROM components WHERE id <> 'prepared-test'`
	inTx := make(chan struct{})
	release := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Go(func() {
		errs <- s.InTx(ctx, func(q store.RowQuerier) error {
			close(inTx)
			<-release
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var n int
			return q.QueryRowContext(qctx, query).Scan(&n)
		})
	})
	<-inTx
	// The pool's other three connections, each waiting to begin.
	for range 3 {
		wg.Go(func() {
			errs <- s.InTx(ctx, func(store.RowQuerier) error {
				return nil
			})
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.DB().Stats().InUse < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the pool's connections in use: %d; want 4", s.DB().Stats().InUse)
		}
		time.Sleep(5 * time.Millisecond) // polling the pool's state, not waiting out a delay
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a transaction failed: %v", err)
		}
	}
	// Prepared in the background once the pool was free: used now.
	deadline = time.Now().Add(10 * time.Second)
	for !s.Prepared(query) {
		if time.Now().After(deadline) {
			t.Fatal("the transaction's query was never prepared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.InTx(ctx, func(q store.RowQuerier) error {
		var n int
		return q.QueryRowContext(ctx, query).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
}
