package herald

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// obT0 is the declaration time of the incidents below.
var obT0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

func obAt(d time.Duration) time.Time { return obT0.Add(d) }

func obPtr(t time.Time) *time.Time { return &t }

// obDORA is the regulatory clock of the default plan.
var obDORA = RegulatoryClock{AfterClassification: 4 * time.Hour, AfterAwareness: 24 * time.Hour,
	Intermediate: 72 * time.Hour, Final: 720 * time.Hour}

// obligationPlan has one audience of every sort the engine keeps promises to.
func obligationPlan() Plan {
	critical := Cadence{Kind: Every, Interval: 15 * time.Minute}
	rc := obDORA
	return Plan{Audiences: []Audience{
		{Key: "engineering", Name: "Engineering Team", Channels: []Channel{ChannelSlack}, Cadence: Cadence{Kind: RealTime},
			Recipients: Recipients{SlackChannel: "#incident-response"}},
		{Key: "executives", Name: "Executive Team", Channels: []Channel{ChannelEmail, ChannelSMS},
			Cadence: Cadence{Kind: Every, Interval: 30 * time.Minute}, OnDue: DueHolding,
			ByImpact: map[Impact]ImpactOverride{ImpactMinor: {Off: true}, ImpactCritical: {Cadence: &critical}}},
		{Key: "public", Name: "Partners and clients", Channels: []Channel{ChannelStatusPage},
			Cadence: Cadence{Kind: Every, Interval: 15 * time.Minute}, OnDue: DueEscalate},
		{Key: "board", Name: "Board", Channels: []Channel{ChannelEmail},
			Cadence: Cadence{Kind: Deadline, Interval: 4 * time.Hour}, Conditional: true},
		{Key: "regulators", Name: "Regulators", Channels: []Channel{ChannelPhone},
			Cadence: Cadence{Kind: Deadline, Interval: 4 * time.Hour}, Conditional: true, OnDue: DueRemind, Regulatory: &rc},
	}}
}

// obIncident is a major incident declared (and started) at obT0.
func obIncident(edit ...func(in *Incident)) Incident {
	in := Incident{ID: "inc-1", Kind: KindIncident, Name: "API errors", Status: Investigating, Impact: ImpactMajor,
		CreatedAt: obT0, UpdatedAt: obT0, StartedAt: obT0}
	for _, e := range edit {
		e(&in)
	}
	return in
}

func obRegulated(in *Incident) { in.NotifyRegulators = true }

func obResolved(in *Incident) { in.Status, in.ResolvedAt = Resolved, obPtr(obAt(2*time.Hour)) }

func obTold(audience string, d time.Duration) Communication {
	return Communication{ID: audience + strconv.Itoa(int(d/time.Minute)), IncidentID: "inc-1", Audience: audience, CreatedAt: obAt(d)}
}

func obReport(st string, d time.Duration) RegulatorReport {
	return RegulatorReport{ID: st + strconv.Itoa(int(d/time.Hour)), IncidentID: "inc-1", Step: st, At: obAt(d)}
}

func TestObligations(t *testing.T) {
	execs := func(since, due time.Duration) Obligation {
		return Obligation{IncidentID: "inc-1", Audience: "executives", Step: StepUpdate, Since: obAt(since), Due: obAt(due), Action: DueHolding}
	}
	public := func(since, due time.Duration) Obligation {
		return Obligation{IncidentID: "inc-1", Audience: "public", Step: StepUpdate, Since: obAt(since), Due: obAt(due), Action: DueEscalate}
	}
	board := func(since, due time.Duration) Obligation {
		return Obligation{IncidentID: "inc-1", Audience: "board", Step: StepDeadline, Since: obAt(since), Due: obAt(due), Action: DueRemind}
	}
	regs := func(st string, since, due time.Duration) Obligation {
		return Obligation{IncidentID: "inc-1", Audience: "regulators", Step: st, Since: obAt(since), Due: obAt(due), Action: DueRemind}
	}
	tests := []struct {
		name    string
		in      Incident
		told    []Communication
		reports []RegulatorReport
		want    []Obligation
	}{
		{
			name: "every N from the declaration; real time owes nothing by the clock",
			in:   obIncident(),
			want: []Obligation{execs(0, 30*time.Minute), public(0, 15*time.Minute)},
		},
		{
			name: "every N from the last message to that audience",
			in:   obIncident(),
			told: []Communication{
				obTold("executives", 40*time.Minute), obTold("executives", 10*time.Minute), // out of order
				obTold("engineering", 55*time.Minute),
				{IncidentID: "inc-2", Audience: "public", CreatedAt: obAt(50 * time.Minute)}, // another incident
			},
			want: []Obligation{execs(40*time.Minute, 70*time.Minute), public(0, 15*time.Minute)},
		},
		{
			name: "a message before the declaration does not move the clock back",
			in:   obIncident(),
			told: []Communication{obTold("public", -10*time.Minute)},
			want: []Obligation{execs(0, 30*time.Minute), public(0, 15*time.Minute)},
		},
		{
			name: "a resolved incident owes no updates",
			in:   obIncident(obResolved),
			told: []Communication{obTold("executives", 10*time.Minute)},
		},
		{
			name: "postmortem is closed too",
			in:   obIncident(func(in *Incident) { in.Status = Postmortem }),
		},
		{
			name: "deadline from the declaration when classified at once",
			in:   obIncident(obRegulated, func(in *Incident) { in.Impact = ImpactMinor }),
			want: []Obligation{public(0, 15*time.Minute), board(0, 4*time.Hour),
				regs(StepInitial, 0, 4*time.Hour)},
		},
		{
			name: "deadline from the classification when the flag was set later",
			in: obIncident(obRegulated, func(in *Incident) {
				in.Impact, in.RegulatorsAt = ImpactMinor, obPtr(obAt(90*time.Minute))
			}),
			want: []Obligation{public(0, 15*time.Minute), board(90*time.Minute, 330*time.Minute),
				regs(StepInitial, 90*time.Minute, 330*time.Minute)},
		},
		{
			name: "a deadline is met by one message, even a late one",
			in:   obIncident(obRegulated, func(in *Incident) { in.Impact = ImpactMinor }),
			told: []Communication{obTold("board", 5*time.Hour)},
			want: []Obligation{public(0, 15*time.Minute), regs(StepInitial, 0, 4*time.Hour)},
		},
		{
			name: "conditional audiences owe nothing unless the incident says so",
			in:   obIncident(func(in *Incident) { in.Impact = ImpactMinor }),
			want: []Obligation{public(0, 15*time.Minute)},
		},
		{
			name: "impact override off",
			in:   obIncident(func(in *Incident) { in.Impact = ImpactMinor }),
			told: []Communication{obTold("executives", 10*time.Minute)},
			want: []Obligation{public(0, 15*time.Minute)},
		},
		{
			name: "impact override with another cadence",
			in:   obIncident(func(in *Incident) { in.Impact = ImpactCritical }),
			told: []Communication{obTold("executives", 10*time.Minute)},
			want: []Obligation{execs(10*time.Minute, 25*time.Minute), public(0, 15*time.Minute)},
		},
		{
			name: "impacts without an override keep the audience's cadence",
			in:   obIncident(func(in *Incident) { in.Impact = ImpactNone }),
			want: []Obligation{execs(0, 30*time.Minute), public(0, 15*time.Minute)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Obligations(obligationPlan(), tt.in, tt.told, tt.reports)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Obligations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestObligationsRegulatory walks the DORA clock: initial, intermediate, final.
func TestObligationsRegulatory(t *testing.T) {
	h := time.Hour
	plan := func(rc RegulatoryClock) Plan {
		return Plan{Audiences: []Audience{{Key: "regulators", Name: "Regulators", Channels: []Channel{ChannelPhone},
			Cadence: Cadence{Kind: Deadline, Interval: 4 * h}, Conditional: true, Regulatory: &rc}}}
	}
	ob := func(st string, since, due time.Duration) []Obligation {
		return []Obligation{{IncidentID: "inc-1", Audience: "regulators", Step: st, Since: obAt(since), Due: obAt(due), Action: DueRemind}}
	}
	noAwareness := obDORA
	noAwareness.AfterAwareness = 0
	noFinal := obDORA
	noFinal.Final = 0
	tests := []struct {
		name    string
		rc      RegulatoryClock
		in      Incident
		reports []RegulatorReport
		want    []Obligation
	}{
		{
			name: "initial: classification + 4h when that is earlier",
			rc:   obDORA, in: obIncident(obRegulated),
			want: ob(StepInitial, 0, 4*h),
		},
		{
			name: "initial: classified later than the declaration",
			rc:   obDORA, in: obIncident(obRegulated, func(in *Incident) { in.RegulatorsAt = obPtr(obAt(10 * h)) }),
			want: ob(StepInitial, 10*h, 14*h),
		},
		{
			name: "initial: awareness + 24h when that is earlier",
			rc:   obDORA, in: obIncident(obRegulated, func(in *Incident) { in.StartedAt = obAt(-22 * h) }),
			want: ob(StepInitial, 0, 2*h),
		},
		{
			name: "initial: awareness long before a late classification",
			rc:   obDORA, in: obIncident(obRegulated, func(in *Incident) { in.RegulatorsAt = obPtr(obAt(22 * h)) }),
			want: ob(StepInitial, 22*h, 24*h),
		},
		{
			name: "initial: awareness + 24h exactly equal to classification + 4h",
			rc:   obDORA, in: obIncident(obRegulated, func(in *Incident) { in.RegulatorsAt = obPtr(obAt(20 * h)) }),
			want: ob(StepInitial, 20*h, 24*h),
		},
		{
			name: "initial: no awareness limit",
			rc:   noAwareness, in: obIncident(obRegulated, func(in *Incident) { in.StartedAt = obAt(-100 * h) }),
			want: ob(StepInitial, 0, 4*h),
		},
		{
			name: "intermediate after the initial notification",
			rc:   obDORA, in: obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, 3*h)},
			want:    ob(StepIntermediate, 3*h, 75*h),
		},
		{
			name: "intermediate after the latest initial report",
			rc:   obDORA, in: obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepInitial, 1*h)},
			want:    ob(StepIntermediate, 3*h, 75*h),
		},
		{
			name: "final after the last intermediate report",
			rc:   obDORA, in: obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepIntermediate, 80*h), obReport(StepIntermediate, 50*h)},
			want:    ob(StepFinal, 80*h, 800*h),
		},
		{
			name: "all done: nothing more",
			rc:   obDORA, in: obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepIntermediate, 50*h), obReport(StepFinal, 600*h)},
		},
		{
			name: "no final report configured: done after the intermediate",
			rc:   noFinal, in: obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, 3*h), obReport(StepIntermediate, 50*h)},
		},
		{
			name: "the clock goes on after the incident is resolved",
			rc:   obDORA, in: obIncident(obRegulated, obResolved),
			reports: []RegulatorReport{obReport(StepInitial, 3*h)},
			want:    ob(StepIntermediate, 3*h, 75*h),
		},
		{
			name: "reports of other incidents do not count",
			rc:   obDORA, in: obIncident(obRegulated),
			reports: []RegulatorReport{{IncidentID: "inc-2", Step: StepInitial, At: obAt(h)}},
			want:    ob(StepInitial, 0, 4*h),
		},
		{
			name: "a conditional regulatory audience the incident does not need",
			rc:   obDORA, in: obIncident(),
		},
		{
			name: "messages to the audience do not satisfy the regulatory steps",
			rc:   obDORA, in: obIncident(obRegulated),
			want: ob(StepInitial, 0, 4*h),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			comms := []Communication{obTold("regulators", 30*time.Minute)}
			got := Obligations(plan(tt.rc), tt.in, comms, tt.reports)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Obligations (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("an impact override turns the clock off", func(t *testing.T) {
		p := plan(obDORA)
		p.Audiences[0].ByImpact = map[Impact]ImpactOverride{ImpactMajor: {Off: true}}
		if got := Obligations(p, obIncident(obRegulated), nil, nil); len(got) != 0 {
			t.Errorf("Obligations = %+v; want none", got)
		}
	})
}

func TestAudienceEffective(t *testing.T) {
	every := func(d time.Duration) Cadence { return Cadence{Kind: Every, Interval: d} }
	c15, rt := every(15*time.Minute), Cadence{Kind: RealTime}
	a := Audience{Key: "execs", Cadence: every(30 * time.Minute),
		ByImpact: map[Impact]ImpactOverride{ImpactNone: {Off: true}, ImpactCritical: {Cadence: &c15}, ImpactMajor: {Cadence: &rt},
			ImpactMinor: {}}}
	cond := a
	cond.Conditional = true
	tests := []struct {
		name   string
		a      Audience
		in     Incident
		want   Cadence
		wantOK bool
	}{
		{"off", a, obIncident(func(in *Incident) { in.Impact = ImpactNone }), every(30 * time.Minute), false},
		{"another cadence", a, obIncident(func(in *Incident) { in.Impact = ImpactCritical }), c15, true},
		{"real time instead", a, obIncident(), rt, true},
		{"empty override keeps the cadence", a, obIncident(func(in *Incident) { in.Impact = ImpactMinor }), every(30 * time.Minute), true},
		{"no overrides", Audience{Cadence: every(time.Hour)}, obIncident(), every(time.Hour), true},
		{"conditional, not asked for", cond, obIncident(func(in *Incident) { in.Impact = ImpactCritical }), every(30 * time.Minute), false},
		{"conditional, asked for", cond, obIncident(obRegulated, func(in *Incident) { in.Impact = ImpactCritical }), c15, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.a.Effective(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Effective = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestIncidentClassified(t *testing.T) {
	in := obIncident()
	if got := in.Classified(); !got.Equal(obT0) {
		t.Errorf("Classified() without the flag's time = %v; want the declaration %v", got, obT0)
	}
	in.RegulatorsAt = obPtr(obAt(time.Hour))
	if got := in.Classified(); !got.Equal(obAt(time.Hour)) {
		t.Errorf("Classified() = %v; want when the flag was set %v", got, obAt(time.Hour))
	}
}

func TestObligationKey(t *testing.T) {
	ob := Obligation{IncidentID: "inc-1", Audience: "executives", Step: StepUpdate, Since: obT0, Due: obAt(30 * time.Minute), Action: DueHolding}
	if got, want := ob.Key(), "inc-1/executives/update/"+strconv.FormatInt(obAt(30*time.Minute).Unix(), 10); got != want {
		t.Errorf("Key() = %q; want %q", got, want)
	}
	// Stable: the same obligation computed again, in another zone or from a
	// different Since, has the same key.
	same := ob
	same.Since, same.Due, same.Action = obAt(time.Minute), ob.Due.In(time.FixedZone("SAST", 2*3600)), DueRemind
	if same.Key() != ob.Key() {
		t.Errorf("keys differ for the same obligation: %q, %q", same.Key(), ob.Key())
	}
	again := Obligations(obligationPlan(), obIncident(), []Communication{obTold("executives", 0)}, nil)
	if again[0].Key() != ob.Key() {
		t.Errorf("Obligations computed key %q; want %q", again[0].Key(), ob.Key())
	}
	// Distinct: each part changes the key.
	seen := map[string]string{ob.Key(): "original"}
	for name, edit := range map[string]func(o *Obligation){
		"incident": func(o *Obligation) { o.IncidentID = "inc-2" },
		"audience": func(o *Obligation) { o.Audience = "public" },
		"step":     func(o *Obligation) { o.Step = StepDeadline },
		"due":      func(o *Obligation) { o.Due = o.Due.Add(time.Second) },
	} {
		o := ob
		edit(&o)
		if prev, dup := seen[o.Key()]; dup {
			t.Errorf("changing the %s gives the key of %s: %q", name, prev, o.Key())
		}
		seen[o.Key()] = name
	}
	// A new message moves Due and so the key.
	moved := Obligations(obligationPlan(), obIncident(), []Communication{obTold("executives", 20*time.Minute)}, nil)
	if moved[0].Key() == ob.Key() {
		t.Errorf("a new message kept the key %q", ob.Key())
	}
}

func TestObligationDescribe(t *testing.T) {
	a := Audience{Name: "Regulators"}
	sast := time.FixedZone("SAST", 2*3600)
	due := time.Date(2025, 3, 14, 14, 30, 0, 0, time.UTC)
	tests := []struct {
		st   string
		loc  *time.Location
		want string
	}{
		{StepUpdate, time.UTC, "Regulators update due 14:30 UTC, 14 Mar"},
		{StepDeadline, time.UTC, "Regulators notification due 14:30 UTC, 14 Mar"},
		{StepInitial, time.UTC, "Regulators initial notification due 14:30 UTC, 14 Mar"},
		{StepIntermediate, time.UTC, "Regulators intermediate report due 14:30 UTC, 14 Mar"},
		{StepFinal, sast, "Regulators final report due 16:30 SAST, 14 Mar"},
	}
	for _, tt := range tests {
		t.Run(tt.st, func(t *testing.T) {
			if got := (Obligation{Step: tt.st, Due: due}).Describe(a, tt.loc); got != tt.want {
				t.Errorf("Describe = %q; want %q", got, tt.want)
			}
		})
	}
}

// obStep is a reminder reduced to what the tests compare: its kind, its time
// relative to due, whom it tells and its number.
type obStep struct {
	Kind ReminderKind
	At   time.Duration
	To   []IncidentRole
	N    int
}

func obSteps(ob Obligation, rs []Reminder) []obStep {
	var out []obStep
	for _, r := range rs {
		out = append(out, obStep{r.Kind, r.At.Sub(ob.Due), r.To, r.N})
	}
	return out
}

var (
	obCmdr     = []IncidentRole{SeatCommander}
	obEveryone = []IncidentRole{SeatCommander, SeatDeputy, SeatCommsLead}
)

// obPublicPolicy is the default plan's policy for the public page.
var obPublicPolicy = ReminderPolicy{Before: []time.Duration{5 * time.Minute}, Every: 5 * time.Minute,
	Whom: obEveryone, EscalateAfter: 5 * time.Minute, Channels: []Channel{ChannelSlack, ChannelSMS}}

func TestAudienceReminders(t *testing.T) {
	m := time.Minute
	due := obAt(30 * m)
	ob := func(action DueAction) Obligation {
		return Obligation{IncidentID: "inc-1", Audience: "a", Step: StepUpdate, Since: due.Add(-2 * time.Hour), Due: due, Action: action}
	}
	tests := []struct {
		name   string
		policy ReminderPolicy
		action DueAction
		until  time.Duration // after due
		want   []obStep
	}{
		{
			name: "no policy: the commander, at due", action: DueRemind,
			want: []obStep{{RemindDue, 0, obCmdr, 0}},
		},
		{
			name: "remind: before (in time order), due and repeats up to until", action: DueRemind,
			policy: ReminderPolicy{Before: []time.Duration{30 * m, 60 * m}, Every: 15 * m, Whom: obCmdr},
			until:  40 * m,
			want: []obStep{
				{RemindBefore, -60 * m, obCmdr, 1}, {RemindBefore, -30 * m, obCmdr, 0}, {RemindDue, 0, obCmdr, 0},
				{RemindOverdue, 15 * m, obCmdr, 1}, {RemindOverdue, 30 * m, obCmdr, 2},
			},
		},
		{
			name: "a repeat exactly at until is included", action: DueRemind,
			policy: ReminderPolicy{Every: 15 * m}, until: 30 * m,
			want: []obStep{{RemindDue, 0, obCmdr, 0}, {RemindOverdue, 15 * m, obCmdr, 1}, {RemindOverdue, 30 * m, obCmdr, 2}},
		},
		{
			name: "until before due: no repeats", action: DueRemind,
			policy: ReminderPolicy{Every: 15 * m}, until: -time.Hour,
			want: []obStep{{RemindDue, 0, obCmdr, 0}},
		},
		{
			name: "remind never escalates: only the first is told", action: DueRemind,
			policy: ReminderPolicy{Every: 10 * m, Whom: obEveryone, EscalateAfter: 5 * m}, until: 10 * m,
			want: []obStep{{RemindDue, 0, obCmdr, 0}, {RemindOverdue, 10 * m, obCmdr, 1}},
		},
		{
			name: "holding: the update itself at due, to no one, never repeated", action: DueHolding,
			policy: ReminderPolicy{Before: []time.Duration{5 * m}, Every: 5 * m, Whom: []IncidentRole{SeatDeputy, SeatCommander}, EscalateAfter: m},
			until:  time.Hour,
			want:   []obStep{{RemindBefore, -5 * m, []IncidentRole{SeatDeputy}, 0}, {RemindHolding, 0, nil, 0}},
		},
		{
			name: "escalate: the first at due, everyone after EscalateAfter", action: DueEscalate,
			policy: ReminderPolicy{Before: []time.Duration{5 * m}, Every: 5 * m, Whom: obEveryone, EscalateAfter: 12 * m},
			until:  20 * m,
			want: []obStep{
				{RemindBefore, -5 * m, obCmdr, 0}, {RemindDue, 0, obCmdr, 0},
				{RemindOverdue, 5 * m, obCmdr, 1}, {RemindOverdue, 10 * m, obCmdr, 2},
				{RemindEscalate, 12 * m, obEveryone, 0},
				{RemindOverdue, 15 * m, obEveryone, 3}, {RemindOverdue, 20 * m, obEveryone, 4},
			},
		},
		{
			name: "escalate at the time of a repeat: the escalation stands for it", action: DueEscalate,
			policy: obPublicPolicy, until: 15 * m,
			want: []obStep{
				{RemindBefore, -5 * m, obCmdr, 0}, {RemindDue, 0, obCmdr, 0},
				{RemindEscalate, 5 * m, obEveryone, 0},
				{RemindOverdue, 10 * m, obEveryone, 2}, {RemindOverdue, 15 * m, obEveryone, 3},
			},
		},
		{
			name: "escalate at due: after the due reminder", action: DueEscalate,
			policy: ReminderPolicy{Whom: []IncidentRole{SeatCommander, SeatScribe}}, until: time.Hour,
			want: []obStep{{RemindDue, 0, obCmdr, 0}, {RemindEscalate, 0, []IncidentRole{SeatCommander, SeatScribe}, 0}},
		},
		{
			name: "escalate with no one to escalate to: repeats to the first", action: DueEscalate,
			policy: ReminderPolicy{Every: 10 * m, Whom: []IncidentRole{SeatDeputy}, EscalateAfter: 5 * m}, until: 10 * m,
			want: []obStep{{RemindDue, 0, []IncidentRole{SeatDeputy}, 0}, {RemindOverdue, 10 * m, []IncidentRole{SeatDeputy}, 1}},
		},
	}
	t.Run("a reminder before the obligation began is dropped", func(t *testing.T) {
		// 29 minutes before due under a 15-minute cadence (an impact's
		// override) would fall before the last message.
		a := Audience{Key: "a", ReminderPolicy: ReminderPolicy{Before: []time.Duration{29 * m, 15 * m, 5 * m}}}
		o := Obligation{IncidentID: "inc-1", Audience: "a", Step: StepUpdate, Since: due.Add(-15 * m), Due: due, Action: DueRemind}
		want := []obStep{{RemindBefore, -5 * m, obCmdr, 2}, {RemindDue, 0, obCmdr, 0}}
		if diff := cmp.Diff(want, obSteps(o, a.Reminders(o, due))); diff != "" {
			t.Errorf("Reminders (-want +got):\n%s", diff)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Audience{Key: "a", ReminderPolicy: tt.policy}
			o := ob(tt.action)
			got := a.Reminders(o, due.Add(tt.until))
			if diff := cmp.Diff(tt.want, obSteps(o, got)); diff != "" {
				t.Errorf("Reminders (-want +got):\n%s", diff)
			}
			keys := map[string]bool{}
			for _, r := range got {
				if r.Obligation != o {
					t.Errorf("reminder %s carries obligation %+v; want %+v", r.Kind, r.Obligation, o)
				}
				if keys[r.Key()] {
					t.Errorf("key %q is used twice", r.Key())
				}
				keys[r.Key()] = true
			}
		})
	}

	t.Run("repeats are bounded without until", func(t *testing.T) {
		a := Audience{ReminderPolicy: ReminderPolicy{Every: time.Minute}}
		got := a.Reminders(ob(DueRemind), due.Add(1000*time.Hour))
		if len(got) != 1+maxOverdue {
			t.Errorf("%d reminders; want the due one and %d repeats", len(got), maxOverdue)
		}
	})

	t.Run("To is not shared between reminders", func(t *testing.T) {
		a := Audience{ReminderPolicy: obPublicPolicy}
		got := a.Reminders(ob(DueEscalate), due.Add(time.Hour))
		got[len(got)-1].To[0] = SeatScribe
		for _, r := range got[:len(got)-1] {
			if len(r.To) > 0 && r.To[0] == SeatScribe {
				t.Fatalf("editing one reminder's To changed the %s reminder", r.Kind)
			}
		}
		if a.ReminderPolicy.Whom[0] != SeatCommander {
			t.Fatal("editing a reminder's To changed the policy")
		}
	})
}

func TestReminderKey(t *testing.T) {
	ob := Obligation{IncidentID: "inc-1", Audience: "public", Step: StepUpdate, Due: obAt(15 * time.Minute)}
	r := Reminder{Obligation: ob, Kind: RemindOverdue, At: obAt(25 * time.Minute), N: 2}
	if got, want := r.Key(), ob.Key()+"/overdue/2"; got != want {
		t.Errorf("Key() = %q; want %q", got, want)
	}
	if got := r.Late(obAt(26 * time.Minute)); got != time.Minute {
		t.Errorf("Late = %v; want 1m", got)
	}
	// Keys are the same when the reminders are computed again later.
	a := Audience{ReminderPolicy: obPublicPolicy}
	first := a.Reminders(ob, obAt(time.Hour))
	later := a.Reminders(ob, obAt(2*time.Hour))
	for i := range first {
		if first[i].Key() != later[i].Key() {
			t.Errorf("reminder %d: key %q, then %q", i, first[i].Key(), later[i].Key())
		}
	}
}

func TestAudienceCurrent(t *testing.T) {
	m := time.Minute
	due := obAt(15 * m)
	ob := func(action DueAction) Obligation {
		return Obligation{IncidentID: "inc-1", Audience: "public", Step: StepUpdate, Since: obT0, Due: due, Action: action}
	}
	type cur struct {
		Kind ReminderKind
		At   time.Duration // after due
		N    int
	}
	none := time.Duration(-1 << 63)
	tests := []struct {
		name   string
		policy ReminderPolicy
		action DueAction
		now    time.Duration // after due
		want   *cur
		next   time.Duration // after due; none: no next step
	}{
		{"before the first step", obPublicPolicy, DueEscalate, -15 * m, nil, -5 * m},
		{"exactly at the first step", obPublicPolicy, DueEscalate, -5 * m, &cur{RemindBefore, -5 * m, 0}, 0},
		{"between steps", obPublicPolicy, DueEscalate, -2 * m, &cur{RemindBefore, -5 * m, 0}, 0},
		{"exactly at due", obPublicPolicy, DueEscalate, 0, &cur{RemindDue, 0, 0}, 5 * m},
		{"at the escalation", obPublicPolicy, DueEscalate, 5 * m, &cur{RemindEscalate, 5 * m, 0}, 10 * m},
		{"overdue", obPublicPolicy, DueEscalate, 12 * m, &cur{RemindOverdue, 10 * m, 2}, 15 * m},
		{"long after: the latest wins", obPublicPolicy, DueEscalate, 3*time.Hour + 2*m, &cur{RemindOverdue, 3 * time.Hour, 36}, 3*time.Hour + 5*m},
		{"missed steps are superseded", obPublicPolicy, DueEscalate, 4*m + 59*time.Second, &cur{RemindDue, 0, 0}, 5 * m},
		{"holding: nothing after it", ReminderPolicy{Before: []time.Duration{5 * m}, Every: 5 * m}, DueHolding, time.Hour,
			&cur{RemindHolding, 0, 0}, none},
		{"remind once: nothing after due", ReminderPolicy{}, DueRemind, time.Hour, &cur{RemindDue, 0, 0}, none},
		{"remind once: before due", ReminderPolicy{}, DueRemind, -time.Hour, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Audience{Key: "public", ReminderPolicy: tt.policy}
			o := ob(tt.action)
			r, next := a.Current(o, due.Add(tt.now))
			var got *cur
			if r != nil {
				got = &cur{r.Kind, r.At.Sub(due), r.N}
				if r.Obligation != o {
					t.Errorf("current reminder carries %+v; want %+v", r.Obligation, o)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Current (-want +got):\n%s", diff)
			}
			wantNext := time.Time{}
			if tt.next != none {
				wantNext = due.Add(tt.next)
			}
			if !next.Equal(wantNext) {
				t.Errorf("next = %v; want %v", next, wantNext)
			}
		})
	}

	t.Run("the same step at every wake until the next", func(t *testing.T) {
		a := Audience{ReminderPolicy: obPublicPolicy}
		o := ob(DueEscalate)
		first, _ := a.Current(o, due.Add(10*m))
		again, _ := a.Current(o, due.Add(14*m+59*time.Second))
		if first == nil || again == nil || first.Key() != again.Key() {
			t.Fatalf("Current at +10m and +14m59s = %v, %v; want the same reminder", first, again)
		}
		next, _ := a.Current(o, due.Add(15*m))
		if next.Key() == first.Key() {
			t.Errorf("Current at +15m has the key of +10m: %q", next.Key())
		}
	})
}

func TestPlanAudienceByKey(t *testing.T) {
	p := obligationPlan()
	if a, ok := p.AudienceByKey("public"); !ok || a.Name != "Partners and clients" {
		t.Errorf("AudienceByKey(public) = %q, %v", a.Name, ok)
	}
	if a, ok := p.AudienceByKey("nobody"); ok || a.Key != "" {
		t.Errorf("AudienceByKey(nobody) = %+v, %v; want nothing", a, ok)
	}
}
