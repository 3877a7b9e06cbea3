package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/engine"
)

// The regulators' clock, shortened: the initial notification is due 40
// minutes after classification (no awareness limit), the intermediate
// report an hour after the initial one, the final two hours after that.
// Reminders go 20 and 10 minutes before due and every 15 minutes after, to
// the commander by SMS and email and to the compliance desk by email.
const (
	regInitial      = 40 * time.Minute
	regIntermediate = time.Hour
	regFinal        = 2 * time.Hour
)

func shortRegulators(p *herald.Plan) {
	for i := range p.Audiences {
		a := &p.Audiences[i]
		if a.Regulatory == nil {
			continue
		}
		a.Regulatory = &herald.RegulatoryClock{AfterClassification: regInitial, Intermediate: regIntermediate, Final: regFinal}
		a.ReminderPolicy.Before = []time.Duration{20 * time.Minute, 10 * time.Minute}
		a.ReminderPolicy.Every = 15 * time.Minute
		a.ReminderPolicy.Channels = []herald.Channel{herald.ChannelSMS, herald.ChannelEmail}
	}
}

// declareForRegulators declares a major incident flagged for regulators,
// commanded by the boss.
func (e *env) declareForRegulators(name string) herald.Incident {
	e.t.Helper()
	in, err := e.st.DeclareIncident(e.ctx, herald.Declaration{Name: name, Impact: herald.ImpactMajor, NotifyRegulators: true,
		Body: "We are investigating failed payments."}, e.boss.ID, []string{"public", "engineering"}, "Ada Obi")
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// regulatorReminders are the incident's reminders about the regulators'
// step due at due.
func (e *env) regulatorReminders(incidentID string, due time.Time) []herald.Delivery {
	return filter(e.deliveries(incidentID), func(d herald.Delivery) bool {
		return d.Kind == herald.KindReminder && d.Audience == "regulators" && d.DueAt != nil && d.DueAt.Equal(due)
	})
}

func (e *env) callRegulator(incidentID, step string, at time.Time) herald.RegulatorReport {
	e.t.Helper()
	r, err := e.st.RecordRegulatorReport(e.ctx, herald.RegulatorReport{IncidentID: incidentID, Step: step, CalledBy: bossName,
		Whom: "Central Bank, duty officer", At: at}, e.plan, bossName)
	if err != nil {
		e.t.Fatalf("record the %s call: %v", step, err)
	}
	return r
}

func tickAt(t *testing.T, e *env, eng *engine.Engine, at time.Time) time.Time {
	t.Helper()
	e.clock.Set(at)
	next, err := eng.Tick(e.ctx)
	if err != nil {
		t.Fatalf("Tick at %s: %v", at.Format("15:04"), err)
	}
	return next
}

// TestRegulatorReminders: the commander and the compliance desk are reminded
// about the initial notification before it is due; once the call is
// recorded no more reminders about it are queued, and one queued but not
// yet sent is skipped as stale. An incident whose call was not recorded
// goes on being reminded.
func TestRegulatorReminders(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{clock: t0, plan: shortRegulators})
		eng := e.engine(e.st, nil)
		called, uncalled := e.declareForRegulators("Payments failing"), e.declareForRegulators("Cards failing")
		due := t0.Add(regInitial)

		tickAt(t, e, eng, t0.Add(time.Minute))
		if got := e.regulatorReminders(called.ID, due); len(got) != 0 {
			t.Fatalf("at 09:01, 39 minutes before due: %s", describe(got))
		}

		// 20 minutes before due: the commander by SMS and email, the
		// compliance desk by email.
		tickAt(t, e, eng, due.Add(-20*time.Minute))
		for _, id := range []string{called.ID, uncalled.ID} {
			got := e.regulatorReminders(id, due)
			to := map[string]bool{}
			for _, d := range got {
				to[string(d.Channel)+" "+d.Recipient] = true
				if !strings.HasPrefix(d.Body, "Reminder: Regulators initial notification due 09:40 UTC") || d.State != herald.DeliveryQueued {
					t.Errorf("reminder %q (%s)", d.Body, d.State)
				}
			}
			if len(got) != 3 || !to["sms "+bossPhone] || !to["email "+bossEmail] || !to["email compliance@kredete.example"] {
				t.Fatalf("20 minutes before due: %s", describe(got))
			}
		}

		// The call is made and recorded at 09:24.
		e.clock.Set(t0.Add(25 * time.Minute))
		e.callRegulator(called.ID, herald.StepInitial, t0.Add(24*time.Minute))

		// The next steps: 10 minutes before due, at due, overdue. The
		// incident called about gets nothing more; the other does.
		for _, at := range []time.Duration{30 * time.Minute, 40 * time.Minute, 55 * time.Minute} {
			tickAt(t, e, eng, t0.Add(at))
		}
		if got := e.regulatorReminders(called.ID, due); len(got) != 3 {
			t.Errorf("after the call: %d reminders about the initial notification, want the 3 from before it: %s", len(got), describe(got))
		}
		if got := e.regulatorReminders(uncalled.ID, due); len(got) != 12 {
			t.Errorf("without a call: %d reminders, want 12 (20 and 10 minutes before, at due, 15 minutes after): %s", len(got), describe(got))
		}
		// The clock moved on to the intermediate report: due an hour after
		// the call, reminded 20 minutes before.
		interDue := t0.Add(24*time.Minute + regIntermediate)
		if got := e.regulatorReminders(called.ID, interDue); len(got) != 0 {
			t.Errorf("at 09:55, intermediate report reminders already: %s", describe(got))
		}
		tickAt(t, e, eng, interDue.Add(-20*time.Minute))
		got := e.regulatorReminders(called.ID, interDue)
		if len(got) != 3 || !strings.HasPrefix(got[0].Body, "Reminder: Regulators intermediate report due 10:24 UTC") {
			t.Errorf("20 minutes before the intermediate report: %s", describe(got))
		}

		// Sending: the reminders queued before the call are skipped as
		// stale; the intermediate report's go out.
		e.start(e.st, eng)
		ds := e.settle(called.ID, len(e.deliveries(called.ID)))
		for _, d := range filter(ds, func(d herald.Delivery) bool { return d.Audience == "regulators" }) {
			want := herald.DeliverySent
			if d.DueAt.Equal(due) {
				want = herald.DeliverySkipped
			}
			if d.State != want {
				t.Errorf("want %s: %s", want, describe([]herald.Delivery{d}))
			}
			if want == herald.DeliverySkipped && !strings.Contains(d.LastError, "met or moved") {
				t.Errorf("skipped without saying why: %q", d.LastError)
			}
		}
		for _, d := range e.settle(uncalled.ID, len(e.deliveries(uncalled.ID))) {
			if d.Audience == "regulators" && d.State != herald.DeliverySent {
				t.Errorf("a reminder for the incident not yet called about: %s", describe([]herald.Delivery{d}))
			}
		}
	})
}

// TestRegulatorRemindersAfterResolution: a resolved incident flagged for
// regulators is still owed its intermediate report, and the engine still
// reminds about it; the cadences of the other audiences stop.
func TestRegulatorRemindersAfterResolution(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{clock: t0, plan: shortRegulators})
		eng := e.engine(e.st, nil)
		in := e.declareForRegulators("Payments failing")

		e.clock.Set(t0.Add(10 * time.Minute))
		e.callRegulator(in.ID, herald.StepInitial, t0.Add(5*time.Minute))
		e.clock.Set(t0.Add(12 * time.Minute))
		if _, err := e.st.PostUpdate(e.ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Payments work again."}, bossName); err != nil {
			t.Fatal(err)
		}
		interDue := t0.Add(5*time.Minute + regIntermediate)

		// 20 minutes before the intermediate report.
		e.clock.Set(interDue.Add(-20 * time.Minute))
		owed, err := e.st.IncidentsOwed(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(owed) != 1 || owed[0].ID != in.ID || owed[0].Open() {
			t.Fatalf("IncidentsOwed: %+v; want the resolved incident", owed)
		}
		next := tickAt(t, e, eng, interDue.Add(-20*time.Minute))
		got := e.regulatorReminders(in.ID, interDue)
		if len(got) != 3 {
			t.Fatalf("20 minutes before the intermediate report of a resolved incident: %s", describe(got))
		}
		for _, d := range got {
			if !strings.HasPrefix(d.Body, "Reminder: Regulators intermediate report due 10:05 UTC") {
				t.Errorf("reminder %q", d.Body)
			}
		}
		if !next.Equal(interDue.Add(-10 * time.Minute)) {
			t.Errorf("next step at %s; want 09:55, the second reminder", next.Format("15:04"))
		}

		tickAt(t, e, eng, interDue)
		due := filter(e.regulatorReminders(in.ID, interDue), func(d herald.Delivery) bool {
			return strings.HasPrefix(d.Body, "Due now: Regulators intermediate report")
		})
		if len(due) != 3 {
			t.Errorf("at due: %s", describe(e.regulatorReminders(in.ID, interDue)))
		}
		// Nothing for the audiences whose cadence ended with the incident.
		for _, d := range e.deliveries(in.ID) {
			if d.Kind == herald.KindReminder && d.Audience != "regulators" || d.Kind == herald.KindHolding {
				t.Errorf("after resolution: %s", describe([]herald.Delivery{d}))
			}
		}

		// Once the intermediate report is recorded, the final report is
		// next; after it, nothing is owed and the incident has no reminders.
		e.clock.Set(interDue.Add(5 * time.Minute))
		inter := e.callRegulator(in.ID, herald.StepIntermediate, interDue.Add(time.Minute))
		finalDue := inter.At.Add(regFinal)
		tickAt(t, e, eng, finalDue.Add(-20*time.Minute))
		if got := e.regulatorReminders(in.ID, finalDue); len(got) != 3 ||
			!strings.HasPrefix(got[0].Body, "Reminder: Regulators final report due") {
			t.Errorf("before the final report: %s", describe(got))
		}
		e.clock.Set(finalDue.Add(-time.Minute))
		e.callRegulator(in.ID, herald.StepFinal, finalDue.Add(-2*time.Minute))
		before := len(e.deliveries(in.ID))
		if next := tickAt(t, e, eng, finalDue.Add(time.Hour)); !next.IsZero() {
			t.Errorf("after the final report the next step is at %s; want none", next)
		}
		if after := len(e.deliveries(in.ID)); after != before {
			t.Errorf("after the final report: %d new deliveries", after-before)
		}
	})
}
