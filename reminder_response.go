package herald

import (
	"fmt"
	"strings"
	"time"
)

// ResponseKind is what a person answered to a reminder.
type ResponseKind string

// The answers to a reminder (Slack's buttons).
const (
	// ResponseSnooze: remind me again in SnoozeFor, never past due.
	ResponseSnooze ResponseKind = "snooze"
	// ResponseAck: I'm on it. The escalation to the next people waits.
	ResponseAck ResponseKind = "ack"
)

// SnoozeFor is how long a snooze silences an obligation's reminders, and
// MaxSnoozes how often one obligation may be snoozed.
const (
	SnoozeFor  = 5 * time.Minute
	MaxSnoozes = 3
)

// AckHold is the least an acknowledgement holds the escalation back: with
// an escalation at due, "I'm on it" still buys this long.
const AckHold = 5 * time.Minute

// RemindSnoozed is the reminder at a snooze's end.
const RemindSnoozed ReminderKind = "snoozed"

// ReminderResponse is one answer to an obligation's reminders, kept with
// the incident (its timeline says who and when).
type ReminderResponse struct {
	IncidentID    string
	ObligationKey string
	Kind          ResponseKind
	At            time.Time
	Until         time.Time // a snooze's end
	Actor         string
}

// ObligationIncident is the incident an obligation key belongs to.
func ObligationIncident(key string) string {
	id, _, _ := strings.Cut(key, "/")
	return id
}

// Snooze checks a snooze of ob at now against the earlier answers and
// returns when it ends: SnoozeFor later, but never past the obligation's
// due time (the plan's deadline is not for moving). An obligation already
// due, or snoozed MaxSnoozes times, cannot be snoozed.
func Snooze(ob Obligation, prior []ReminderResponse, now time.Time) (time.Time, error) {
	if !now.Before(ob.Due) {
		return time.Time{}, fmt.Errorf("%w: the message was due at %s; it can no longer be snoozed", ErrInvalid, ob.Due.UTC().Format("15:04 MST"))
	}
	n := 0
	for _, r := range prior {
		if r.ObligationKey == ob.Key() && r.Kind == ResponseSnooze {
			n++
		}
	}
	if n >= MaxSnoozes {
		return time.Time{}, fmt.Errorf("%w: this reminder was already snoozed %d times", ErrInvalid, n)
	}
	return minTime(now.Add(SnoozeFor), ob.Due), nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// respond applies an obligation's snoozes to its steps: a snooze drops the
// reminders before due and the repeats that fall within it and reminds
// again at its end (before due). Acknowledgements are applied where the
// escalation is placed (ackedEscalation).
func respond(steps []Reminder, ob Obligation, p ReminderPolicy, answers []ReminderResponse) []Reminder {
	if len(answers) == 0 {
		return steps
	}
	n := 0
	for _, r := range answers {
		if r.ObligationKey != ob.Key() {
			continue
		}
		switch r.Kind {
		case ResponseSnooze:
			out := steps[:0:0]
			for _, s := range steps {
				if (s.Kind == RemindBefore || s.Kind == RemindOverdue || s.Kind == RemindSnoozed) && !s.At.Before(r.At) && s.At.Before(r.Until) {
					continue
				}
				out = append(out, s)
			}
			steps = out
			if r.Until.Before(ob.Due) {
				steps = append(steps, Reminder{Obligation: ob, Kind: RemindSnoozed, At: r.Until, To: p.first(), N: n})
			}
			n++
		}
	}
	return steps
}

// ackedEscalation is when an obligation escalates after its answers: an
// acknowledgement ("I'm on it") made before the escalation holds it back
// until at least AckHold (or the plan's escalation delay) after it. One
// made once it has escalated changes nothing: what was sent stays sent.
// The overdue repeats before it go to the first person only.
func ackedEscalation(ob Obligation, p ReminderPolicy, answers []ReminderResponse, at time.Time) time.Time {
	for _, r := range answers {
		if r.ObligationKey != ob.Key() || r.Kind != ResponseAck || !r.At.Before(at) {
			continue
		}
		if held := r.At.Add(max(AckHold, p.EscalateAfter)); held.After(at) {
			at = held
		}
	}
	return at
}
