package herald

import (
	"strings"
	"time"
)

// Communication is what one audience was told about an incident, once.
type Communication struct {
	ID         string
	IncidentID string
	UpdateID   string
	Audience   string // Audience.Key
	Body       string
	State      string // "recorded" until the cadence engine sends it
	Author     string
	CreatedAt  time.Time
}

// Clock is one audience's line on the cadence board.
type Clock struct {
	Audience    Audience
	Applies     bool       // false: the incident owes this audience nothing (a condition, an impact override)
	Cadence     Cadence    // the audience's cadence for this incident (after impact overrides)
	LastTold    *time.Time // nil: never told
	Obligation  *Obligation
	NextDue     *time.Time // nil: nothing due (real time, a deadline met, or closed)
	Overdue     bool
	DeadlineMet bool          // a deadline audience whose last step was done in time
	Reminded    int           // reminders and escalations queued about the current obligation
	Escalated   bool          // the current obligation was escalated past the first person
	Holdings    int           // automatic holding updates sent to this audience
	Steps       []StepRecord  // a regulator audience's steps so far
	Missed      int           // deadlines this audience has missed during the incident
	Sent        DeliveryCount // this audience's deliveries by state
}

// DeliveryCount counts an audience's deliveries by how they ended.
type DeliveryCount struct{ Sent, Pending, Failed int }

// StepRecord is one regulatory step: when it was due and when it was done.
type StepRecord struct {
	Step   string
	Due    time.Time
	Done   *RegulatorReport // nil: not yet
	Missed bool             // done late, or not done and past due
}

// Board computes each audience's clock for an incident from the plan and
// the stored history: what was told, the regulator reports and the
// deliveries (reminders, escalations, holding updates). It is what the
// cadence engine works from (Obligations), shown. Deliveries may be nil
// (the incident list shows only the clocks).
func Board(plan Plan, in Incident, told []Communication, reports []RegulatorReport, deliveries []Delivery, now time.Time) []Clock {
	last := lastTold(plan, in, told)
	owed := map[string]Obligation{}
	for _, ob := range Obligations(plan, in, told, reports) {
		owed[ob.Audience] = ob
	}
	clocks := make([]Clock, 0, len(plan.Audiences))
	for _, a := range plan.Audiences {
		cad, applies := a.Effective(in)
		c := Clock{Audience: a, Applies: applies, Cadence: cad}
		if t, ok := last[a.Key]; ok {
			c.LastTold = &t
		}
		if ob, ok := owed[a.Key]; ok {
			c.Obligation = &ob
			due := ob.Due
			c.NextDue = &due
			c.Overdue = now.After(due)
		}
		if a.Regulatory != nil && applies {
			c.Steps = RegulatorySteps(*a.Regulatory, in, reports, now)
			for _, st := range c.Steps {
				if st.Missed {
					c.Missed++
				}
			}
			if n := len(c.Steps); n > 0 && c.Steps[n-1].Done != nil {
				c.DeadlineMet = !c.Steps[n-1].Missed
			}
		} else if cad.Kind == Deadline && applies {
			due, done := deadline(a, cad, in, told, reports)
			if done != nil {
				c.DeadlineMet = !done.After(due)
			}
			if (done != nil && done.After(due)) || (done == nil && now.After(due)) {
				c.Missed = 1
			}
		}
		for _, d := range deliveries {
			if d.IncidentID != in.ID || d.Audience != a.Key {
				continue
			}
			switch {
			case d.Kind == KindReminder:
				if c.Obligation != nil && d.ObligationKey == c.Obligation.Key() && d.State != DeliverySkipped {
					c.Reminded++
					if strings.Contains(d.Key, "/"+string(RemindEscalate)+"/") {
						c.Escalated = true
					}
				}
				continue
			case d.Kind == KindHolding && d.Channel != ChannelSlack:
				c.Holdings++
			}
			switch d.State {
			case DeliverySent:
				c.Sent.Sent++
			case DeliveryFailed:
				c.Sent.Failed++
			case DeliverySkipped:
			default:
				c.Sent.Pending++
			}
		}
		clocks = append(clocks, c)
	}
	return clocks
}

// RegulatorySteps lists a regulatory clock's steps reached so far: each
// done step with its report, then the step owed next (if any).
func RegulatorySteps(rc RegulatoryClock, in Incident, reports []RegulatorReport, now time.Time) []StepRecord {
	var done []RegulatorReport
	var out []StepRecord
	for {
		ob, ok := regulatoryObligation(rc, in, done)
		if !ok {
			return out
		}
		st := StepRecord{Step: ob.Step, Due: ob.Due}
		for i := range reports {
			r := reports[i]
			if r.IncidentID == in.ID && r.Step == ob.Step && (st.Done == nil || r.At.Before(st.Done.At)) {
				st.Done = &r
			}
		}
		if st.Done == nil {
			st.Missed = now.After(ob.Due)
			return append(out, st)
		}
		st.Missed = st.Done.At.After(ob.Due)
		out = append(out, st)
		done = append(done, *st.Done)
	}
}

// Verdicts of the compliance table.
const (
	VerdictMet       = "met"          // every promise kept
	VerdictEscalated = "escalated"    // a promise was late, and the people responsible were reminded and escalated to
	VerdictMissed    = "missed"       // a promise was late and nobody was told in time
	VerdictOpen      = "open"         // not due yet
	VerdictNone      = "not required" // the incident owed this audience nothing
)

// ComplianceRow is one line of the compliance table: what the plan promised
// an audience (or one regulatory step) and what happened.
type ComplianceRow struct {
	Audience   Audience
	Step       string        // StepUpdate for cadences; a regulatory step
	Promised   string        // "every 30 min", "real time", "initial notification within 4h"
	Interval   time.Duration // the promised longest gap (0 for real time)
	Messages   int           // messages to the audience (for real time, deliveries)
	LongestGap time.Duration // the longest time without a message (real time: the slowest delivery)
	Late       int           // gaps longer than promised, deadlines missed, deliveries failed
	Reminders  int           // reminders and escalations sent about late promises
	Holdings   int           // automatic holding updates among the messages
	Done       *time.Time    // a regulatory step: when it was done
	Due        *time.Time    // a regulatory step: when it was due
	Verdict    string
	// Lapses names each promise of an every-N audience kept late, oldest
	// first: the post-incident record says which update was missed, not
	// only how many.
	Lapses []Lapse
}

// Lapse is one update of an every-N audience that was not given on time:
// due at Due (the previous message plus the interval), given only at Told,
// and what Herald did about it.
type Lapse struct {
	Due       time.Time
	Told      *time.Time // the next message; nil: none before the end (the resolution, or now)
	Late      time.Duration
	Reminders int  // reminders and escalations about this due time (not skipped)
	Escalated bool // an escalation to the next people among them
}

// Compliance compares what the plan promised each audience with what was
// told, from the stored history only: the messages (communications), the
// regulator reports and the deliveries (reminders, escalations, Slack
// latency). It is kept with the incident for the post-incident record.
func Compliance(plan Plan, in Incident, told []Communication, reports []RegulatorReport, deliveries []Delivery, now time.Time) []ComplianceRow {
	end := now
	if in.ResolvedAt != nil && in.ResolvedAt.Before(now) {
		end = *in.ResolvedAt
	}
	var out []ComplianceRow
	for _, a := range plan.Audiences {
		cad, applies := a.Effective(in)
		row := ComplianceRow{Audience: a, Step: StepUpdate, Promised: cad.String(), Interval: cad.Interval}
		if !applies {
			row.Verdict = VerdictNone
			out = append(out, row)
			continue
		}
		switch {
		case a.Regulatory != nil:
			for _, st := range RegulatorySteps(*a.Regulatory, in, reports, now) {
				due := st.Due
				r := ComplianceRow{Audience: a, Step: st.Step, Due: &due,
					Promised: StepLabel(st.Step) + " by " + due.UTC().Format("2 Jan 15:04 MST")}
				if st.Done != nil {
					at := st.Done.At
					r.Done, r.Messages = &at, 1
				}
				out = append(out, judgeDeadline(r, a, in, st.Missed, st.Done == nil && !st.Missed, deliveries))
			}
			continue
		case cad.Kind == RealTime:
			row.Promised = "every update, as it happens"
			for _, d := range deliveries {
				if d.IncidentID != in.ID || d.Audience != a.Key || d.Kind == KindReminder || d.Kind == KindFailure {
					continue
				}
				row.Messages++
				if d.State == DeliveryFailed {
					row.Late++
				}
				if d.SentAt != nil && d.SentAt.Sub(d.CreatedAt) > row.LongestGap {
					row.LongestGap = d.SentAt.Sub(d.CreatedAt)
				}
			}
			row.Verdict = VerdictMet
			if row.Late > 0 {
				row.Verdict = VerdictMissed
			}
		case cad.Kind == Deadline:
			due, done := deadline(a, cad, in, told, reports)
			row.Step, row.Due, row.Done = StepDeadline, &due, done
			missed := (row.Done != nil && row.Done.After(due)) || (row.Done == nil && now.After(due))
			if row.Done != nil {
				row.Messages = 1
			}
			out = append(out, judgeDeadline(row, a, in, missed, row.Done == nil && !missed, deliveries))
			continue
		case cad.Kind == Every:
			out = append(out, judgeEvery(row, a, in, told, deliveries, end))
			continue
		}
		out = append(out, row)
	}
	return out
}

// deadline is a "within N" audience's due time (N after the declaration,
// or after the classification for a conditional audience) and when it was
// met: its first message or a "deadline" report, whichever came first;
// later messages do not move it.
func deadline(a Audience, cad Cadence, in Incident, told []Communication, reports []RegulatorReport) (time.Time, *time.Time) {
	due := in.CreatedAt.Add(cad.Interval)
	if a.Conditional {
		due = in.Classified().Add(cad.Interval)
	}
	var done *time.Time
	if ts := MessageTimes(in, a, told); len(ts) > 0 {
		done = &ts[0]
	}
	for _, r := range reports {
		if r.IncidentID == in.ID && r.Step == StepDeadline && (done == nil || r.At.Before(*done)) {
			at := r.At
			done = &at
		}
	}
	return due, done
}

func judgeDeadline(r ComplianceRow, a Audience, in Incident, missed, pending bool, deliveries []Delivery) ComplianceRow {
	for _, d := range deliveries {
		if d.IncidentID == in.ID && d.Audience == a.Key && d.Kind == KindReminder && d.DueAt != nil && r.Due != nil &&
			d.DueAt.Equal(*r.Due) && d.State != DeliverySkipped {
			r.Reminders++
		}
	}
	if r.Done != nil && r.Due != nil && r.Done.After(*r.Due) {
		r.LongestGap = r.Done.Sub(*r.Due)
	}
	switch {
	case pending:
		r.Verdict = VerdictOpen
	case missed:
		r.Late = 1
		r.Verdict = VerdictMissed
	default:
		r.Verdict = VerdictMet
	}
	return r
}

// grace is how late a message may be and still keep an every-N promise:
// the engine's holding update goes out at due plus its lateness. One
// hundredth of the interval, at least a second and at most a minute.
func grace(interval time.Duration) time.Duration {
	return min(max(interval/100, time.Second), time.Minute)
}

// judgeEvery measures the gaps between messages to an every-N audience,
// from the declaration to the resolution (or now): a gap longer than N is
// late; it counts as escalated when reminders about that due time went out.
func judgeEvery(r ComplianceRow, a Audience, in Incident, told []Communication, deliveries []Delivery, end time.Time) ComplianceRow {
	times := MessageTimes(in, a, told)
	for _, c := range told {
		if c.IncidentID == in.ID && c.Audience == a.Key && c.Author == EngineActor {
			r.Holdings++
		}
	}
	r.Messages = len(times)
	// What was said after the resolution (a postmortem) is no gap.
	for len(times) > 0 && times[len(times)-1].After(end) {
		times = times[:len(times)-1]
	}
	from := in.CreatedAt
	points := append(times, end)
	escalatedAll := true
	for _, t := range points {
		if t.Before(from) {
			continue
		}
		gap := t.Sub(from)
		if gap > r.LongestGap {
			r.LongestGap = gap
		}
		if gap > r.Interval+grace(r.Interval) {
			r.Late++
			due := from.Add(r.Interval)
			lapse := Lapse{Due: due, Late: t.Sub(due)}
			if len(times) > 0 && !t.After(times[len(times)-1]) {
				told := t
				lapse.Told = &told
			}
			for _, d := range deliveries {
				if d.IncidentID == in.ID && d.Audience == a.Key && d.Kind == KindReminder && d.DueAt != nil &&
					d.DueAt.Equal(due) && d.State != DeliverySkipped {
					lapse.Reminders++
					lapse.Escalated = lapse.Escalated || strings.Contains(d.Key, "/"+string(RemindEscalate)+"/")
				}
			}
			r.Reminders += lapse.Reminders
			if lapse.Reminders == 0 {
				escalatedAll = false
			}
			r.Lapses = append(r.Lapses, lapse)
		}
		from = t
	}
	switch {
	case r.Late == 0:
		r.Verdict = VerdictMet
	case escalatedAll:
		r.Verdict = VerdictEscalated
	default:
		r.Verdict = VerdictMissed
	}
	return r
}

// SMSSegments counts the segments an SMS body needs: GSM-7 text fits 160
// characters in one segment and 153 per segment when split; anything outside
// GSM-7 is sent as UCS-2, 70 and 67. Extension characters (€ [ ] { } etc.)
// take two GSM-7 positions.
func SMSSegments(body string) (chars, segments int, unicode bool) {
	septets := 0
	for _, r := range body {
		switch {
		case gsmBasic(r):
			septets++
		case gsmExtension(r):
			septets += 2
		default:
			unicode = true
		}
	}
	if unicode {
		units := 0
		for _, r := range body {
			units++
			if r > 0xFFFF {
				units++ // a surrogate pair
			}
		}
		switch {
		case units == 0:
			return 0, 0, true
		case units <= 70:
			return units, 1, true
		}
		return units, (units + 66) / 67, true
	}
	switch {
	case septets == 0:
		return 0, 0, false
	case septets <= 160:
		return septets, 1, false
	}
	return septets, (septets + 152) / 153, false
}

const gsmBasicChars = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

func gsmBasic(r rune) bool {
	for _, c := range gsmBasicChars {
		if c == r {
			return true
		}
	}
	return false
}

func gsmExtension(r rune) bool {
	switch r {
	case '^', '{', '}', '\\', '[', '~', ']', '|', '€', '\f':
		return true
	}
	return false
}
