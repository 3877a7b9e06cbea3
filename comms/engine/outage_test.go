package engine_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/store"
)

// With RetryFor, a delivery failing temporarily is retried past
// MaxAttempts while it is younger than RetryFor (an outage longer than the
// tries would otherwise last loses nothing), and given up, the commander
// told, at the first failed try after that.
func TestRetryForOutlastsMaxAttempts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		start := time.Now()
		e := newEnv(t, dialect, envOptions{plan: setExecutives(nil, []string{"+27820000001"}), clock: start})
		e.start(e.st, engine.New(engine.Options{Plan: e.plan, Store: e.st, Channels: e.chans, Now: e.clock.Now,
			Logger: e.log, MaxAttempts: 2, RetryFor: 10 * time.Minute}))

		in := e.declare("Payments failing")
		e.twilio.FailNext(1000, http.StatusInternalServerError, 0)
		e.compose(in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})

		text := func() herald.Delivery {
			for _, d := range e.deliveries(in.ID) {
				if d.Channel == herald.ChannelSMS && d.Audience == "executives" {
					return d
				}
			}
			return herald.Delivery{}
		}
		// Backoff after the second try: 1-2 s; the third try comes and
		// fails, and the delivery is still retrying.
		eventually(t, "a third try, past MaxAttempts, still retrying", func() (bool, string) {
			d := text()
			if d.State.Final() {
				t.Fatalf("given up within RetryFor: %s", describe([]herald.Delivery{d}))
			}
			return d.Attempts >= 3 && d.State == herald.DeliveryRetrying, describe([]herald.Delivery{d})
		})

		e.clock.Set(start.Add(10 * time.Minute))
		var d herald.Delivery
		eventually(t, "the delivery given up once RetryFor has passed", func() (bool, string) {
			d = text()
			return d.State.Final(), describe([]herald.Delivery{d})
		})
		if d.State != herald.DeliveryFailed || d.Attempts < 4 || !strings.Contains(d.LastError, "500") {
			t.Errorf("after RetryFor: %s; want failed after at least 4 tries with Twilio's 500", describe([]herald.Delivery{d}))
		}
		reports := filter(e.settle(in.ID, 1), ofKind(herald.KindFailure))
		if len(reports) == 0 {
			t.Error("the commander was not told of the delivery given up")
		}
	})
}

// flakyRecords is the store with its first writes of a sent delivery
// failing, as while the database restarts.
type flakyRecords struct {
	*store.Store
	failures atomic.Int32 // still to fail
	failed   atomic.Int32
}

func (f *flakyRecords) FinishAttempt(ctx context.Context, id string, state herald.DeliveryState, providerID, problem string) error {
	if state == herald.DeliverySent && f.failures.Add(-1) >= 0 {
		f.failed.Add(1)
		return errors.New("store: finish delivery: the database system is starting up")
	}
	return f.Store.FinishAttempt(ctx, id, state, providerID, problem)
}

// A message the vendor accepted is recorded even when the database fails
// the first writes: the engine writes again, and never sends it twice (an
// email could not be asked about, and would be).
func TestSentRecordedThroughDatabaseErrors(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{plan: setExecutives([]string{"ceo@kredete.example"}, nil)})
		flaky := &flakyRecords{Store: e.st}
		e.start(e.st, e.engine(flaky, nil))

		in := e.declare("Payments failing")
		e.settle(in.ID, 1)
		flaky.failures.Store(3) // the email's writes, the only delivery from here on
		e.compose(in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})
		ds := filter(e.settle(in.ID, 2), func(d herald.Delivery) bool { return d.Audience == "executives" })
		if len(ds) != 1 || ds[0].State != herald.DeliverySent || ds[0].Attempts != 1 {
			t.Fatalf("the executive's email: %s; want sent in one attempt", describe(ds))
		}
		if n := flaky.failed.Load(); n != 3 {
			t.Errorf("%d writes of a sent delivery failed, want 3", n)
		}
		var copies int
		for _, m := range e.smtp.Messages() {
			if m.Header.Get("Message-Id") == ds[0].ProviderID {
				copies++
			}
		}
		if copies != 1 {
			t.Errorf("the email arrived %d times, want once", copies)
		}
	})
}
