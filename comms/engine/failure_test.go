package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/comms/sms/twiliotest"
	"github.com/kredete/herald/store"
)

// failingQueue is the store with QueueOnce failing a number of times, as
// when the database goes away (or the process stops) mid-way.
type failingQueue struct {
	*store.Store
	failures atomic.Int32
}

func (f *failingQueue) QueueOnce(ctx context.Context, key, incidentID string, ds []herald.Delivery) (bool, error) {
	if f.failures.Add(-1) >= 0 {
		return false, errors.New("database went away")
	}
	return f.Store.QueueOnce(ctx, key, incidentID, ds)
}

// A delivery is marked failed only once the report to the commander is
// queued: when queueing the report fails, the delivery stays open, and the
// retry queues the report. (Marking it failed first lost the report: the
// retry found a final delivery and did nothing.)
func TestFailureReportIsNotLost(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{plan: setExecutives(nil, []string{twiliotest.NumberInvalid})})
		st := &failingQueue{Store: e.st}
		st.failures.Store(1)
		eng := e.engine(st, nil)

		in := e.declare("Payments failing")
		e.compose(in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})
		texts := filter(e.deliveries(in.ID), func(d herald.Delivery) bool { return d.Channel == herald.ChannelSMS })
		if len(texts) != 1 {
			t.Fatalf("SMS deliveries: %s", describe(texts))
		}
		id := texts[0].ID

		if err := eng.Deliver(e.ctx, id); err == nil {
			t.Fatal("Deliver succeeded although the failure report could not be queued")
		}
		d, err := e.st.Delivery(e.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.State.Final() {
			t.Fatalf("the delivery is %s before its failure report was queued", d.State)
		}

		if err := eng.Deliver(e.ctx, id); err != nil {
			t.Fatalf("retry: %v", err)
		}
		ds := e.deliveries(in.ID)
		reports := filter(ds, ofKind(herald.KindFailure))
		if len(reports) != 2 {
			t.Fatalf("failure reports after the retry: %s", describe(ds))
		}
		if d, _ := e.st.Delivery(e.ctx, id); d.State != herald.DeliveryFailed {
			t.Errorf("after the retry: %s", describe([]herald.Delivery{d}))
		}
		// Given up again later (a stray job), nothing is queued twice.
		if err := eng.Deliver(e.ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := len(filter(e.deliveries(in.ID), ofKind(herald.KindFailure))); n != 2 {
			t.Errorf("%d failure reports, want 2", n)
		}
	})
}

// stallingChannel holds its first delivery until the attempt's context
// ends and then fails it the way a client does when its request is cut
// off (a plain, non-temporary error); later deliveries go through.
type stallingChannel struct {
	comms.Channel
	stalled atomic.Bool
}

func (c *stallingChannel) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	if c.stalled.CompareAndSwap(false, true) {
		<-ctx.Done()
		return comms.Receipt{}, fmt.Errorf("post: no answer: %v", ctx.Err()) // no vendor's temporary error
	}
	return c.Channel.Deliver(ctx, m)
}

// An attempt whose own time runs out (the queue's job timeout, a stopping
// process) is no vendor's refusal: the delivery is neither given up nor
// reported to the commander; it stays "sending" and the next attempt sends
// it.
func TestAttemptCutShortIsRetried(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{plan: setExecutives(nil, []string{"+27820000001"})})
		chans := maps.Clone(e.chans)
		chans[herald.ChannelSMS] = &stallingChannel{Channel: e.chans[herald.ChannelSMS]}
		var logs logBuffer
		eng := engine.New(engine.Options{Plan: e.plan, Store: e.st, Channels: chans, Now: e.clock.Now,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})

		in := e.declare("Payments failing")
		e.compose(in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})
		texts := filter(e.deliveries(in.ID), func(d herald.Delivery) bool { return d.Channel == herald.ChannelSMS })
		if len(texts) != 1 {
			t.Fatalf("SMS deliveries: %s", describe(texts))
		}
		id := texts[0].ID

		ctx, cancel := context.WithTimeout(e.ctx, 200*time.Millisecond)
		err := eng.Deliver(ctx, id)
		cancel()
		if err == nil {
			t.Fatal("Deliver succeeded although its attempt was cut short")
		}
		if d, _ := e.st.Delivery(e.ctx, id); d.State != herald.DeliverySending {
			t.Fatalf("after the cut-short attempt: %s; want it still sending", describe([]herald.Delivery{d}))
		}
		if n := len(filter(e.deliveries(in.ID), ofKind(herald.KindFailure))); n != 0 {
			t.Fatalf("%d failure reports for an attempt cut short", n)
		}
		if l := logs.String(); strings.Contains(l, "given up") || !strings.Contains(l, "cut short") {
			t.Fatalf("the log of an attempt cut short:\n%s", l)
		}
		if err := eng.Deliver(e.ctx, id); err != nil {
			t.Fatalf("the next attempt: %v", err)
		}
		if d, _ := e.st.Delivery(e.ctx, id); d.State != herald.DeliverySent || d.Attempts != 2 {
			t.Errorf("after the next attempt: %s; want sent in 2 attempts", describe([]herald.Delivery{d}))
		}
		if n := len(filter(e.deliveries(in.ID), ofKind(herald.KindFailure))); n != 0 {
			t.Errorf("%d failure reports", n)
		}
	})
}
