package engine_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/engine"
)

// The clocks, driven by an injected time: reminders before and at due go
// out once however many times and on however many engines Tick runs; the
// executives' holding update is recorded once and restarts their clock; a
// reminder made stale by a new public update is skipped.
//
// The default plan: the public page every 15m (reminders 5m before, at
// due, then escalation and repeats), the executives every 30m (a reminder
// 5m before, a holding update at due).
func TestClocks(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{clock: t0})
		st2 := e.openStore() // a second replica
		e1, e2 := e.engine(e.st, nil), e.engine(st2, nil)
		in := e.declare("Payments failing")

		// tick runs both engines at once, then the first again, at the time.
		tick := func(at time.Time) time.Time {
			t.Helper()
			e.clock.Set(at)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, eng := range []*engine.Engine{e1, e2} {
				wg.Go(func() { _, errs[i] = eng.Tick(e.ctx) })
			}
			wg.Wait()
			next, err := e1.Tick(e.ctx)
			for _, err := range append(errs, err) {
				if err != nil {
					t.Fatalf("Tick at %s: %v", at.Format("15:04"), err)
				}
			}
			return next
		}
		reminders := func(audience string, due time.Time) []herald.Delivery {
			return filter(e.deliveries(in.ID), func(d herald.Delivery) bool {
				return d.Kind == herald.KindReminder && d.Audience == audience && d.DueAt != nil && d.DueAt.Equal(due)
			})
		}
		wantReminders := func(when, audience string, due time.Time, n int, text string) {
			t.Helper()
			got := reminders(audience, due)
			if len(got) != n {
				t.Fatalf("%s: %d %s reminders for %s, want %d: %s", when, len(got), audience, due.Format("15:04"), n, describe(got))
			}
			for _, d := range got {
				if !strings.Contains(d.Body, text) {
					t.Errorf("%s: reminder %q, want %q", when, d.Body, text)
				}
			}
		}
		publicDue, execDue := t0.Add(15*time.Minute), t0.Add(30*time.Minute)

		if next := tick(t0.Add(time.Minute)); !next.Equal(t0.Add(10 * time.Minute)) {
			t.Errorf("at 09:01 the next step is at %s, want 09:10 (the public reminder)", next.Format("15:04"))
		}
		if n := len(filter(e.deliveries(in.ID), ofKind(herald.KindReminder))); n != 0 {
			t.Fatalf("at 09:01: %d reminders", n)
		}

		// 5 minutes before the public update is due: the commander, by
		// Slack and SMS, once.
		if next := tick(t0.Add(10 * time.Minute)); !next.Equal(publicDue) {
			t.Errorf("at 09:10 the next step is at %s, want 09:15", next.Format("15:04"))
		}
		wantReminders("09:10", "public", publicDue, 2, "Reminder: Partners and clients update due 09:15 UTC")
		tick(t0.Add(10*time.Minute + 30*time.Second))
		wantReminders("09:10:30", "public", publicDue, 2, "Reminder:")

		// At due: another reminder, once.
		tick(publicDue)
		tick(publicDue)
		wantReminders("09:15", "public", publicDue, 4, "Partners and clients update due 09:15 UTC")
		if n := len(filter(reminders("public", publicDue), func(d herald.Delivery) bool {
			return strings.HasPrefix(d.Body, "Due now:")
		})); n != 2 {
			t.Errorf("at 09:15: %d due-now reminders, want 2", n)
		}
		for _, d := range reminders("public", publicDue) {
			if d.Recipient != bossEmail && d.Recipient != bossPhone {
				t.Errorf("a reminder to %s", d.Recipient)
			}
		}

		// A public update at 09:16 moves the public page's next due to 09:31.
		e.clock.Set(t0.Add(16 * time.Minute))
		e.compose(in.ID, herald.Composition{Status: herald.Identified, Main: "We found the cause.", Audiences: []string{"public"}})
		newPublicDue := t0.Add(31 * time.Minute)

		if next := tick(t0.Add(25 * time.Minute)); !next.Equal(t0.Add(26 * time.Minute)) {
			t.Errorf("at 09:25 the next step is at %s, want 09:26", next.Format("15:04"))
		}
		wantReminders("09:25", "executives", execDue, 2, "Reminder: Executive Team update due 09:30 UTC")
		wantReminders("09:25", "public", publicDue, 4, "") // nothing more for the met obligation
		tick(t0.Add(26 * time.Minute))
		wantReminders("09:26", "public", newPublicDue, 2, "Reminder: Partners and clients update due 09:31 UTC")

		// At the executives' due, with nothing sent to them: one automatic
		// holding update, which restarts their clock.
		if next := tick(execDue); !next.Equal(newPublicDue) {
			t.Errorf("at 09:30 the next step is at %s, want 09:31", next.Format("15:04"))
		}
		tick(execDue)
		told, err := e.st.Communications(e.ctx, []string{in.ID})
		if err != nil {
			t.Fatal(err)
		}
		var holding []herald.Communication
		for _, c := range told {
			if c.Author == herald.EngineActor {
				holding = append(holding, c)
			}
		}
		if len(holding) != 1 || holding[0].Audience != "executives" || !holding[0].CreatedAt.Equal(execDue) ||
			!strings.HasPrefix(holding[0].Body, "Holding update (automatic): Payments failing is identified") {
			t.Fatalf("automatic communications: %+v", holding)
		}
		holdings := filter(e.deliveries(in.ID), ofKind(herald.KindHolding))
		if len(holdings) != 4 {
			t.Errorf("%d holding deliveries, want 4 (2 emails, 2 texts): %s", len(holdings), describe(holdings))
		}
		events, err := e.st.Timeline(e.ctx, in.ID, "communication")
		if err != nil {
			t.Fatal(err)
		}
		var auto int
		for _, ev := range events {
			if ev.Actor == herald.EngineActor {
				auto++
				if ev.Summary != "Automatic holding update to executives" {
					t.Errorf("timeline: %+v", ev)
				}
			}
		}
		if auto != 1 {
			t.Errorf("%d automatic timeline entries, want 1", auto)
		}
		stored, err := e.st.Incident(e.ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, ob := range herald.Obligations(e.plan, stored, told, nil) {
			if ob.Audience == "executives" && !ob.Due.Equal(t0.Add(60*time.Minute)) {
				t.Errorf("after the holding update the executives are due at %s, want 10:00", ob.Due.Format("15:04"))
			}
		}

		// Now send: the reminders whose obligation was met are skipped, the
		// others go out.
		e.start(e.st, e1)
		ds := e.settle(in.ID, 16)
		for _, d := range ds {
			want := herald.DeliverySent
			if d.Kind == herald.KindReminder && (d.DueAt.Equal(publicDue) || d.DueAt.Equal(execDue)) {
				want = herald.DeliverySkipped
			}
			if d.State != want {
				t.Errorf("want %s: %s", want, describe([]herald.Delivery{d}))
			}
		}
		dm := e.slack.Messages(e.slack.DMChannel(e.bossDM))
		if len(dm) != 1 || !strings.Contains(dm[0].Text, "Partners and clients update due 09:31 UTC") {
			t.Errorf("the commander's Slack DMs: %+v", dm)
		}
		texts := map[string]int{}
		for _, m := range e.twilio.Messages() {
			texts[m.To]++
		}
		if len(texts) != 3 || texts[bossPhone] != 1 || texts["+27820000001"] != 1 || texts["+27820000002"] != 1 {
			t.Errorf("texts by number: %v", texts)
		}
		mails := e.smtp.Messages()
		if len(mails) != 2 {
			t.Fatalf("%d emails, want the 2 holding updates", len(mails))
		}
		for _, m := range mails {
			if !strings.Contains(m.Subject, "Holding update: Payments failing") {
				t.Errorf("email subject %q", m.Subject)
			}
		}
	})
}

// A clock step reports how late it was carried out, once, by the engine
// that claimed it: measured from the step's time on the injected clock.
func TestClockLatenessReported(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{clock: t0})
		e1, e2 := e.engine(e.st, nil), e.engine(e.openStore(), nil)
		e.declare("Payments failing")
		tick := func(at time.Time) {
			t.Helper()
			e.clock.Set(at)
			for _, eng := range []*engine.Engine{e1, e2, e1} {
				if _, err := eng.Tick(e.ctx); err != nil {
					t.Fatalf("Tick at %s: %v", at.Format("15:04:05"), err)
				}
			}
		}
		// The public page's reminder is due at 09:10 (5m before its 09:15
		// update); the engines wake 42 s late.
		tick(t0.Add(10*time.Minute + 42*time.Second))
		// Its due-now reminder at 09:15, two minutes late.
		tick(t0.Add(17 * time.Minute))
		// At 09:30 the executives' holding update is due, and the public
		// page's overdue reminder (every 5 minutes past its due).
		tick(t0.Add(30*time.Minute + 5*time.Second))
		// Each once, though three ticks (two replicas) saw each.
		want := []firedStep{{herald.RemindBefore, 42 * time.Second}, {herald.RemindDue, 2 * time.Minute},
			{herald.RemindHolding, 5 * time.Second}, {herald.RemindOverdue, 5 * time.Second}}
		if diff := cmp.Diff(want, e.metrics.Steps()); diff != "" {
			t.Errorf("steps reported (-want +got):\n%s", diff)
		}
	})
}
