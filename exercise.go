package herald

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// FrequencyKind says how often a DR exercise is due.
type FrequencyKind string

// The frequencies of the testing schedule.
const (
	FreqWeekly    FrequencyKind = "weekly"
	FreqMonthly   FrequencyKind = "monthly"
	FreqQuarterly FrequencyKind = "quarterly"
	FreqAnnually  FrequencyKind = "annually"
	FreqEvery     FrequencyKind = "every" // a fixed interval, e.g. every 36h
)

// FrequencyKinds lists the frequencies the plan accepts.
var FrequencyKinds = []FrequencyKind{FreqWeekly, FreqMonthly, FreqQuarterly, FreqAnnually, FreqEvery}

// Frequency is how often an exercise of the schedule is due.
type Frequency struct {
	Kind     FrequencyKind
	Interval time.Duration // FreqEvery only
}

// String reads like the seed's table: "Weekly", "Quarterly", "Every 36 hours".
func (f Frequency) String() string {
	switch f.Kind {
	case FreqWeekly:
		return "Weekly"
	case FreqMonthly:
		return "Monthly"
	case FreqQuarterly:
		return "Quarterly"
	case FreqAnnually:
		return "Annually"
	case FreqEvery:
		return "Every " + humanDuration(f.Interval)
	}
	return string(f.Kind)
}

// After is when an exercise run at t is next due. Weeks are seven calendar
// days; months, quarters and years are calendar months (AddDate), not 30
// days, in t's location. A run on a day the target month lacks (31 January,
// 29 February) is due on that month's last day, never spilling into the
// next month: a monthly test run on 31 January is due on 28 February.
func (f Frequency) After(t time.Time) time.Time {
	switch f.Kind {
	case FreqWeekly:
		return t.AddDate(0, 0, 7)
	case FreqMonthly:
		return addMonths(t, 1)
	case FreqQuarterly:
		return addMonths(t, 3)
	case FreqAnnually:
		return addMonths(t, 12)
	case FreqEvery:
		return t.Add(f.Interval)
	}
	return t
}

// addMonths adds calendar months, clamping to the end of a shorter month.
func addMonths(t time.Time, n int) time.Time {
	r := t.AddDate(0, n, 0)
	if r.Day() != t.Day() {
		// AddDate normalised 31 February into March: step back to the
		// last day of the month asked for.
		r = r.AddDate(0, 0, -r.Day())
	}
	return r
}

// ExerciseSpec is one row of the DR testing schedule.
type ExerciseSpec struct {
	Key       string // stable: runs are recorded against it
	Name      string
	Frequency Frequency
	Scope     string        // what the exercise covers, e.g. "Database + API layer"
	Duration  time.Duration // how long it is planned to take; 0: not stated
}

// ExerciseResult is a run the plan records, e.g. the seed's last results:
// seeded once into the exercise log.
type ExerciseResult struct {
	Key    string // the schedule entry it is a run of
	Name   string
	Date   time.Time // midnight of the day, in the page's zone
	RTO    time.Duration
	RPO    time.Duration
	Passed *bool // the plan must say; nil is refused
}

// SeedKey identifies a seeded result in the log, so seeding again (every
// start) adds nothing: one result per exercise and day.
func (r ExerciseResult) SeedKey() string { return r.Key + "/" + r.Date.Format(time.DateOnly) }

// Exercise is the run of a result as the log keeps it.
func (r ExerciseResult) Exercise() Exercise {
	rto, rpo := r.RTO, r.RPO
	return Exercise{Kind: r.Key, Name: r.Name, RunAt: r.Date, RTO: &rto, RPO: &rpo, Passed: r.Passed,
		RecordedBy: SeedActor, SeedKey: r.SeedKey()}
}

// SeedActor is the name seeded exercises are recorded under.
const SeedActor = "Herald (plan configuration)"

// ExercisePlan is the DR testing schedule and the results it starts with.
type ExercisePlan struct {
	Schedule []ExerciseSpec
	Results  []ExerciseResult
}

// Spec finds a schedule entry by key.
func (p ExercisePlan) Spec(key string) (ExerciseSpec, bool) {
	i := slices.IndexFunc(p.Schedule, func(s ExerciseSpec) bool { return s.Key == key })
	if i < 0 {
		return ExerciseSpec{}, false
	}
	return p.Schedule[i], true
}

// Exercise is one DR exercise run, as the log keeps it.
type Exercise struct {
	ID         string
	Kind       string // the key of its schedule entry
	Name       string
	RunAt      time.Time
	RTO, RPO   *time.Duration // achieved; nil: not measured
	Passed     *bool
	Notes      string
	IncidentID string // the drill incident it was run as, if any
	RecordedBy string
	SeedKey    string // set for a result seeded from the plan
	CreatedAt  time.Time
}

// MaxExerciseNotes bounds an exercise's notes.
const MaxExerciseNotes = 2000

// maxExerciseClock bounds RTO and RPO: a figure past it is a typing slip.
const maxExerciseClock = 1000 * 24 * time.Hour

// CheckExercise validates a run about to be recorded: its kind is a
// schedule entry, it has happened (dated no later than now), RTO and RPO
// are not negative, it passed or failed, and the name and notes fit. An
// empty name takes the schedule entry's. It returns the run as it is to be
// stored.
func CheckExercise(p ExercisePlan, e Exercise, now time.Time) (Exercise, error) {
	var errs ValidationErrors
	e.Kind, e.Name, e.Notes = strings.TrimSpace(e.Kind), strings.TrimSpace(e.Name), strings.TrimSpace(e.Notes)
	spec, ok := p.Spec(e.Kind)
	switch {
	case e.Kind == "":
		errs.Add("kind", "choose the exercise from the schedule")
	case !ok:
		keys := make([]string, len(p.Schedule))
		for i, s := range p.Schedule {
			keys[i] = s.Key
		}
		errs.Add("kind", fmt.Sprintf("%q is not an exercise of the schedule (one of %s)", e.Kind, strings.Join(keys, ", ")))
	}
	if e.Name == "" && ok {
		e.Name = spec.Name
	}
	switch n := utf8.RuneCountInString(e.Name); {
	case e.Name == "" && ok:
		errs.Add("name", "must not be empty")
	case n > MaxNameLen:
		errs.Add("name", fmt.Sprintf("is %d characters; the limit is %d", n, MaxNameLen))
	}
	switch {
	case e.RunAt.IsZero():
		errs.Add("date", "is required: the day the exercise ran")
	case e.RunAt.After(now):
		errs.Add("date", "is in the future: record an exercise once it has run")
	}
	for _, c := range []struct {
		field string
		d     *time.Duration
	}{{"rto", e.RTO}, {"rpo", e.RPO}} {
		switch {
		case c.d == nil:
		case *c.d < 0:
			errs.Add(c.field, "must not be negative")
		case *c.d > maxExerciseClock:
			errs.Add(c.field, "is longer than 1,000 days: check the figure")
		}
	}
	if e.Passed == nil {
		errs.Add("passed", "say whether the exercise passed or failed")
	}
	switch n := utf8.RuneCountInString(e.Notes); {
	case !utf8.ValidString(e.Notes):
		errs.Add("notes", "is not valid UTF-8")
	case n > MaxExerciseNotes:
		errs.Add("notes", fmt.Sprintf("is %d characters; the limit is %d", n, MaxExerciseNotes))
	}
	if err := errs.Err(); err != nil {
		return Exercise{}, err
	}
	return e, nil
}

// Due is when an exercise of the schedule is next due.
type Due struct {
	At       time.Time
	NeverRun bool // no run recorded: due now
}

// NextDue is when the exercise is next due: its last run plus its
// frequency, or now when it has never run.
func NextDue(s ExerciseSpec, lastRun *time.Time, now time.Time) Due {
	if lastRun == nil {
		return Due{At: now, NeverRun: true}
	}
	return Due{At: s.Frequency.After(*lastRun)}
}

// Overdue reports whether now is past the due time. An exercise never run
// is due now, not overdue: there is no date it missed.
func (d Due) Overdue(now time.Time) bool { return !d.NeverRun && now.After(d.At) }

// ExerciseRow is one row of the exercise board: a schedule entry with its
// last run and when it is next due.
type ExerciseRow struct {
	Spec        ExerciseSpec
	Last        *Exercise // the latest run of this kind, passed or failed
	Runs        int       // how many runs the log holds
	Due         Due
	Overdue     bool
	DaysOverdue int // whole days past due
}

// Warn reports whether the row needs attention: overdue, or never run.
func (r ExerciseRow) Warn() bool { return r.Overdue || r.Due.NeverRun }

// ExerciseBoard builds a row per schedule entry from the log. Any recorded
// run counts as the last one, failed runs too (the exercise took place; its
// result shows in the row). Calendar steps are taken in loc, the page's
// zone.
func ExerciseBoard(schedule []ExerciseSpec, runs []Exercise, now time.Time, loc *time.Location) []ExerciseRow {
	if loc == nil {
		loc = time.UTC
	}
	rows := make([]ExerciseRow, 0, len(schedule))
	for _, s := range schedule {
		row := ExerciseRow{Spec: s}
		for i := range runs {
			r := &runs[i]
			if r.Kind != s.Key {
				continue
			}
			row.Runs++
			if row.Last == nil || r.RunAt.After(row.Last.RunAt) {
				row.Last = r
			}
		}
		var last *time.Time
		if row.Last != nil {
			t := row.Last.RunAt.In(loc)
			last = &t
		}
		row.Due = NextDue(s, last, now)
		row.Overdue = row.Due.Overdue(now)
		if row.Overdue {
			row.DaysOverdue = int(now.Sub(row.Due.At) / (24 * time.Hour))
		}
		rows = append(rows, row)
	}
	return rows
}

// WithinObjective reports whether an achieved RTO or RPO met its target:
// the seed's objectives are strict ("< 4 hours", "< 1 hour").
func WithinObjective(achieved, target time.Duration) bool { return achieved < target }

// DrillMarker starts every message about a drill, so nobody who receives
// one mistakes the exercise for an outage.
const DrillMarker = "[DRILL]"

// MarkDrill prefixes the subject and text of every Slack, email and SMS
// delivery with DrillMarker (once). An SMS, sent as "subject: text", is
// marked once, at its start: its characters are counted. Other channels
// (PagerDuty, automation) carry machine payloads and are left alone; an
// edit of the Slack thread's parent has no text (the parent is rendered
// from the incident).
func MarkDrill(ds []Delivery) []Delivery {
	out := slices.Clone(ds)
	mark := func(s string) string {
		if s == "" || strings.HasPrefix(s, DrillMarker) {
			return s
		}
		return DrillMarker + " " + s
	}
	for i := range out {
		d := &out[i]
		switch d.Channel {
		case ChannelSlack, ChannelEmail:
			d.Subject, d.Body = mark(d.Subject), mark(d.Body)
		case ChannelSMS:
			if d.Subject != "" {
				d.Subject = mark(d.Subject)
			} else {
				d.Body = mark(d.Body)
			}
		}
	}
	return out
}

// DrillName is the title of the incident a scheduled exercise runs as.
func DrillName(s ExerciseSpec) string { return "DR exercise: " + s.Name }

// DrillDeclaration declares a scheduled exercise as a drill incident: the
// components are recorded as affected, with no status (a drill never moves
// the public page).
func DrillDeclaration(s ExerciseSpec, impact Impact, componentIDs []string) Declaration {
	d := Declaration{Kind: KindIncident, Name: DrillName(s), Impact: impact, Drill: true,
		Body: "Drill: " + s.Name + " (" + s.Scope + ") has started. This is an exercise: nothing is published on the status page."}
	if s.Scope == "" {
		d.Body = "Drill: " + s.Name + " has started. This is an exercise: nothing is published on the status page."
	}
	for _, id := range componentIDs {
		d.Components = append(d.Components, ComponentTarget{ComponentID: id})
	}
	return d
}

// SpecForDrill finds the schedule entry a drill incident was run for, by
// its title; false when the title names none.
func (p ExercisePlan) SpecForDrill(in Incident) (ExerciseSpec, bool) {
	for _, s := range p.Schedule {
		if in.Name == DrillName(s) {
			return s, true
		}
	}
	return ExerciseSpec{}, false
}

// DrillRecovery is what a resolved drill achieved: RTO from its declaration
// to the restore (or, without one, the resolution), RPO its recorded data
// loss (nil when none was entered).
func DrillRecovery(in Incident) (rto *time.Duration, rpo *time.Duration) {
	if d, state := in.RTO(time.Time{}); state != RTORunning && d >= 0 {
		rto = &d
	}
	if in.DataLoss != nil {
		d := *in.DataLoss
		rpo = &d
	}
	return rto, rpo
}

// checkExercises validates the plan's exercise schedule and results.
func checkExercises(errs *ValidationErrors, p ExercisePlan) {
	keys := map[string]bool{}
	for i, s := range p.Schedule {
		f := fmt.Sprintf("exercises.schedule[%d]", i)
		checkKey(errs, f+".key", s.Key, keys)
		if strings.TrimSpace(s.Name) == "" {
			errs.Add(f+".name", "must not be empty")
		}
		switch s.Frequency.Kind {
		case FreqWeekly, FreqMonthly, FreqQuarterly, FreqAnnually:
		case FreqEvery:
			if s.Frequency.Interval <= 0 {
				errs.Add(f+".frequency", "needs a positive interval, e.g. \"every 36h\"")
			}
		default:
			errs.Add(f+".frequency", fmt.Sprintf("%q is not one of weekly, monthly, quarterly, annually, every <duration>", s.Frequency.Kind))
		}
		if s.Duration < 0 {
			errs.Add(f+".duration", "must not be negative")
		}
	}
	seen := map[string]bool{}
	for i, r := range p.Results {
		f := fmt.Sprintf("exercises.results[%d]", i)
		if !keys[r.Key] {
			errs.Add(f+".key", fmt.Sprintf("%q is not a key listed under exercises.schedule", r.Key))
		}
		if strings.TrimSpace(r.Name) == "" {
			errs.Add(f+".name", "must not be empty")
		}
		if r.Date.IsZero() {
			errs.Add(f+".date", "must be a date such as 2026-01-15")
		}
		if r.RTO < 0 {
			errs.Add(f+".rto", "must not be negative")
		}
		if r.RPO < 0 {
			errs.Add(f+".rpo", "must not be negative")
		}
		if r.Passed == nil {
			errs.Add(f+".passed", "must be true or false")
		}
		if !r.Date.IsZero() {
			if seen[r.SeedKey()] {
				errs.Add(f, fmt.Sprintf("a result of %q on %s is listed twice", r.Key, r.Date.Format(time.DateOnly)))
			}
			seen[r.SeedKey()] = true
		}
	}
}
