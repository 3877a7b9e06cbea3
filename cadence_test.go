package herald

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cdClock is a clock of the cadence board reduced to what the tests compare.
type cdClock struct {
	Applies     bool
	Cadence     Cadence
	LastTold    *time.Time
	Step        string // the current obligation's step; "" without one
	NextDue     *time.Time
	Overdue     bool
	DeadlineMet bool
	Reminded    int
	Escalated   bool
	Holdings    int
	Missed      int
	Sent        DeliveryCount
}

func cdView(c Clock) cdClock {
	v := cdClock{Applies: c.Applies, Cadence: c.Cadence, LastTold: c.LastTold, NextDue: c.NextDue, Overdue: c.Overdue,
		DeadlineMet: c.DeadlineMet, Reminded: c.Reminded, Escalated: c.Escalated, Holdings: c.Holdings, Missed: c.Missed,
		Sent: c.Sent}
	if c.Obligation != nil {
		v.Step = c.Obligation.Step
		if c.NextDue == nil || !c.NextDue.Equal(c.Obligation.Due) {
			v.Step += " (NextDue is not the obligation's due)"
		}
	}
	return v
}

// cdBoard is the board of obligationPlan by audience key.
func cdBoard(t *testing.T, in Incident, told []Communication, reports []RegulatorReport, ds []Delivery, now time.Time) map[string]Clock {
	t.Helper()
	clocks := Board(obligationPlan(), in, told, reports, ds, now)
	plan := obligationPlan()
	if len(clocks) != len(plan.Audiences) {
		t.Fatalf("Board has %d clocks; want one per audience, %d", len(clocks), len(plan.Audiences))
	}
	out := map[string]Clock{}
	for i, c := range clocks {
		if c.Audience.Key != plan.Audiences[i].Key {
			t.Errorf("clock %d is %q; want the plan's order, %q", i, c.Audience.Key, plan.Audiences[i].Key)
		}
		out[c.Audience.Key] = c
	}
	return out
}

func every(d time.Duration) Cadence { return Cadence{Kind: Every, Interval: d} }

func TestBoardApplies(t *testing.T) {
	m := time.Minute
	rt, within := Cadence{Kind: RealTime}, Cadence{Kind: Deadline, Interval: 4 * time.Hour}
	now := obAt(m)
	tests := []struct {
		name string
		in   Incident
		want map[string]cdClock
	}{
		{
			name: "major, regulators not asked for",
			in:   obIncident(),
			want: map[string]cdClock{
				"engineering": {Applies: true, Cadence: rt},
				"executives":  {Applies: true, Cadence: every(30 * m), Step: StepUpdate, NextDue: obPtr(obAt(30 * m))},
				"public":      {Applies: true, Cadence: every(15 * m), Step: StepUpdate, NextDue: obPtr(obAt(15 * m))},
				"board":       {Cadence: within},
				"regulators":  {Cadence: within},
			},
		},
		{
			name: "minor: the executives are off; regulators asked for",
			in:   obIncident(obRegulated, func(in *Incident) { in.Impact = ImpactMinor }),
			want: map[string]cdClock{
				"engineering": {Applies: true, Cadence: rt},
				"executives":  {Cadence: every(30 * m)},
				"public":      {Applies: true, Cadence: every(15 * m), Step: StepUpdate, NextDue: obPtr(obAt(15 * m))},
				"board":       {Applies: true, Cadence: within, Step: StepDeadline, NextDue: obPtr(obAt(4 * time.Hour))},
				"regulators":  {Applies: true, Cadence: within, Step: StepInitial, NextDue: obPtr(obAt(4 * time.Hour))},
			},
		},
		{
			name: "critical: the executives every 15 min",
			in:   obIncident(func(in *Incident) { in.Impact = ImpactCritical }),
			want: map[string]cdClock{
				"engineering": {Applies: true, Cadence: rt},
				"executives":  {Applies: true, Cadence: every(15 * m), Step: StepUpdate, NextDue: obPtr(obAt(15 * m))},
				"public":      {Applies: true, Cadence: every(15 * m), Step: StepUpdate, NextDue: obPtr(obAt(15 * m))},
				"board":       {Cadence: within},
				"regulators":  {Cadence: within},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]cdClock{}
			for k, c := range cdBoard(t, tt.in, nil, nil, nil, now) {
				got[k] = cdView(c)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Board (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBoardNextDue(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name        string
		told        []Communication
		updates     []Update
		now         time.Time
		audience    string
		wantLast    *time.Time
		wantDue     *time.Time
		wantOverdue bool
	}{
		{name: "due ahead", now: obAt(10 * m), audience: "public", wantDue: obPtr(obAt(15 * m))},
		{name: "due exactly now is not overdue", now: obAt(15 * m), audience: "public", wantDue: obPtr(obAt(15 * m))},
		{name: "overdue", now: obAt(15*m + time.Second), audience: "public", wantDue: obPtr(obAt(15 * m)), wantOverdue: true},
		{
			name: "from the last message", now: obAt(20 * m), audience: "public",
			told:     []Communication{obTold("public", 3*m), obTold("public", 10*m), obTold("executives", 19*m)},
			wantLast: obPtr(obAt(10 * m)), wantDue: obPtr(obAt(25 * m)),
		},
		{
			name: "another incident's messages do not count", now: obAt(20 * m), audience: "public",
			told:    []Communication{{IncidentID: "inc-2", Audience: "public", CreatedAt: obAt(10 * m)}},
			wantDue: obPtr(obAt(15 * m)), wantOverdue: true,
		},
		{
			name: "the status page's audience is told by every public update", now: obAt(20 * m), audience: "public",
			updates:  []Update{{ID: "u1", CreatedAt: obAt(12 * m)}, {ID: "u0", CreatedAt: obAt(0)}},
			told:     []Communication{{ID: "c", IncidentID: "inc-1", UpdateID: "u0", Audience: "public", CreatedAt: obAt(14 * m)}},
			wantLast: obPtr(obAt(12 * m)), wantDue: obPtr(obAt(27 * m)),
		},
		{
			name: "real time: told, nothing due", now: obAt(20 * m), audience: "engineering",
			told:     []Communication{obTold("engineering", 5*m)},
			wantLast: obPtr(obAt(5 * m)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := obIncident(func(in *Incident) { in.Updates = tt.updates })
			c := cdBoard(t, in, tt.told, nil, nil, tt.now)[tt.audience]
			if diff := cmp.Diff(tt.wantLast, c.LastTold); diff != "" {
				t.Errorf("LastTold (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDue, c.NextDue); diff != "" {
				t.Errorf("NextDue (-want +got):\n%s", diff)
			}
			if c.Overdue != tt.wantOverdue {
				t.Errorf("Overdue = %v; want %v", c.Overdue, tt.wantOverdue)
			}
		})
	}
	// A resolved incident owes no updates: nothing due, nothing overdue.
	for k, c := range cdBoard(t, obIncident(obResolved), nil, nil, nil, obAt(5*time.Hour)) {
		if c.NextDue != nil || c.Overdue || c.Obligation != nil {
			t.Errorf("resolved: %s is due %v (overdue %v)", k, c.NextDue, c.Overdue)
		}
	}
}

// cdReminder is a reminder delivery about ob, keyed as the engine keys it.
func cdReminder(ob Obligation, kind ReminderKind, n int, state DeliveryState) Delivery {
	r := Reminder{Obligation: ob, Kind: kind, N: n}
	due := ob.Due
	return Delivery{IncidentID: ob.IncidentID, Audience: ob.Audience, Channel: ChannelSlack, Kind: KindReminder,
		Recipient: "ada@kredete.example", Key: ob.IncidentID + "/" + r.Key() + "/slack/ada@kredete.example",
		State: state, ObligationKey: ob.Key(), DueAt: &due}
}

func TestBoardReminders(t *testing.T) {
	m := time.Minute
	in := obIncident()
	told := []Communication{obTold("public", 10*m)}
	old := Obligation{IncidentID: "inc-1", Audience: "public", Step: StepUpdate, Since: obT0, Due: obAt(15 * m), Action: DueEscalate}
	cur := Obligation{IncidentID: "inc-1", Audience: "public", Step: StepUpdate, Since: obAt(10 * m), Due: obAt(25 * m), Action: DueEscalate}
	other := cur
	other.IncidentID = "inc-2"
	otherIncident := cdReminder(other, RemindDue, 0, DeliverySent)
	otherIncident.IncidentID = "inc-2"
	execs := Obligation{IncidentID: "inc-1", Audience: "executives", Step: StepUpdate, Since: obT0, Due: obAt(30 * m), Action: DueHolding}

	tests := []struct {
		name          string
		ds            []Delivery
		wantReminded  int
		wantEscalated bool
	}{
		{name: "none"},
		{
			name: "before and at due, sent or on their way",
			ds: []Delivery{cdReminder(cur, RemindBefore, 0, DeliverySent), cdReminder(cur, RemindDue, 0, DeliveryQueued),
				cdReminder(cur, RemindDue, 0, DeliveryFailed)},
			wantReminded: 3,
		},
		{
			name:         "skipped reminders do not count",
			ds:           []Delivery{cdReminder(cur, RemindBefore, 0, DeliverySkipped), cdReminder(cur, RemindDue, 0, DeliverySent)},
			wantReminded: 1,
		},
		{
			name: "reminders about the previous obligation, another audience or another incident do not count",
			ds: []Delivery{cdReminder(old, RemindBefore, 0, DeliverySent), cdReminder(old, RemindEscalate, 0, DeliverySent),
				cdReminder(execs, RemindBefore, 0, DeliverySent), otherIncident},
		},
		{
			name:         "an escalation",
			ds:           []Delivery{cdReminder(cur, RemindDue, 0, DeliverySent), cdReminder(cur, RemindEscalate, 0, DeliverySent)},
			wantReminded: 2, wantEscalated: true,
		},
		{
			name:         "a skipped escalation is none",
			ds:           []Delivery{cdReminder(cur, RemindDue, 0, DeliverySent), cdReminder(cur, RemindEscalate, 0, DeliverySkipped)},
			wantReminded: 1,
		},
		{
			name:         "overdue repeats are not escalations",
			ds:           []Delivery{cdReminder(cur, RemindOverdue, 1, DeliverySent), cdReminder(cur, RemindOverdue, 2, DeliverySent)},
			wantReminded: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cdBoard(t, in, told, nil, tt.ds, obAt(40*m))["public"]
			if c.Obligation == nil || c.Obligation.Key() != cur.Key() {
				t.Fatalf("the public page's obligation is %+v; want %+v", c.Obligation, cur)
			}
			if c.Reminded != tt.wantReminded || c.Escalated != tt.wantEscalated {
				t.Errorf("Reminded, Escalated = %d, %v; want %d, %v", c.Reminded, c.Escalated, tt.wantReminded, tt.wantEscalated)
			}
			if c.Sent != (DeliveryCount{}) {
				t.Errorf("reminders counted among the audience's messages: %+v", c.Sent)
			}
		})
	}
}

func TestBoardDeliveries(t *testing.T) {
	d := func(audience string, ch Channel, kind DeliveryKind, state DeliveryState) Delivery {
		return Delivery{IncidentID: "inc-1", Audience: audience, Channel: ch, Kind: kind, State: state}
	}
	ds := []Delivery{
		d("executives", ChannelEmail, KindHolding, DeliverySent),
		d("executives", ChannelSMS, KindHolding, DeliveryFailed),
		d("executives", ChannelSlack, KindHolding, DeliverySent), // a Slack post is not a holding update to the audience
		d("executives", ChannelEmail, KindMessage, DeliveryQueued),
		d("executives", ChannelSMS, KindMessage, DeliverySending),
		d("executives", ChannelSMS, KindMessage, DeliveryRetrying),
		d("executives", ChannelEmail, KindMessage, DeliverySkipped),
		d("engineering", ChannelSlack, KindThread, DeliverySent),
		d("engineering", ChannelSlack, KindReply, DeliverySent),
		d("engineering", ChannelSlack, KindEdit, DeliveryFailed),
		{IncidentID: "inc-2", Audience: "executives", Channel: ChannelEmail, Kind: KindHolding, State: DeliverySent},
	}
	board := cdBoard(t, obIncident(), nil, nil, ds, obAt(time.Minute))
	tests := []struct {
		audience     string
		wantHoldings int
		wantSent     DeliveryCount
	}{
		{"executives", 2, DeliveryCount{Sent: 2, Pending: 3, Failed: 1}},
		{"engineering", 0, DeliveryCount{Sent: 2, Failed: 1}},
		{"public", 0, DeliveryCount{}},
	}
	for _, tt := range tests {
		c := board[tt.audience]
		if c.Holdings != tt.wantHoldings || c.Sent != tt.wantSent {
			t.Errorf("%s: Holdings %d, Sent %+v; want %d, %+v", tt.audience, c.Holdings, c.Sent, tt.wantHoldings, tt.wantSent)
		}
	}
	// Without deliveries (the incident list) the counts are zero.
	for k, c := range cdBoard(t, obIncident(), nil, nil, nil, obAt(time.Minute)) {
		if c.Holdings != 0 || c.Sent != (DeliveryCount{}) || c.Reminded != 0 {
			t.Errorf("%s without deliveries: %+v", k, cdView(c))
		}
	}
}

// TestBoardDeadline is a plain "within 4h" conditional audience (the board):
// met by a message to it or by a report with step "deadline", from the
// classification.
func TestBoardDeadline(t *testing.T) {
	h := time.Hour
	deadline := func(d time.Duration) RegulatorReport {
		r := obReport(StepDeadline, d)
		r.ID = "deadline" + strconv.Itoa(int(d/h))
		return r
	}
	tests := []struct {
		name        string
		in          Incident
		told        []Communication
		reports     []RegulatorReport
		now         time.Time
		wantMet     bool
		wantMissed  int
		wantDue     *time.Time
		wantOverdue bool
	}{
		{name: "not yet, not due", now: obAt(h), wantDue: obPtr(obAt(4 * h))},
		{name: "not yet, past due", now: obAt(5 * h), wantMissed: 1, wantDue: obPtr(obAt(4 * h)), wantOverdue: true},
		{name: "told in time", told: []Communication{obTold("board", 3*h)}, now: obAt(5 * h), wantMet: true},
		{name: "told exactly at due", told: []Communication{obTold("board", 4*h)}, now: obAt(5 * h), wantMet: true},
		{name: "told late", told: []Communication{obTold("board", 5*h)}, now: obAt(6 * h), wantMissed: 1},
		{name: "a deadline report in time", reports: []RegulatorReport{deadline(2 * h)}, now: obAt(5 * h), wantMet: true},
		{name: "a deadline report late", reports: []RegulatorReport{deadline(5 * h)}, now: obAt(6 * h), wantMissed: 1},
		{
			name: "the earlier of a late message and a timely report",
			told: []Communication{obTold("board", 5*h)}, reports: []RegulatorReport{deadline(2 * h)}, now: obAt(6 * h),
			wantMet: true,
		},
		{
			name: "the first message counts, not a later one",
			told: []Communication{obTold("board", 3*h), obTold("board", 5*h)}, now: obAt(6 * h), wantMet: true,
		},
		{
			name:    "a regulatory step's report is not the deadline's",
			reports: []RegulatorReport{obReport(StepInitial, 2*h)}, now: obAt(3 * h), wantDue: obPtr(obAt(4 * h)),
		},
		{
			name:    "another incident's report does not count",
			reports: []RegulatorReport{{ID: "x", IncidentID: "inc-2", Step: StepDeadline, At: obAt(2 * h)}}, now: obAt(5 * h),
			wantMissed: 1, wantDue: obPtr(obAt(4 * h)), wantOverdue: true,
		},
		{
			name: "due from the classification",
			in:   obIncident(obRegulated, func(in *Incident) { in.RegulatorsAt = obPtr(obAt(2 * h)) }),
			told: []Communication{obTold("board", 5*h)}, now: obAt(7 * h), wantMet: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.ID == "" {
				in = obIncident(obRegulated)
			}
			c := cdBoard(t, in, tt.told, tt.reports, nil, tt.now)["board"]
			if c.DeadlineMet != tt.wantMet || c.Missed != tt.wantMissed {
				t.Errorf("DeadlineMet, Missed = %v, %d; want %v, %d", c.DeadlineMet, c.Missed, tt.wantMet, tt.wantMissed)
			}
			if diff := cmp.Diff(tt.wantDue, c.NextDue); diff != "" {
				t.Errorf("NextDue (-want +got):\n%s", diff)
			}
			if c.Overdue != tt.wantOverdue {
				t.Errorf("Overdue = %v; want %v", c.Overdue, tt.wantOverdue)
			}
		})
	}
}

// TestBoardRegulatory: the regulators' clock lists its steps, counts those
// missed and is met once the last is done in time.
func TestBoardRegulatory(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name       string
		reports    []RegulatorReport
		now        time.Time
		wantSteps  []string
		wantMissed int
		wantMet    bool
		wantStep   string
	}{
		{name: "nothing yet", now: obAt(h), wantSteps: []string{StepInitial}, wantStep: StepInitial},
		{name: "initial overdue", now: obAt(5 * h), wantSteps: []string{StepInitial}, wantMissed: 1, wantStep: StepInitial},
		{
			name: "initial late, intermediate owed", reports: []RegulatorReport{obReport(StepInitial, 5*h)}, now: obAt(6 * h),
			wantSteps: []string{StepInitial, StepIntermediate}, wantMissed: 1, wantStep: StepIntermediate,
		},
		{
			name:    "every step in time",
			reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepIntermediate, 50*h), obReport(StepFinal, 700*h)},
			now:     obAt(800 * h), wantSteps: []string{StepInitial, StepIntermediate, StepFinal}, wantMet: true,
		},
		{
			name:    "the final report late",
			reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepIntermediate, 50*h), obReport(StepFinal, 800*h)},
			now:     obAt(900 * h), wantSteps: []string{StepInitial, StepIntermediate, StepFinal}, wantMissed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cdBoard(t, obIncident(obRegulated), nil, tt.reports, nil, tt.now)["regulators"]
			var steps []string
			for _, st := range c.Steps {
				steps = append(steps, st.Step)
			}
			if diff := cmp.Diff(tt.wantSteps, steps); diff != "" {
				t.Errorf("Steps (-want +got):\n%s", diff)
			}
			if c.Missed != tt.wantMissed || c.DeadlineMet != tt.wantMet {
				t.Errorf("Missed, DeadlineMet = %d, %v; want %d, %v", c.Missed, c.DeadlineMet, tt.wantMissed, tt.wantMet)
			}
			var step string
			if c.Obligation != nil {
				step = c.Obligation.Step
			}
			if step != tt.wantStep {
				t.Errorf("current step %q; want %q", step, tt.wantStep)
			}
		})
	}
	// Not asked for: no steps.
	if c := cdBoard(t, obIncident(), nil, nil, nil, obAt(5*h))["regulators"]; c.Applies || len(c.Steps) != 0 || c.Missed != 0 {
		t.Errorf("regulators not asked for: %+v", cdView(c))
	}
}

func TestRegulatorySteps(t *testing.T) {
	h := time.Hour
	step := func(st string, due time.Duration, done *RegulatorReport, missed bool) StepRecord {
		return StepRecord{Step: st, Due: obAt(due), Done: done, Missed: missed}
	}
	rep := func(st string, d time.Duration) *RegulatorReport { r := obReport(st, d); return &r }
	noFinal := obDORA
	noFinal.Final = 0
	tests := []struct {
		name    string
		rc      RegulatoryClock
		in      Incident
		reports []RegulatorReport
		now     time.Time
		want    []StepRecord
	}{
		{
			name: "initial: classification + 4h when that is earlier",
			in:   obIncident(obRegulated, func(in *Incident) { in.RegulatorsAt = obPtr(obAt(10 * h)) }), now: obAt(11 * h),
			want: []StepRecord{step(StepInitial, 14*h, nil, false)},
		},
		{
			name: "initial: awareness + 24h when that is earlier",
			in:   obIncident(obRegulated, func(in *Incident) { in.RegulatorsAt = obPtr(obAt(22 * h)) }), now: obAt(23 * h),
			want: []StepRecord{step(StepInitial, 24*h, nil, false)},
		},
		{
			name: "initial: awareness before the declaration",
			in:   obIncident(obRegulated, func(in *Incident) { in.StartedAt = obAt(-21 * h) }), now: obAt(h),
			want: []StepRecord{step(StepInitial, 3*h, nil, false)},
		},
		{
			name: "an undone step past due is missed",
			in:   obIncident(obRegulated), now: obAt(4*h + time.Second),
			want: []StepRecord{step(StepInitial, 4*h, nil, true)},
		},
		{
			name: "an undone step exactly at due is not missed yet",
			in:   obIncident(obRegulated), now: obAt(4 * h),
			want: []StepRecord{step(StepInitial, 4*h, nil, false)},
		},
		{
			name: "intermediate 72h after the initial report's time",
			in:   obIncident(obRegulated), reports: []RegulatorReport{obReport(StepInitial, 3*h)}, now: obAt(10 * h),
			want: []StepRecord{step(StepInitial, 4*h, rep(StepInitial, 3*h), false), step(StepIntermediate, 75*h, nil, false)},
		},
		{
			name: "a late report is missed; the next step runs from it",
			in:   obIncident(obRegulated), reports: []RegulatorReport{obReport(StepInitial, 6*h)}, now: obAt(10 * h),
			want: []StepRecord{step(StepInitial, 4*h, rep(StepInitial, 6*h), true), step(StepIntermediate, 78*h, nil, false)},
		},
		{
			name: "final 720h after the intermediate report",
			in:   obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepIntermediate, 50*h), obReport(StepInitial, 3*h),
				{ID: "other", IncidentID: "inc-2", Step: StepInitial, At: obAt(h)}},
			now: obAt(100 * h),
			want: []StepRecord{step(StepInitial, 4*h, rep(StepInitial, 3*h), false),
				step(StepIntermediate, 75*h, rep(StepIntermediate, 50*h), false), step(StepFinal, 770*h, nil, false)},
		},
		{
			name: "the final report overdue",
			in:   obIncident(obRegulated), reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepIntermediate, 50*h)},
			now: obAt(771 * h),
			want: []StepRecord{step(StepInitial, 4*h, rep(StepInitial, 3*h), false),
				step(StepIntermediate, 75*h, rep(StepIntermediate, 50*h), false), step(StepFinal, 770*h, nil, true)},
		},
		{
			name: "steps stop after the final report",
			in:   obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepIntermediate, 80*h),
				obReport(StepFinal, 700*h)},
			now: obAt(2000 * h),
			want: []StepRecord{step(StepInitial, 4*h, rep(StepInitial, 3*h), false),
				step(StepIntermediate, 75*h, rep(StepIntermediate, 80*h), true),
				step(StepFinal, 800*h, rep(StepFinal, 700*h), false)},
		},
		{
			name: "no final report configured: steps stop after the intermediate",
			rc:   noFinal, in: obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepIntermediate, 50*h)}, now: obAt(2000 * h),
			want: []StepRecord{step(StepInitial, 4*h, rep(StepInitial, 3*h), false),
				step(StepIntermediate, 75*h, rep(StepIntermediate, 50*h), false)},
		},
		{
			name: "the clock goes on after resolution",
			in:   obIncident(obRegulated, obResolved), reports: []RegulatorReport{obReport(StepInitial, h)}, now: obAt(74 * h),
			want: []StepRecord{step(StepInitial, 4*h, rep(StepInitial, h), false), step(StepIntermediate, 73*h, nil, true)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := tt.rc
			if rc == (RegulatoryClock{}) {
				rc = obDORA
			}
			got := RegulatorySteps(rc, tt.in, tt.reports, tt.now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RegulatorySteps (-want +got):\n%s", diff)
			}
		})
	}
}

// cdRow is a compliance row reduced to what the tests compare.
type cdRow struct {
	Audience   string
	Step       string
	Promised   string
	Interval   time.Duration
	Messages   int
	LongestGap time.Duration
	Late       int
	Reminders  int
	Holdings   int
	Done, Due  *time.Time
	Verdict    string
}

func cdRows(rows []ComplianceRow) []cdRow {
	out := make([]cdRow, len(rows))
	for i, r := range rows {
		out[i] = cdRow{Audience: r.Audience.Key, Step: r.Step, Promised: r.Promised, Interval: r.Interval,
			Messages: r.Messages, LongestGap: r.LongestGap, Late: r.Late, Reminders: r.Reminders, Holdings: r.Holdings,
			Done: r.Done, Due: r.Due, Verdict: r.Verdict}
	}
	return out
}

func cdRowOf(t *testing.T, rows []ComplianceRow, audience, step string) cdRow {
	t.Helper()
	for _, r := range cdRows(rows) {
		if r.Audience == audience && r.Step == step {
			return r
		}
	}
	t.Fatalf("no compliance row for %s %s in %+v", audience, step, cdRows(rows))
	return cdRow{}
}

// cdDueReminder is a reminder delivery about the audience's update due at due.
func cdDueReminder(audience string, due time.Time, state DeliveryState) Delivery {
	return Delivery{IncidentID: "inc-1", Audience: audience, Channel: ChannelSlack, Kind: KindReminder, State: state,
		DueAt: &due, Key: "k" + due.Format(time.RFC3339Nano) + string(state)}
}

// TestComplianceEvery: the executives every 30 min, told at 0, 20, 50:20
// (20 s late: past the 18 s grace), 75 and resolved at 100 min.
func TestComplianceEvery(t *testing.T) {
	m := time.Minute
	resolvedAt := func(d time.Duration) func(in *Incident) {
		return func(in *Incident) { in.Status, in.ResolvedAt = Resolved, obPtr(obAt(d)) }
	}
	told := []Communication{obTold("executives", 75*m), obTold("executives", 0), obTold("executives", 20*m),
		obTold("executives", 50*m+20*time.Second), obTold("public", 10*m),
		{IncidentID: "inc-2", Audience: "executives", CreatedAt: obAt(90 * m)}}
	base := cdRow{Audience: "executives", Step: StepUpdate, Promised: "Every 30 min", Interval: 30 * m, Messages: 4,
		LongestGap: 30*m + 20*time.Second, Late: 1}
	row := func(edit func(r *cdRow)) cdRow {
		r := base
		edit(&r)
		return r
	}
	tests := []struct {
		name string
		in   Incident
		told []Communication
		ds   []Delivery
		now  time.Time
		want cdRow
		// ignoreMessages leaves Messages out of the comparison.
		ignoreMessages bool
	}{
		{
			name: "late, and nobody reminded",
			in:   obIncident(resolvedAt(100 * m)), told: told, now: obAt(5 * time.Hour),
			want: row(func(r *cdRow) { r.Verdict = VerdictMissed }),
		},
		{
			name: "late, reminded and escalated about that due time",
			in:   obIncident(resolvedAt(100 * m)), told: told, now: obAt(5 * time.Hour),
			ds: []Delivery{cdDueReminder("executives", obAt(50*m), DeliverySent),
				cdDueReminder("executives", obAt(50*m), DeliveryFailed),
				cdDueReminder("executives", obAt(50*m), DeliverySkipped), // not counted
				cdDueReminder("executives", obAt(30*m), DeliverySent),    // another due time
				cdDueReminder("public", obAt(50*m), DeliverySent)},       // another audience
			want: row(func(r *cdRow) { r.Reminders, r.Verdict = 2, VerdictEscalated }),
		},
		{
			name: "only skipped reminders about the late due time",
			in:   obIncident(resolvedAt(100 * m)), told: told, now: obAt(5 * time.Hour),
			ds:   []Delivery{cdDueReminder("executives", obAt(50*m), DeliverySkipped)},
			want: row(func(r *cdRow) { r.Verdict = VerdictMissed }),
		},
		{
			name: "open: the gap to now counts",
			in:   obIncident(), told: told, now: obAt(110 * m),
			ds: []Delivery{cdDueReminder("executives", obAt(50*m), DeliverySent)},
			want: row(func(r *cdRow) {
				r.LongestGap, r.Late, r.Reminders, r.Verdict = 35*m, 2, 1, VerdictMissed // 75 → 110 is late too, unreminded
			}),
		},
		{
			name: "open: both late gaps reminded",
			in:   obIncident(), told: told, now: obAt(110 * m),
			ds: []Delivery{cdDueReminder("executives", obAt(50*m), DeliverySent),
				cdDueReminder("executives", obAt(105*m), DeliverySent)},
			want: row(func(r *cdRow) { r.LongestGap, r.Late, r.Reminders, r.Verdict = 35*m, 2, 2, VerdictEscalated }),
		},
		{
			name: "resolved before now: the resolution ends the last gap",
			in:   obIncident(resolvedAt(100 * m)), told: told[:4], now: obAt(10 * time.Hour),
			want: row(func(r *cdRow) { r.Verdict = VerdictMissed }),
		},
		{
			name: "a message after the resolution is not a late gap",
			in:   obIncident(resolvedAt(100 * m)), now: obAt(10 * time.Hour),
			told: []Communication{obTold("executives", 0), obTold("executives", 25*m), obTold("executives", 50*m),
				obTold("executives", 75*m), obTold("executives", 180*m)}, // the postmortem
			// Whether the postmortem counts among the messages is not
			// asserted; that it opens no late gap is.
			want:           row(func(r *cdRow) { r.Messages, r.LongestGap, r.Late, r.Verdict = 5, 25*m, 0, VerdictMet }),
			ignoreMessages: true,
		},
		{
			name: "never told: one gap from the declaration",
			in:   obIncident(resolvedAt(100 * m)), now: obAt(10 * time.Hour),
			want: row(func(r *cdRow) { r.Messages, r.LongestGap, r.Verdict = 0, 100*m, VerdictMissed }),
		},
		{
			name: "every gap within the interval",
			in:   obIncident(resolvedAt(100 * m)), now: obAt(10 * time.Hour),
			told: []Communication{obTold("executives", 30*m), obTold("executives", 60*m), obTold("executives", 90*m)},
			want: row(func(r *cdRow) { r.Messages, r.LongestGap, r.Late, r.Verdict = 3, 30*m, 0, VerdictMet }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cdRowOf(t, Compliance(obligationPlan(), tt.in, tt.told, nil, tt.ds, tt.now), "executives", StepUpdate)
			if tt.ignoreMessages {
				got.Messages = tt.want.Messages
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("executives' row (-want +got):\n%s", diff)
			}
		})
	}
}

// TestComplianceLapses: each late gap of an every-N audience is named with
// its due time, when the next message came (none before the resolution for
// the last), how late, and the reminders and escalation sent about it.
func TestComplianceLapses(t *testing.T) {
	m := time.Minute
	in := obIncident(func(in *Incident) { in.Status, in.ResolvedAt = Resolved, obPtr(obAt(140*m)) })
	told := []Communication{obTold("executives", 0), obTold("executives", 20*m), obTold("executives", 50*m+20*time.Second),
		obTold("executives", 75*m)}
	escalation := cdDueReminder("executives", obAt(50*m), DeliverySent)
	escalation.Key = "inc-1/executives/update/x/" + string(RemindEscalate) + "/0/slack/U1"
	ds := []Delivery{cdDueReminder("executives", obAt(50*m), DeliverySent), escalation,
		cdDueReminder("executives", obAt(50*m), DeliverySkipped), // not counted
		cdDueReminder("executives", obAt(105*m), DeliveryFailed)} // tried: counted
	var got []Lapse
	for _, r := range Compliance(obligationPlan(), in, told, nil, ds, obAt(5*time.Hour)) {
		if r.Audience.Key == "executives" {
			got = r.Lapses
		}
	}
	want := []Lapse{
		{Due: obAt(50 * m), Told: obPtr(obAt(50*m + 20*time.Second)), Late: 20 * time.Second, Reminders: 2, Escalated: true},
		{Due: obAt(105 * m), Late: 35 * m, Reminders: 1}, // nothing after 75 min until the resolution at 140
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("executives' lapses (-want +got):\n%s", diff)
	}
	// Kept on time: no lapse.
	told = append(told, obTold("executives", 100*m), obTold("executives", 125*m))
	told[2].CreatedAt = obAt(50 * m)
	for _, r := range Compliance(obligationPlan(), in, told, nil, ds, obAt(5*time.Hour)) {
		if r.Audience.Key == "executives" && (len(r.Lapses) != 0 || r.Verdict != VerdictMet) {
			t.Errorf("every update on time: lapses %+v, verdict %s", r.Lapses, r.Verdict)
		}
	}
}

func TestGrace(t *testing.T) {
	tests := []struct {
		interval, want time.Duration
	}{
		{time.Second, time.Second}, // at least a second
		{time.Minute, time.Second},
		{100 * time.Second, time.Second},
		{15 * time.Minute, 9 * time.Second},
		{30 * time.Minute, 18 * time.Second}, // a hundredth
		{100 * time.Minute, time.Minute},
		{4 * time.Hour, time.Minute}, // at most a minute
	}
	for _, tt := range tests {
		if got := grace(tt.interval); got != tt.want {
			t.Errorf("grace(%s) = %s; want %s", tt.interval, got, tt.want)
		}
	}
}

// TestComplianceGrace: a message up to the grace after due keeps the
// promise (the engine's holding update goes out a little after due).
func TestComplianceGrace(t *testing.T) {
	ms := time.Millisecond
	plan := func(interval time.Duration) Plan {
		return Plan{Audiences: []Audience{{Key: "executives", Name: "Executive Team", Channels: []Channel{ChannelEmail},
			Cadence: every(interval), OnDue: DueHolding}}}
	}
	holding := func(d time.Duration) Communication {
		c := obTold("executives", d)
		c.Author = EngineActor
		return c
	}
	tests := []struct {
		name         string
		interval     time.Duration
		at           time.Duration // the holding update, after the declaration
		wantLate     int
		wantHoldings int
	}{
		{"1 min: 500 ms after due", time.Minute, time.Minute + 500*ms, 0, 1},
		{"1 min: at the 1 s floor", time.Minute, time.Minute + time.Second, 0, 1},
		{"1 min: 1.5 s after due", time.Minute, time.Minute + 1500*ms, 1, 1},
		{"30 min: 500 ms after due", 30 * time.Minute, 30*time.Minute + 500*ms, 0, 1},
		{"30 min: 18 s after due", 30 * time.Minute, 30*time.Minute + 18*time.Second, 0, 1},
		{"30 min: 19 s after due", 30 * time.Minute, 30*time.Minute + 19*time.Second, 1, 1},
		{"4 h: 60 s after due", 4 * time.Hour, 4*time.Hour + time.Minute, 0, 1},
		{"4 h: 61 s after due", 4 * time.Hour, 4*time.Hour + 61*time.Second, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The declaration, then nothing until the holding update, then
			// the resolution within the interval.
			in := obIncident()
			end := obAt(tt.at + tt.interval/2)
			in.Status, in.ResolvedAt = Resolved, &end
			rows := Compliance(plan(tt.interval), in, []Communication{holding(tt.at)}, nil, nil, end.Add(time.Hour))
			got := cdRowOf(t, rows, "executives", StepUpdate)
			if got.Late != tt.wantLate || got.Holdings != tt.wantHoldings || got.Messages != 1 || got.LongestGap != tt.at {
				t.Errorf("Late %d, Holdings %d, Messages %d, LongestGap %s; want %d, %d, 1, %s", got.Late, got.Holdings,
					got.Messages, got.LongestGap, tt.wantLate, tt.wantHoldings, tt.at)
			}
		})
	}
}

func TestComplianceRealTime(t *testing.T) {
	s := time.Second
	d := func(kind DeliveryKind, state DeliveryState, took time.Duration) Delivery {
		dl := Delivery{IncidentID: "inc-1", Audience: "engineering", Channel: ChannelSlack, Kind: kind, State: state,
			CreatedAt: obAt(0)}
		if took > 0 {
			dl.SentAt = obPtr(obAt(took))
		}
		return dl
	}
	ignored := []Delivery{
		d(KindReminder, DeliveryFailed, 90*s), // about the engineering audience, but not a message to it
		d(KindFailure, DeliveryFailed, 90*s),
		{IncidentID: "inc-2", Audience: "engineering", Channel: ChannelSlack, Kind: KindReply, State: DeliveryFailed,
			CreatedAt: obAt(0), SentAt: obPtr(obAt(90 * s))},
		{IncidentID: "inc-1", Audience: "executives", Channel: ChannelEmail, Kind: KindMessage, State: DeliveryFailed,
			CreatedAt: obAt(0), SentAt: obPtr(obAt(90 * s))},
	}
	want := func(messages int, gap time.Duration, late int, verdict string) cdRow {
		return cdRow{Audience: "engineering", Step: StepUpdate, Promised: "every update, as it happens", Messages: messages,
			LongestGap: gap, Late: late, Verdict: verdict}
	}
	tests := []struct {
		name string
		ds   []Delivery
		want cdRow
	}{
		{"nothing sent", ignored, want(0, 0, 0, VerdictMet)},
		{
			"all sent: the slowest delivery is the longest gap",
			append([]Delivery{d(KindThread, DeliverySent, 2*s), d(KindReply, DeliverySent, 5*s), d(KindEdit, DeliverySent, s),
				d(KindReply, DeliveryQueued, 0)}, ignored...),
			want(4, 5*s, 0, VerdictMet),
		},
		{
			"a failed delivery misses the promise",
			append([]Delivery{d(KindThread, DeliverySent, 2*s), d(KindReply, DeliveryFailed, 0),
				d(KindReply, DeliveryFailed, 0)}, ignored...),
			want(3, 2*s, 2, VerdictMissed),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cdRowOf(t, Compliance(obligationPlan(), obIncident(), nil, nil, tt.ds, obAt(time.Hour)), "engineering", StepUpdate)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("engineering's row (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComplianceRegulatory(t *testing.T) {
	h := time.Hour
	in := obIncident(obRegulated, obResolved)
	reports := []RegulatorReport{obReport(StepInitial, 5*h), obReport(StepIntermediate, 50*h)}
	ds := []Delivery{
		cdDueReminder("regulators", obAt(4*h), DeliverySent),
		cdDueReminder("regulators", obAt(4*h), DeliverySent),
		cdDueReminder("regulators", obAt(4*h), DeliverySkipped),
		cdDueReminder("regulators", obAt(77*h), DeliverySent),
	}
	rows := Compliance(obligationPlan(), in, nil, reports, ds, obAt(60*h))
	var regs []cdRow
	for _, r := range cdRows(rows) {
		if r.Audience == "regulators" {
			regs = append(regs, r)
		}
	}
	want := []cdRow{
		{Audience: "regulators", Step: StepInitial, Promised: "initial notification by 14 Mar 13:00 UTC", Messages: 1,
			LongestGap: h, Late: 1, Reminders: 2, Done: obPtr(obAt(5 * h)), Due: obPtr(obAt(4 * h)), Verdict: VerdictMissed},
		{Audience: "regulators", Step: StepIntermediate, Promised: "intermediate report by 17 Mar 14:00 UTC", Messages: 1,
			Reminders: 1, Done: obPtr(obAt(50 * h)), Due: obPtr(obAt(77 * h)), Verdict: VerdictMet},
		{Audience: "regulators", Step: StepFinal, Promised: "final report by 15 Apr 11:00 UTC",
			Due: obPtr(obAt(770 * h)), Verdict: VerdictOpen},
	}
	if diff := cmp.Diff(want, regs); diff != "" {
		t.Errorf("regulators' rows (-want +got):\n%s", diff)
	}

	// Nothing done and past due: missed, not open.
	rows = Compliance(obligationPlan(), obIncident(obRegulated), nil, nil, nil, obAt(5*h))
	got := cdRowOf(t, rows, "regulators", StepInitial)
	if got.Verdict != VerdictMissed || got.Late != 1 || got.Done != nil || got.Messages != 0 {
		t.Errorf("an initial notification not made past due: %+v", got)
	}
	if _, ok := findRow(rows, "regulators", StepIntermediate); ok {
		t.Error("a row for the intermediate report before the initial notification was made")
	}
}

func findRow(rows []ComplianceRow, audience, step string) (ComplianceRow, bool) {
	for _, r := range rows {
		if r.Audience.Key == audience && r.Step == step {
			return r, true
		}
	}
	return ComplianceRow{}, false
}

func TestComplianceDeadline(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name string
		told []Communication
		now  time.Time
		want cdRow
	}{
		{
			name: "open", now: obAt(h),
			want: cdRow{Verdict: VerdictOpen},
		},
		{
			name: "met", told: []Communication{obTold("board", 3*h)}, now: obAt(5 * h),
			want: cdRow{Messages: 1, Done: obPtr(obAt(3 * h)), Verdict: VerdictMet},
		},
		{
			name: "late", told: []Communication{obTold("board", 6*h)}, now: obAt(7 * h),
			want: cdRow{Messages: 1, Done: obPtr(obAt(6 * h)), LongestGap: 2 * h, Late: 1, Verdict: VerdictMissed},
		},
		{
			name: "not done, past due", now: obAt(5 * h),
			want: cdRow{Late: 1, Verdict: VerdictMissed},
		},
		{
			name: "met by the first message, not the last", told: []Communication{obTold("board", 3*h), obTold("board", 6*h)},
			now:  obAt(7 * h),
			want: cdRow{Messages: 1, Done: obPtr(obAt(3 * h)), Verdict: VerdictMet},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			want.Audience, want.Step, want.Promised, want.Interval, want.Due = "board", StepDeadline, "Within 4 hours", 4*h, obPtr(obAt(4*h))
			got := cdRowOf(t, Compliance(obligationPlan(), obIncident(obRegulated), tt.told, nil, nil, tt.now), "board", StepDeadline)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("board's row (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComplianceNotRequired(t *testing.T) {
	in := obIncident(func(in *Incident) { in.Impact = ImpactMinor })
	rows := cdRows(Compliance(obligationPlan(), in, nil, nil, nil, obAt(time.Hour)))
	verdicts := map[string]string{}
	for _, r := range rows {
		if r.Verdict == VerdictNone {
			verdicts[r.Audience] = r.Promised
			if r.Messages != 0 || r.Late != 0 || r.Done != nil || r.Due != nil {
				t.Errorf("a row not required has figures: %+v", r)
			}
		}
	}
	want := map[string]string{"executives": "Every 30 min", "board": "Within 4 hours", "regulators": "Within 4 hours"}
	if diff := cmp.Diff(want, verdicts); diff != "" {
		t.Errorf("audiences not required, with what the plan promises them (-want +got):\n%s", diff)
	}
	if len(rows) != len(obligationPlan().Audiences) {
		t.Errorf("%d rows; want one per audience (no regulatory steps when not required): %+v", len(rows), rows)
	}
}

func TestComplianceHoldings(t *testing.T) {
	m := time.Minute
	auto := func(d time.Duration) Communication {
		c := obTold("executives", d)
		c.Author = EngineActor
		return c
	}
	told := []Communication{auto(30 * m), obTold("executives", 45*m), auto(75 * m),
		{ID: "x", IncidentID: "inc-2", Audience: "executives", Author: EngineActor, CreatedAt: obAt(20 * m)},
		{ID: "y", IncidentID: "inc-1", Audience: "public", Author: EngineActor, CreatedAt: obAt(20 * m)}}
	in := obIncident(func(in *Incident) { in.Status, in.ResolvedAt = Resolved, obPtr(obAt(90*m)) })
	got := cdRowOf(t, Compliance(obligationPlan(), in, told, nil, nil, obAt(2*time.Hour)), "executives", StepUpdate)
	if got.Holdings != 2 || got.Messages != 3 || got.Late != 0 || got.Verdict != VerdictMet {
		t.Errorf("executives' row: %+v; want 2 holdings among 3 messages, met", got)
	}
}
