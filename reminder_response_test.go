package herald

import (
	"errors"
	"testing"
	"time"
)

func TestSnooze(t *testing.T) {
	due := time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)
	ob := Obligation{IncidentID: "inc1", Audience: "public", Step: StepUpdate, Since: due.Add(-15 * time.Minute), Due: due}
	// Ten minutes ahead: five minutes.
	if until, err := Snooze(ob, nil, due.Add(-10*time.Minute)); err != nil || !until.Equal(due.Add(-5*time.Minute)) {
		t.Errorf("Snooze 10m before due = %s, %v", until, err)
	}
	// Two minutes ahead: never past due.
	if until, err := Snooze(ob, nil, due.Add(-2*time.Minute)); err != nil || !until.Equal(due) {
		t.Errorf("Snooze 2m before due = %s, %v; want due", until, err)
	}
	// Due or overdue: refused.
	for _, at := range []time.Time{due, due.Add(time.Minute)} {
		if _, err := Snooze(ob, nil, at); !errors.Is(err, ErrInvalid) {
			t.Errorf("Snooze at %s = %v; want refused", at, err)
		}
	}
	// At most MaxSnoozes; another obligation's snoozes do not count.
	var prior []ReminderResponse
	for range MaxSnoozes {
		prior = append(prior, ReminderResponse{ObligationKey: ob.Key(), Kind: ResponseSnooze})
	}
	prior = append(prior, ReminderResponse{ObligationKey: "other", Kind: ResponseSnooze})
	if _, err := Snooze(ob, prior, due.Add(-10*time.Minute)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a fourth snooze = %v; want refused", err)
	}
	if _, err := Snooze(ob, prior[1:], due.Add(-10*time.Minute)); err != nil {
		t.Errorf("a third snooze = %v", err)
	}
}

func TestRemindersWithAnswers(t *testing.T) {
	due := time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)
	ob := Obligation{IncidentID: "inc1", Audience: "public", Step: StepUpdate, Since: due.Add(-15 * time.Minute), Due: due, Action: DueEscalate}
	a := Audience{Key: "public", ReminderPolicy: ReminderPolicy{Before: []time.Duration{10 * time.Minute, 5 * time.Minute},
		Every: 5 * time.Minute, Whom: []IncidentRole{SeatCommander, SeatDeputy}, EscalateAfter: 5 * time.Minute}}
	kinds := func(rs []Reminder) map[ReminderKind][]time.Time {
		out := map[ReminderKind][]time.Time{}
		for _, r := range rs {
			out[r.Kind] = append(out[r.Kind], r.At)
		}
		return out
	}
	until := due.Add(20 * time.Minute)
	plain := kinds(a.RemindersWith(ob, nil, until))
	if len(plain[RemindBefore]) != 2 || !plain[RemindEscalate][0].Equal(due.Add(5*time.Minute)) {
		t.Fatalf("without answers: %v", plain)
	}
	// Snoozed at the first reminder (due-10m) until due-5m+... : the
	// second "before" (due-5m) falls at the snooze's end, not within it;
	// a snooze from due-10m to due-6m drops nothing but adds its end.
	snooze := ReminderResponse{ObligationKey: ob.Key(), Kind: ResponseSnooze, At: due.Add(-10 * time.Minute), Until: due.Add(-6 * time.Minute)}
	got := kinds(a.RemindersWith(ob, []ReminderResponse{snooze}, until))
	if len(got[RemindSnoozed]) != 1 || !got[RemindSnoozed][0].Equal(due.Add(-6*time.Minute)) {
		t.Errorf("snoozed reminder %v", got[RemindSnoozed])
	}
	// A snooze over the second "before" drops it; its end is due: no
	// extra reminder, the due one stands.
	snooze = ReminderResponse{ObligationKey: ob.Key(), Kind: ResponseSnooze, At: due.Add(-9 * time.Minute), Until: due}
	got = kinds(a.RemindersWith(ob, []ReminderResponse{snooze}, until))
	if len(got[RemindBefore]) != 1 || len(got[RemindSnoozed]) != 0 || len(got[RemindDue]) != 1 {
		t.Errorf("a snooze to due: %v", got)
	}
	// Another obligation's snooze changes nothing.
	other := snooze
	other.ObligationKey = "inc1/public/update/1"
	if got := kinds(a.RemindersWith(ob, []ReminderResponse{other}, until)); len(got[RemindBefore]) != 2 {
		t.Errorf("another obligation's snooze applied: %v", got)
	}
	// "I'm on it" at due+3m: the escalation waits until due+8m.
	ack := ReminderResponse{ObligationKey: ob.Key(), Kind: ResponseAck, At: due.Add(3 * time.Minute)}
	got = kinds(a.RemindersWith(ob, []ReminderResponse{ack}, until))
	if !got[RemindEscalate][0].Equal(due.Add(8 * time.Minute)) {
		t.Errorf("escalation after an ack at due+3m: %v; want due+8m", got[RemindEscalate])
	}
	// An early ack does not bring it forward.
	ack.At = due.Add(-10 * time.Minute)
	got = kinds(a.RemindersWith(ob, []ReminderResponse{ack}, until))
	if !got[RemindEscalate][0].Equal(due.Add(5 * time.Minute)) {
		t.Errorf("escalation after an early ack: %v; want due+5m", got[RemindEscalate])
	}
	// Current follows: at due+6m after the ack at due+3m, the step in
	// force is the overdue repeat to the commander, not the escalation.
	ack.At = due.Add(3 * time.Minute)
	cur, _ := a.CurrentWith(ob, []ReminderResponse{ack}, due.Add(6*time.Minute))
	if cur == nil || cur.Kind == RemindEscalate {
		t.Errorf("current at due+6m after an ack: %+v", cur)
	}
}

// TestAckHoldsTheDeputyBack: with repeats more often than the hold, the
// repeats before the held escalation go to the commander alone; an
// acknowledgement made after the escalation changes nothing.
func TestAckHoldsTheDeputyBack(t *testing.T) {
	due := time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)
	ob := Obligation{IncidentID: "inc1", Audience: "public", Step: StepUpdate, Since: due.Add(-15 * time.Minute), Due: due, Action: DueEscalate}
	a := Audience{Key: "public", ReminderPolicy: ReminderPolicy{Every: 5 * time.Minute,
		Whom: []IncidentRole{SeatCommander, SeatDeputy}, EscalateAfter: 10 * time.Minute}}
	ack := ReminderResponse{ObligationKey: ob.Key(), Kind: ResponseAck, At: due.Add(7 * time.Minute)}
	var esc time.Time
	for _, r := range a.RemindersWith(ob, []ReminderResponse{ack}, due.Add(30*time.Minute)) {
		switch r.Kind {
		case RemindEscalate:
			esc = r.At
		case RemindOverdue:
			deputy := len(r.To) > 1
			if r.At.Before(due.Add(17*time.Minute)) && deputy {
				t.Errorf("the repeat at due+%s goes to the deputy before the held escalation", r.At.Sub(due))
			}
			if r.At.After(due.Add(17*time.Minute)) && !deputy {
				t.Errorf("the repeat at due+%s after the escalation leaves the deputy out", r.At.Sub(due))
			}
		}
	}
	if !esc.Equal(due.Add(17 * time.Minute)) {
		t.Errorf("escalation at due+%s; want due+17m (the ack at due+7m + escalate_after)", esc.Sub(due))
	}
	// Acknowledged after it escalated (due+10m): it stays where it was.
	ack.At = due.Add(11 * time.Minute)
	for _, r := range a.RemindersWith(ob, []ReminderResponse{ack}, due.Add(30*time.Minute)) {
		if r.Kind == RemindEscalate && !r.At.Equal(due.Add(10*time.Minute)) {
			t.Errorf("a late ack moved the escalation to due+%s", r.At.Sub(due))
		}
	}
}
