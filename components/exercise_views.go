package components

import (
	"fmt"
	"time"

	"github.com/a-h/templ"

	"github.com/kredete/herald"
)

// ExercisesView is the DR exercises page: the testing schedule with what
// is due, the log of runs, and the forms to record a run and to run an
// exercise as a drill.
type ExercisesView struct {
	Console    Console
	Objectives herald.Objectives
	Rows       []herald.ExerciseRow
	Log        []ExerciseLogRow
	Schedule   []herald.ExerciseSpec
	Components []herald.Component
	Now        time.Time
	// Form is the record form as typed (kept on an error), Errors its
	// problems by field.
	Form   ExerciseForm
	Errors map[string]string
	// Drill is the run-as-drill form of the row DrillKey as typed, when it
	// was refused; DrillErrors its problems.
	DrillKey    string
	Drill       DrillForm
	DrillErrors map[string]string
}

// ExerciseLogRow is one run in the log.
type ExerciseLogRow struct {
	Exercise herald.Exercise
	Kind     string // the schedule entry's name, or its key when the plan dropped it
}

// ExerciseForm holds what was typed into the record form.
type ExerciseForm struct {
	Kind, Name, Date, RTO, RPO, Passed, Notes string
	// IncidentID links the run to the drill it was run as; IncidentName
	// says which.
	IncidentID, IncidentName string
}

// DrillForm holds what was typed into a run-as-drill form.
type DrillForm struct {
	Impact     string
	Components map[string]bool
}

// DrillPanel is the exercise part of a drill incident's page: the run once
// recorded, else (when the drill is resolved) the form to record it,
// prefilled from the drill.
type DrillPanel struct {
	Recorded  *herald.Exercise
	CanRecord bool // resolved and not yet recorded
	Form      ExerciseForm
	Schedule  []herald.ExerciseSpec
}

// exerciseState says in words where a schedule entry stands.
func exerciseState(r herald.ExerciseRow, now time.Time) string {
	switch {
	case r.Due.NeverRun:
		return "Due now: never run"
	case r.Overdue && r.DaysOverdue == 0:
		return "Overdue (by less than a day)"
	case r.Overdue:
		return fmt.Sprintf("Overdue by %d day%s", r.DaysOverdue, plural(r.DaysOverdue))
	}
	days := int(r.Due.At.Sub(now) / (24 * time.Hour))
	if days == 0 {
		return "Due within a day"
	}
	return fmt.Sprintf("Due in %d day%s", days, plural(days))
}

func exerciseRowClass(r herald.ExerciseRow) string {
	switch {
	case r.Overdue:
		return "exercise exercise-overdue"
	case r.Due.NeverRun:
		return "exercise exercise-due"
	}
	return "exercise exercise-ok"
}

// exerciseWarning is the incident list's line about an exercise.
func exerciseWarning(r herald.ExerciseRow, loc *time.Location) string {
	if r.Due.NeverRun {
		return r.Spec.Name + " (" + r.Spec.Frequency.String() + ") has never been run: it is due now."
	}
	by := "by less than a day"
	if r.DaysOverdue > 0 {
		by = fmt.Sprintf("by %d day%s", r.DaysOverdue, plural(r.DaysOverdue))
	}
	return fmt.Sprintf("%s (%s) is overdue %s: it was due %s.", r.Spec.Name, r.Spec.Frequency.String(), by,
		formatTime(r.Due.At, loc))
}

// planDuration is a planned length as the seed writes it: "2 hours", "1 day".
func planDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "not stated"
	case d%(24*time.Hour) == 0:
		n := int(d / (24 * time.Hour))
		return fmt.Sprintf("%d day%s", n, plural(n))
	case d%time.Hour == 0:
		n := int(d / time.Hour)
		return fmt.Sprintf("%d hour%s", n, plural(n))
	}
	return herald.RoundDuration(d)
}

func runDate(t time.Time, loc *time.Location) string { return t.In(loc).Format("2 Jan 2006") }

func lastRunText(r herald.ExerciseRow, loc *time.Location) string {
	if r.Last == nil {
		return "Never"
	}
	return runDate(r.Last.RunAt, loc) + " (" + verdictText(r.Last.Passed) + ")"
}

func verdictText(p *bool) string {
	switch {
	case p == nil:
		return "not recorded"
	case *p:
		return "pass"
	}
	return "fail"
}

func verdictLabel(p *bool) string {
	switch {
	case p == nil:
		return "Not recorded"
	case *p:
		return "Pass"
	}
	return "Fail"
}

func verdictCSS(p *bool) string {
	switch {
	case p == nil:
		return "verdict verdict-other"
	case *p:
		return "verdict verdict-met"
	}
	return "verdict verdict-missed"
}

// achievedText is an RTO or RPO achieved against its objective, in words.
func achievedText(d *time.Duration, target time.Duration) string {
	if d == nil {
		return "Not measured"
	}
	return herald.RoundDuration(*d)
}

func objectiveText(d *time.Duration, target time.Duration) string {
	if d == nil {
		return ""
	}
	if herald.WithinObjective(*d, target) {
		return "within the " + herald.RoundDuration(target) + " objective"
	}
	return "misses the " + herald.RoundDuration(target) + " objective"
}

func objectiveMissed(d *time.Duration, target time.Duration) bool {
	return d != nil && !herald.WithinObjective(*d, target)
}

// exErrAttrs ties a field of an exercise form (its id prefixed) to its
// error, as errAttrs does.
func exErrAttrs(errs map[string]string, prefix, field string) templ.Attributes {
	if !hasErr(errs, field) {
		return nil
	}
	return templ.Attributes{"aria-describedby": errID(prefix + field), "aria-invalid": "true"}
}

func drillFormURL(key string) string { return "/console/exercises/" + key + "/drill" }

func drillComponentChecked(v ExercisesView, key, id string) bool {
	return v.DrillKey == key && v.Drill.Components[id]
}

func drillImpact(v ExercisesView, key string) string {
	if v.DrillKey == key && v.Drill.Impact != "" {
		return v.Drill.Impact
	}
	return string(herald.ImpactMajor)
}

func drillErrs(v ExercisesView, key string) map[string]string {
	if v.DrillKey == key {
		return v.DrillErrors
	}
	return nil
}

func exerciseLabel(r herald.ExerciseRow) string {
	if r.Overdue {
		return "overdue"
	}
	return "never run"
}
