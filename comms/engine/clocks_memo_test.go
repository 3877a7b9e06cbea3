package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/engine"
)

// claims counts the engine's attempts to claim a step in the database.
type claims struct {
	engine.Store
	mu sync.Mutex
	n  map[string]int
}

func (c *claims) QueueOnce(ctx context.Context, key, incidentID string, ds []herald.Delivery) (bool, error) {
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	return c.Store.QueueOnce(ctx, key, incidentID, ds)
}

func (c *claims) RecordHolding(ctx context.Context, key, incidentID, audience, body string) (bool, error) {
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	return c.Store.RecordHolding(ctx, key, incidentID, audience, body)
}

// A step carried out (or found done by another replica) is not claimed
// again on later wakes while it stays the current one; the next step is.
func TestTickClaimsEachStepOnce(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{clock: t0})
		in := e.declare("Payments failing")
		other := e.engine(e.openStore(), nil) // another replica
		c := &claims{Store: e.st, n: map[string]int{}}
		eng := e.engine(c, nil)
		tick := func(at time.Time, eng *engine.Engine) {
			t.Helper()
			e.clock.Set(at)
			if _, err := eng.Tick(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		// 09:10, the public page's reminder: claimed once over three wakes.
		for _, s := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
			tick(t0.Add(10*time.Minute+s), eng)
		}
		// 09:15 (due): the other replica sends it; this one claims it once,
		// finds it done, and does not try again.
		tick(t0.Add(15*time.Minute), other)
		for _, s := range []time.Duration{0, time.Second} {
			tick(t0.Add(15*time.Minute+s), eng)
		}
		if len(c.n) != 2 {
			t.Fatalf("%d steps claimed, want 2 (09:10 reminder, 09:15 due): %v", len(c.n), c.n)
		}
		for key, n := range c.n {
			if n != 1 {
				t.Errorf("step %s claimed %d times, want once", key, n)
			}
		}
		reminders := filter(e.deliveries(in.ID), ofKind(herald.KindReminder))
		if len(reminders) != 4 { // two steps, Slack and SMS each
			t.Errorf("%d reminder deliveries, want 4: %s", len(reminders), describe(reminders))
		}
	})
}
