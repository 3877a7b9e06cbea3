package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// openFanout is a seeded store whose public updates fan out to the
// subscribers, with the default plan's deliveries.
func openFanout(t *testing.T, d string) (*store.Store, *clock, map[string]herald.Component) {
	t.Helper()
	s, clk := open(t, d)
	comps := seed(t, s)
	plan, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	s.EnableDeliveries(plan)
	s.EnableFanout(true)
	return s, clk, comps
}

// TestFanoutPages: a fan-out written with an update pages through the
// confirmed subscribers it concerns; two workers racing on it (a rescued
// job beside the original) write each subscriber's delivery once, and the
// cursor ends past the last; the resolution is a second fan-out.
func TestFanoutPages(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, clk, comps := openFanout(t, d)
			const n = 57
			for i := range n {
				res := subscribe(t, s, clk, fmt.Sprintf("s%03d@example.com", i), true)
				confirm(t, s, res.Token)
			}
			other := subscribe(t, s, clk, "portal@example.com", false, comps["customer-portal"].ID)
			confirm(t, s, other.Token)

			in, err := s.Declare(ctx, herald.Declaration{Name: "API errors", Impact: herald.ImpactMinor, Body: "Looking.",
				Components: []herald.ComponentTarget{{ComponentID: comps["api-platform"].ID, Status: herald.DegradedPerformance}}}, "test")
			if err != nil {
				t.Fatal(err)
			}
			fos, err := s.Fanouts(ctx, in.ID)
			if err != nil || len(fos) != 1 || fos[0].Channel != herald.SubscriberEmail || fos[0].Done {
				t.Fatalf("fan-outs after the declaration: %+v, %v", fos, err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for range 2 {
				wg.Go(func() {
					for {
						done, err := s.FanoutPage(ctx, fos[0].ID, 10)
						if err != nil || done {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			f, err := s.FanoutState(ctx, fos[0].ID)
			if err != nil || !f.Done || f.Queued != n {
				t.Errorf("fan-out after two workers: %+v, %v; want done with %d queued", f, err, n)
			}
			counts, err := s.SubscriberDeliveryCounts(ctx, in.ID)
			if err != nil || counts[herald.ChannelEmail][herald.DeliveryQueued] != n {
				t.Errorf("subscriber deliveries %v, %v; want %d queued", counts, err, n)
			}
			// Done is done: another page writes nothing.
			if done, err := s.FanoutPage(ctx, fos[0].ID, 10); !done || err != nil {
				t.Errorf("a page after done: %v %v", done, err)
			}
			if _, err := s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Fixed."}, "test"); err != nil {
				t.Fatal(err)
			}
			fos, _ = s.Fanouts(ctx, in.ID)
			events := map[herald.SubscriberEvent]bool{}
			for _, f := range fos {
				events[f.Event] = true
			}
			if len(fos) != 2 || !events[herald.EventIncidentCreated] || !events[herald.EventIncidentResolved] {
				t.Errorf("fan-outs after the resolution: %+v", fos)
			}
		})
	}
}

// TestWebhookFanoutAndFailures: a component's change (in an update or on
// its own) is a fan-out to webhook subscribers only, whose deliveries name
// the change; ComponentChange reads it with the status it left. A webhook's
// given-up notifications count once each (a retried job counts nothing
// twice), a success starts the count again, and the third in a row
// disables it and queues one notice to its owner.
func TestWebhookFanoutAndFailures(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, clk, comps := openFanout(t, d)
			res, err := s.Subscribe(ctx, herald.SubscriptionRequest{Channel: herald.SubscriberWebhook, Address: "https://hooks.example.com/h",
				OwnerEmail: "dev@example.com", AllComponents: true}, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			hook := confirm(t, s, res.Token)

			api := comps["api-platform"].ID
			if _, err := s.SetComponentStatus(ctx, api, herald.MajorOutage, "test"); err != nil {
				t.Fatal(err)
			}
			// No incident: the fan-out is found through its change.
			var changeID int64
			if err := s.DB().QueryRowContext(ctx, `SELECT MAX(id) FROM component_status_changes`).Scan(&changeID); err != nil {
				t.Fatal(err)
			}
			c, err := s.ComponentChange(ctx, changeID)
			if err != nil || c.ComponentID != api || c.Old != herald.Operational || c.New != herald.MajorOutage || c.IncidentID != "" {
				t.Fatalf("ComponentChange = %+v, %v", c, err)
			}
			var foID, channel, event string
			if err := s.DB().QueryRowContext(ctx, s.Rebind(`SELECT id, channel, event FROM fanouts WHERE update_id = $1`),
				herald.ComponentChangeRef(changeID)).Scan(&foID, &channel, &event); err != nil {
				t.Fatalf("the change's fan-out: %v", err)
			}
			if channel != "webhook" || event != string(herald.EventComponentUpdated) {
				t.Errorf("fan-out on %s for %s", channel, event)
			}
			if done, err := s.FanoutPage(ctx, foID, 10); !done || err != nil {
				t.Fatalf("FanoutPage = %v, %v", done, err)
			}
			var dID, incident string
			if err := s.DB().QueryRowContext(ctx, s.Rebind(`SELECT id, COALESCE(incident_id, 'none') FROM deliveries WHERE subscriber_id = $1`),
				hook.ID).Scan(&dID, &incident); err != nil {
				t.Fatal(err)
			}
			dl, err := s.Delivery(ctx, dID)
			if err != nil || dl.Channel != herald.ChannelWebhook || dl.UpdateID != herald.ComponentChangeRef(changeID) ||
				dl.IncidentID != "" || incident != "none" || dl.Recipient != "https://hooks.example.com/h" {
				t.Errorf("the change's delivery: %+v, %v (incident %s)", dl, err, incident)
			}

			notice := func(sub herald.Subscriber) herald.Delivery {
				return herald.Delivery{Subject: "stopped", Body: fmt.Sprintf("after %d", sub.Failures)}
			}
			failures := func() (int, herald.SubscriberState) {
				t.Helper()
				sub, err := s.SubscriberByID(ctx, hook.ID)
				if err != nil {
					t.Fatal(err)
				}
				return sub.Failures, sub.State
			}
			gaveUp := func(delivery string) bool {
				t.Helper()
				off, err := s.WebhookGaveUp(ctx, hook.ID, delivery, 3, notice)
				if err != nil {
					t.Fatal(err)
				}
				return off
			}
			gaveUp("d1")
			gaveUp("d1") // the same delivery again: counted once
			if n, st := failures(); n != 1 || st != herald.SubscriberConfirmed {
				t.Fatalf("after one failure: %d, %s", n, st)
			}
			if err := s.WebhookDelivered(ctx, hook.ID); err != nil {
				t.Fatal(err)
			}
			if n, _ := failures(); n != 0 {
				t.Fatalf("a success left %d failures", n)
			}
			if gaveUp("d2") || gaveUp("d3") {
				t.Fatal("disabled before the third")
			}
			if !gaveUp("d4") {
				t.Fatal("the third failure in a row did not disable it")
			}
			if gaveUp("d5") {
				t.Error("disabled twice")
			}
			if n, st := failures(); n != 3 || st != herald.SubscriberDisabled {
				t.Errorf("after three: %d, %s", n, st)
			}
			var notices int
			var subject, body, recipient string
			if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), MAX(subject), MAX(body), MAX(recipient) FROM deliveries WHERE kind = 'subscriber_notice'`).
				Scan(&notices, &subject, &body, &recipient); err != nil {
				t.Fatal(err)
			}
			if notices != 1 || subject != "stopped" || body != "after 3" || recipient != "dev@example.com" {
				t.Errorf("notices: %d %q %q to %q", notices, subject, body, recipient)
			}
		})
	}
}

// TestClaimOncePrunesSlackTriggers: a Slack trigger's claim holds (a
// retry is refused), and claims older than an hour are pruned by later
// ones; other keys are never pruned.
func TestClaimOncePrunesSlackTriggers(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, clk := open(t, d)
			claim := func(key string) bool {
				t.Helper()
				ok, err := s.ClaimOnce(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !claim("slack/trigger/1") || claim("slack/trigger/1") || !claim("other/key") {
				t.Fatal("a claim did not hold")
			}
			clk.Set(clk.Now().Add(2 * time.Hour))
			if !claim("slack/trigger/2") {
				t.Fatal("a new trigger was refused")
			}
			var n int
			if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM engine_keys WHERE key IN ('slack/trigger/1', 'other/key', 'slack/trigger/2')`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Errorf("%d of the keys left; want the new trigger and the other key", n)
			}
		})
	}
}

// TestFanoutAhead: the paced writer writes the next page only while fewer
// than ahead of its channel's messages wait in the queue; messages taken by
// a worker make room; another channel's backlog does not hold it back.
func TestFanoutAhead(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, clk, comps := openFanout(t, d)
			const n = 25
			for i := range n {
				res := subscribe(t, s, clk, fmt.Sprintf("s%03d@example.com", i), true)
				confirm(t, s, res.Token)
			}
			in, err := s.Declare(ctx, herald.Declaration{Name: "API errors", Impact: herald.ImpactMinor, Body: "Looking.",
				Components: []herald.ComponentTarget{{ComponentID: comps["api-platform"].ID, Status: herald.DegradedPerformance}}}, "test")
			if err != nil {
				t.Fatal(err)
			}
			fos, err := s.Fanouts(ctx, in.ID)
			if err != nil || len(fos) != 1 {
				t.Fatalf("fan-outs: %+v, %v", fos, err)
			}
			id := fos[0].ID
			queued := func() int {
				t.Helper()
				f, err := s.FanoutState(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return f.Queued
			}
			// waiting counts the email jobs River has not handed out.
			waiting := func() int {
				t.Helper()
				var k int
				if err := s.DB().QueryRowContext(ctx, s.Rebind(`SELECT COUNT(*) FROM river_job WHERE queue = 'subscribers'
					AND priority = 3 AND state = 'available'`)).Scan(&k); err != nil {
					t.Fatal(err)
				}
				return k
			}
			// take hands k waiting email jobs to a worker, as River does.
			take := func(k int) {
				t.Helper()
				if _, err := s.DB().ExecContext(ctx, s.Rebind(`UPDATE river_job SET state = 'running' WHERE id IN
					(SELECT id FROM river_job WHERE queue = 'subscribers' AND priority = 3 AND state = 'available'
					ORDER BY id LIMIT $1)`), k); err != nil {
					t.Fatal(err)
				}
			}

			done, full, err := s.FanoutPageAhead(ctx, id, 10, 10)
			if err != nil || done || full || queued() != 10 || waiting() != 10 {
				t.Fatalf("first page: done %v full %v err %v, %d queued, %d waiting; want 10 and 10", done, full, err, queued(), waiting())
			}
			done, full, err = s.FanoutPageAhead(ctx, id, 10, 10)
			if err != nil || done || !full || queued() != 10 {
				t.Fatalf("with 10 waiting: done %v full %v err %v, %d queued; want full and still 10", done, full, err, queued())
			}
			// Another channel's messages waiting do not count.
			if _, err := s.DB().ExecContext(ctx, s.Rebind(`UPDATE river_job SET priority = 2 WHERE id IN
				(SELECT id FROM river_job WHERE queue = 'subscribers' AND priority = 3 AND state = 'available' ORDER BY id LIMIT 5)`)); err != nil {
				t.Fatal(err)
			}
			done, full, err = s.FanoutPageAhead(ctx, id, 10, 10)
			if err != nil || done || full || queued() != 20 {
				t.Fatalf("with 5 email jobs waiting: done %v full %v err %v, %d queued; want 20", done, full, err, queued())
			}
			if w := waiting(); w != 15 {
				t.Fatalf("%d email jobs waiting; want 15", w)
			}
			take(15)
			done, full, err = s.FanoutPageAhead(ctx, id, 10, 10)
			if err != nil || !done || full || queued() != n {
				t.Fatalf("the last page: done %v full %v err %v, %d queued; want done with %d", done, full, err, queued(), n)
			}
			// No limit: FanoutPage on a finished fan-out is done.
			if done, err := s.FanoutPage(ctx, id, 10); !done || err != nil {
				t.Fatalf("FanoutPage after done: %v %v", done, err)
			}
		})
	}
}
