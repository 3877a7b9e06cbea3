package herald

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestFrequencyAfter(t *testing.T) {
	joburg, err := time.LoadLocation("Africa/Johannesburg")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    Frequency
		from time.Time
		want time.Time
	}{
		{"weekly", Frequency{Kind: FreqWeekly}, date(2026, 11, 18), date(2026, 11, 25)},
		{"weekly across a year end", Frequency{Kind: FreqWeekly}, date(2026, 12, 29), date(2027, 1, 5)},
		{"monthly", Frequency{Kind: FreqMonthly}, date(2026, 3, 1), date(2026, 4, 1)},
		{"monthly keeps the time of day", Frequency{Kind: FreqMonthly}, date(2026, 3, 15).Add(14*time.Hour + 30*time.Minute),
			date(2026, 4, 15).Add(14*time.Hour + 30*time.Minute)},
		{"monthly from 31 January is due on the last day of February", Frequency{Kind: FreqMonthly}, date(2026, 1, 31), date(2026, 2, 28)},
		{"monthly from 31 January in a leap year", Frequency{Kind: FreqMonthly}, date(2028, 1, 31), date(2028, 2, 29)},
		{"monthly from 31 March is due on 30 April", Frequency{Kind: FreqMonthly}, date(2026, 3, 31), date(2026, 4, 30)},
		{"monthly from 28 February is due on 28 March, not at the month end", Frequency{Kind: FreqMonthly}, date(2026, 2, 28), date(2026, 3, 28)},
		{"monthly across a year end", Frequency{Kind: FreqMonthly}, date(2026, 12, 31), date(2027, 1, 31)},
		{"quarterly", Frequency{Kind: FreqQuarterly}, date(2026, 1, 15), date(2026, 4, 15)},
		{"quarterly from 30 November lands on the last of February", Frequency{Kind: FreqQuarterly}, date(2026, 11, 30), date(2027, 2, 28)},
		{"quarterly from 30 November before a leap year", Frequency{Kind: FreqQuarterly}, date(2027, 11, 30), date(2028, 2, 29)},
		{"annually", Frequency{Kind: FreqAnnually}, date(2026, 1, 15), date(2027, 1, 15)},
		{"annually from 29 February", Frequency{Kind: FreqAnnually}, date(2024, 2, 29), date(2025, 2, 28)},
		{"annually from 28 February into a leap year", Frequency{Kind: FreqAnnually}, date(2027, 2, 28), date(2028, 2, 28)},
		{"every 36 hours", Frequency{Kind: FreqEvery, Interval: 36 * time.Hour}, date(2026, 2, 28), date(2026, 3, 1).Add(12 * time.Hour)},
		{"months in the page's zone", Frequency{Kind: FreqMonthly}, time.Date(2026, 1, 31, 23, 0, 0, 0, joburg),
			time.Date(2026, 2, 28, 23, 0, 0, 0, joburg)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.After(tt.from); !got.Equal(tt.want) {
				t.Errorf("%s after %s = %s; want %s", tt.f, tt.from, got, tt.want)
			}
		})
	}
}

func TestFrequencyString(t *testing.T) {
	for f, want := range map[Frequency]string{
		{Kind: FreqWeekly}: "Weekly", {Kind: FreqMonthly}: "Monthly", {Kind: FreqQuarterly}: "Quarterly",
		{Kind: FreqAnnually}: "Annually", {Kind: FreqEvery, Interval: 36 * time.Hour}: "Every 36 hours",
	} {
		if got := f.String(); got != want {
			t.Errorf("%+v = %q; want %q", f, got, want)
		}
	}
}

func TestNextDue(t *testing.T) {
	monthly := ExerciseSpec{Key: "failover-test", Name: "Failover Test", Frequency: Frequency{Kind: FreqMonthly}}
	now := date(2026, 11, 25).Add(10 * time.Hour)
	last := func(t time.Time) *time.Time { return &t }
	tests := []struct {
		name    string
		last    *time.Time
		want    Due
		overdue bool
	}{
		{"never run: due now, not overdue", nil, Due{At: now, NeverRun: true}, false},
		{"run last week: due next month", last(date(2026, 11, 18)), Due{At: date(2026, 12, 18)}, false},
		{"due at this very moment: not yet overdue", last(now.AddDate(0, -1, 0)), Due{At: now}, false},
		{"a second past due", last(now.AddDate(0, -1, 0).Add(-time.Second)), Due{At: now.Add(-time.Second)}, true},
		{"run in March: overdue since April", last(date(2026, 3, 15)), Due{At: date(2026, 4, 15)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextDue(monthly, tt.last, now)
			if !got.At.Equal(tt.want.At) || got.NeverRun != tt.want.NeverRun {
				t.Errorf("NextDue = %+v; want %+v", got, tt.want)
			}
			if o := got.Overdue(now); o != tt.overdue {
				t.Errorf("Overdue = %v; want %v", o, tt.overdue)
			}
		})
	}
}

// seedSchedule is the seed's testing schedule.
func seedSchedule() []ExerciseSpec {
	return []ExerciseSpec{
		{Key: "backup-verification", Name: "Backup Verification", Frequency: Frequency{Kind: FreqWeekly},
			Scope: "Restore and validate checksums", Duration: 2 * time.Hour},
		{Key: "failover-test", Name: "Failover Test", Frequency: Frequency{Kind: FreqMonthly},
			Scope: "Single component failover", Duration: 4 * time.Hour},
		{Key: "partial-dr", Name: "Partial DR", Frequency: Frequency{Kind: FreqQuarterly},
			Scope: "Database + API layer", Duration: 24 * time.Hour},
		{Key: "full-dr", Name: "Full DR Exercise", Frequency: Frequency{Kind: FreqAnnually},
			Scope: "Complete region failover", Duration: 48 * time.Hour},
	}
}

func TestExerciseBoard(t *testing.T) {
	pass, fail := true, false
	runs := []Exercise{
		{ID: "a", Kind: "full-dr", Name: "Full DR Exercise", RunAt: date(2026, 1, 15), Passed: &pass},
		{ID: "b", Kind: "failover-test", Name: "Database Failover", RunAt: date(2026, 3, 1), Passed: &pass},
		{ID: "c", Kind: "failover-test", Name: "AZ Evacuation", RunAt: date(2026, 3, 15), Passed: &pass},
		{ID: "d", Kind: "backup-verification", Name: "Backup Verification", RunAt: date(2026, 11, 23), Passed: &fail},
		{ID: "e", Kind: "retired-kind", Name: "Not on the schedule", RunAt: date(2026, 11, 24), Passed: &pass},
	}
	now := date(2026, 11, 25).Add(10 * time.Hour)
	rows := ExerciseBoard(seedSchedule(), runs, now, time.UTC)
	type row struct {
		Key         string
		Last        string
		Runs        int
		Due         time.Time
		NeverRun    bool
		Overdue     bool
		DaysOverdue int
		Warn        bool
	}
	var got []row
	for _, r := range rows {
		last := ""
		if r.Last != nil {
			last = r.Last.ID
		}
		got = append(got, row{r.Spec.Key, last, r.Runs, r.Due.At, r.Due.NeverRun, r.Overdue, r.DaysOverdue, r.Warn()})
	}
	want := []row{
		// A failed run is still the last run: the exercise took place.
		{"backup-verification", "d", 1, date(2026, 11, 30), false, false, 0, false},
		// The later of two runs counts; due 15 April, 224 days before now.
		{"failover-test", "c", 2, date(2026, 4, 15), false, true, 224, true},
		{"partial-dr", "", 0, now, true, false, 0, true},
		{"full-dr", "a", 1, date(2027, 1, 15), false, false, 0, false},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("board (-want +got):\n%s", d)
	}
}

func TestCheckExercise(t *testing.T) {
	plan := ExercisePlan{Schedule: seedSchedule()}
	now := date(2026, 11, 25).Add(10 * time.Hour)
	d := func(x time.Duration) *time.Duration { return &x }
	pass := true
	valid := func() Exercise {
		return Exercise{Kind: "failover-test", Name: " Database Failover ", RunAt: date(2026, 11, 25), RTO: d(8 * time.Minute),
			RPO: d(0), Passed: &pass, Notes: " Promoted the standby. "}
	}
	got, err := CheckExercise(plan, valid(), now)
	if err != nil {
		t.Fatalf("CheckExercise(valid): %v", err)
	}
	if got.Name != "Database Failover" || got.Notes != "Promoted the standby." {
		t.Errorf("CheckExercise kept name %q, notes %q; want them trimmed", got.Name, got.Notes)
	}
	noName := valid()
	noName.Name, noName.RTO, noName.RPO = "", nil, nil
	if got, err := CheckExercise(plan, noName, now); err != nil || got.Name != "Failover Test" {
		t.Errorf("CheckExercise without a name or figures = %q, %v; want the schedule's name and no error", got.Name, err)
	}
	tests := []struct {
		name   string
		edit   func(e *Exercise)
		field  string
		phrase string
	}{
		{"no kind", func(e *Exercise) { e.Kind = "" }, "kind", "choose the exercise"},
		{"unknown kind", func(e *Exercise) { e.Kind = "chaos-monkey" }, "kind", `"chaos-monkey" is not an exercise of the schedule`},
		{"no date", func(e *Exercise) { e.RunAt = time.Time{} }, "date", "is required"},
		{"in the future", func(e *Exercise) { e.RunAt = now.Add(time.Minute) }, "date", "in the future"},
		{"negative RTO", func(e *Exercise) { e.RTO = d(-time.Minute) }, "rto", "must not be negative"},
		{"negative RPO", func(e *Exercise) { e.RPO = d(-time.Second) }, "rpo", "must not be negative"},
		{"implausible RTO", func(e *Exercise) { e.RTO = d(1001 * 24 * time.Hour) }, "rto", "1,000 days"},
		{"pass or fail unsaid", func(e *Exercise) { e.Passed = nil }, "passed", "passed or failed"},
		{"name too long", func(e *Exercise) { e.Name = strings.Repeat("x", MaxNameLen+1) }, "name", "the limit is 200"},
		{"notes too long", func(e *Exercise) { e.Notes = strings.Repeat("é", MaxExerciseNotes+1) }, "notes", "the limit is 2000"},
		{"notes not UTF-8", func(e *Exercise) { e.Notes = "bad \xff" }, "notes", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.edit(&e)
			_, err := CheckExercise(plan, e, now)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckExercise = %v; want ErrInvalid", err)
			}
			var ves ValidationErrors
			if !errors.As(err, &ves) {
				t.Fatalf("error %T is not ValidationErrors", err)
			}
			if msg := ves.Fields()[tt.field]; !strings.Contains(msg, tt.phrase) {
				t.Errorf("%s: %q; want it to contain %q (all: %v)", tt.field, msg, tt.phrase, err)
			}
		})
	}
}

func TestExercisePlanValidate(t *testing.T) {
	pass := true
	withExercises := func(p *Plan) {
		p.Exercises = ExercisePlan{Schedule: seedSchedule(), Results: []ExerciseResult{
			{Key: "full-dr", Name: "Full DR Exercise", Date: date(2026, 1, 15), RTO: 2*time.Hour + 15*time.Minute,
				RPO: 12 * time.Minute, Passed: &pass},
			{Key: "failover-test", Name: "Database Failover", Date: date(2026, 3, 1), RTO: 8 * time.Minute, Passed: &pass},
		}}
	}
	p := validPlan()
	withExercises(&p)
	if err := p.Validate(); err != nil {
		t.Fatalf("valid plan with exercises: %v", err)
	}
	tests := []struct {
		name   string
		edit   func(p *Plan)
		field  string
		phrase string
	}{
		{"unknown frequency", func(p *Plan) { p.Exercises.Schedule[0].Frequency.Kind = "fortnightly" },
			"exercises.schedule[0].frequency", `"fortnightly" is not one of weekly, monthly, quarterly, annually, every <duration>`},
		{"every without an interval", func(p *Plan) { p.Exercises.Schedule[1].Frequency = Frequency{Kind: FreqEvery} },
			"exercises.schedule[1].frequency", "positive interval"},
		{"duplicate key", func(p *Plan) { p.Exercises.Schedule[2].Key = "backup-verification" },
			"exercises.schedule[2].key", `"backup-verification" is used twice`},
		{"bad key", func(p *Plan) { p.Exercises.Schedule[0].Key = "Backup Verification" },
			"exercises.schedule[0].key", "lower-case"},
		{"no name", func(p *Plan) { p.Exercises.Schedule[3].Name = " " }, "exercises.schedule[3].name", "must not be empty"},
		{"negative duration", func(p *Plan) { p.Exercises.Schedule[0].Duration = -time.Hour },
			"exercises.schedule[0].duration", "must not be negative"},
		{"result of an unknown exercise", func(p *Plan) { p.Exercises.Results[1].Key = "az-evacuation" },
			"exercises.results[1].key", `"az-evacuation" is not a key listed under exercises.schedule`},
		{"result without a date", func(p *Plan) { p.Exercises.Results[0].Date = time.Time{} },
			"exercises.results[0].date", "2026-01-15"},
		{"result without pass or fail", func(p *Plan) { p.Exercises.Results[0].Passed = nil },
			"exercises.results[0].passed", "true or false"},
		{"negative RPO", func(p *Plan) { p.Exercises.Results[1].RPO = -time.Minute },
			"exercises.results[1].rpo", "must not be negative"},
		{"the same result twice", func(p *Plan) {
			p.Exercises.Results = append(p.Exercises.Results, p.Exercises.Results[0])
		}, "exercises.results[2]", "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPlan()
			withExercises(&p)
			tt.edit(&p)
			err := p.Validate()
			var ves ValidationErrors
			if !errors.As(err, &ves) {
				t.Fatalf("Validate = %v; want ValidationErrors", err)
			}
			if msg, ok := ves.Fields()[tt.field]; !ok || !strings.Contains(msg, tt.phrase) {
				t.Errorf("%s: %q; want it to contain %q (all: %v)", tt.field, msg, tt.phrase, err)
			}
		})
	}
}

func TestMarkDrill(t *testing.T) {
	ds := []Delivery{
		{Channel: ChannelEmail, Subject: "[Kredete] API errors (Investigating)", Body: "We are looking."},
		{Channel: ChannelSMS, Subject: "[Kredete] API errors (Investigating)", Body: "We are looking."},
		{Channel: ChannelSMS, Kind: KindReminder, Body: "Public update due in 5 min."},
		{Channel: ChannelSlack, Kind: KindReply, Body: "Public update: fixed"},
		{Channel: ChannelSlack, Kind: KindEdit},
		{Channel: ChannelPagerDuty, Kind: KindPageTrigger, Body: `{"summary":"x"}`},
		{Channel: ChannelEmail, Subject: "[DRILL] already", Body: "[DRILL] marked"},
	}
	got := MarkDrill(ds)
	want := []Delivery{
		{Channel: ChannelEmail, Subject: "[DRILL] [Kredete] API errors (Investigating)", Body: "[DRILL] We are looking."},
		// An SMS reads "subject: text": marked once, at its start.
		{Channel: ChannelSMS, Subject: "[DRILL] [Kredete] API errors (Investigating)", Body: "We are looking."},
		{Channel: ChannelSMS, Kind: KindReminder, Body: "[DRILL] Public update due in 5 min."},
		{Channel: ChannelSlack, Kind: KindReply, Body: "[DRILL] Public update: fixed"},
		{Channel: ChannelSlack, Kind: KindEdit},
		{Channel: ChannelPagerDuty, Kind: KindPageTrigger, Body: `{"summary":"x"}`},
		{Channel: ChannelEmail, Subject: "[DRILL] already", Body: "[DRILL] marked"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("MarkDrill (-want +got):\n%s", d)
	}
	if ds[0].Subject != "[Kredete] API errors (Investigating)" {
		t.Error("MarkDrill changed its argument")
	}
}

// TestDrillNeverMovesComponents: a drill records its components as
// affected, and neither its declaration, its updates nor its resolution
// changes their status.
func TestDrillNeverMovesComponents(t *testing.T) {
	comps := testComponents()
	api := comps["api"]
	api.Status = PartialOutage // a real incident holds it
	comps["api"] = api
	spec := seedSchedule()[1]
	d := DrillDeclaration(spec, ImpactMajor, []string{"api", "portal"})
	if d.Name != "DR exercise: Failover Test" || !d.Drill {
		t.Fatalf("DrillDeclaration = %+v", d)
	}
	d.Components[1].Status = MajorOutage // even a status asked for is not applied
	in, err := Declare(d, comps, t0)
	if err != nil {
		t.Fatalf("Declare(drill): %v", err)
	}
	if !in.Drill || len(in.Updates[0].Changes) != 0 || !cmp.Equal(in.ComponentIDs, []string{"api", "portal"}) {
		t.Errorf("drill = drill %v, changes %v, components %v; want a drill with both components and no change",
			in.Drill, in.Updates[0].Changes, in.ComponentIDs)
	}
	up, err := in.Apply(UpdateInput{Status: Identified, Body: "Standby promoted.",
		Components: []ComponentTarget{{ComponentID: "admin", Status: DegradedPerformance}}}, comps, t0.Add(time.Minute))
	if err != nil || len(up.Changes) != 0 || !in.Affects("admin") {
		t.Errorf("update = %v changes, err %v, admin affected %v; want no change, admin recorded", up.Changes, err, in.Affects("admin"))
	}
	up, err = in.Apply(UpdateInput{Status: Resolved, Body: "Exercise over."}, comps, t0.Add(time.Hour))
	if err != nil || len(up.Changes) != 0 {
		t.Errorf("resolution = %v changes, err %v; want none (the real incident still holds the API)", up.Changes, err)
	}
	if got := statuses(comps); got["api"] != PartialOutage || got["portal"] != Operational || got["admin"] != Operational {
		t.Errorf("component statuses after the drill = %v", got)
	}
	rto, rpo := DrillRecovery(in)
	if rto == nil || *rto != time.Hour || rpo != nil {
		t.Errorf("DrillRecovery = %v, %v; want 1h and no RPO", rto, rpo)
	}
	restored := t0.Add(40 * time.Minute)
	loss := 5 * time.Minute
	in.RestoredAt, in.DataLoss = &restored, &loss
	if rto, rpo := DrillRecovery(in); *rto != 40*time.Minute || *rpo != 5*time.Minute {
		t.Errorf("DrillRecovery with a restore = %v, %v; want 40m, 5m", *rto, *rpo)
	}
	if spec2, ok := (ExercisePlan{Schedule: seedSchedule()}).SpecForDrill(in); !ok || spec2.Key != "failover-test" {
		t.Errorf("SpecForDrill = %v, %v", spec2.Key, ok)
	}

	_, err = Declare(Declaration{Kind: KindMaintenance, Name: "x", Body: "y", Drill: true,
		ScheduledFor: t0.Add(time.Hour), ScheduledUntil: t0.Add(2 * time.Hour)}, comps, t0)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "drill") {
		t.Errorf("a drill maintenance: %v; want refused naming drill", err)
	}
}
