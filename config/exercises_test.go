package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
)

// TestDefaultPlanExercises: the seed's testing schedule and its last three
// results, each mapped to the schedule entry it is a run of.
func TestDefaultPlanExercises(t *testing.T) {
	p, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	wantSchedule := []herald.ExerciseSpec{
		{Key: "backup-verification", Name: "Backup Verification", Frequency: herald.Frequency{Kind: herald.FreqWeekly},
			Scope: "Restore and validate checksums", Duration: 2 * time.Hour},
		{Key: "failover-test", Name: "Failover Test", Frequency: herald.Frequency{Kind: herald.FreqMonthly},
			Scope: "Single component failover", Duration: 4 * time.Hour},
		{Key: "partial-dr", Name: "Partial DR", Frequency: herald.Frequency{Kind: herald.FreqQuarterly},
			Scope: "Database + API layer", Duration: 24 * time.Hour},
		{Key: "full-dr", Name: "Full DR Exercise", Frequency: herald.Frequency{Kind: herald.FreqAnnually},
			Scope: "Complete region failover", Duration: 48 * time.Hour},
	}
	if d := cmp.Diff(wantSchedule, p.Exercises.Schedule); d != "" {
		t.Errorf("schedule (-want +got):\n%s", d)
	}
	pass := true
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	wantResults := []herald.ExerciseResult{
		{Key: "full-dr", Name: "Full DR Exercise", Date: day(time.January, 15), RTO: 2*time.Hour + 15*time.Minute,
			RPO: 12 * time.Minute, Passed: &pass},
		{Key: "failover-test", Name: "Database Failover", Date: day(time.March, 1), RTO: 8 * time.Minute, Passed: &pass},
		{Key: "failover-test", Name: "AZ Evacuation", Date: day(time.March, 15), RTO: 15 * time.Minute, Passed: &pass},
	}
	if d := cmp.Diff(wantResults, p.Exercises.Results); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
}

// exercisesBase is a small valid plan with an exercises: section; each bad
// file below changes one thing in it. Line numbers matter.
const exercisesBase = `page:
  name: Test
  time_zone: Africa/Johannesburg
objectives:
  rto: 4h
  rpo: 1h
  availability: 99.99%
components:
  - key: api
    name: API
exercises:
  schedule:
    - key: backup
      name: Backup Verification
      frequency: weekly
      duration: 2h
    - key: drill
      name: Failover drill
      frequency: every 36h
  results:
    - key: backup
      name: Backup Verification
      date: 2026-01-31
      rto: 1h
      rpo: 0s
      passed: false
`

func TestParsePlanExercises(t *testing.T) {
	p, err := config.ParsePlan([]byte(exercisesBase), "ex.yaml")
	if err != nil {
		t.Fatalf("ParsePlan: %v", err)
	}
	if f := p.Exercises.Schedule[1].Frequency; f != (herald.Frequency{Kind: herald.FreqEvery, Interval: 36 * time.Hour}) {
		t.Errorf("every 36h = %+v", f)
	}
	r := p.Exercises.Results[0]
	// The date is a day in the page's zone.
	if r.Date.Location().String() != "Africa/Johannesburg" || r.Date.Format("2006-01-02 15:04") != "2026-01-31 00:00" {
		t.Errorf("date = %s; want midnight 31 January in Africa/Johannesburg", r.Date)
	}
	if r.Passed == nil || *r.Passed || r.RPO != 0 || r.RTO != time.Hour {
		t.Errorf("result = %+v", r)
	}

	tests := []struct {
		name    string
		old     string
		new     string
		want    []string
		invalid bool
	}{
		{name: "annually", old: "frequency: weekly", new: "frequency: annually"},
		{
			name: "unknown frequency", old: "frequency: weekly", new: "frequency: fortnightly",
			want: []string{"line 15", "exercises.schedule[0].frequency", `"fortnightly"`, "weekly, monthly, quarterly, annually, every <duration>"},
		},
		{
			name: "every without a duration", old: "frequency: every 36h", new: "frequency: every",
			want: []string{"line 19", "exercises.schedule[1].frequency"},
		},
		{
			name: "bad date", old: "date: 2026-01-31", new: "date: 31/01/2026",
			want: []string{"line 23", "exercises.results[0].date", `"31/01/2026"`, "2026-01-15"},
		},
		{
			name: "impossible date", old: "date: 2026-01-31", new: "date: 2026-02-30",
			want: []string{"line 23", "exercises.results[0].date"},
		},
		{
			name: "bad duration", old: "duration: 2h", new: "duration: 1 day",
			want: []string{"line 16", "exercises.schedule[0].duration", `"1 day"`},
		},
		{
			name: "duplicate key", old: "    - key: drill\n", new: "    - key: backup\n",
			want: []string{"line 17", "exercises.schedule[1].key", `"backup" is used twice`}, invalid: true,
		},
		{
			name: "result of an unknown exercise", old: "  results:\n    - key: backup\n", new: "  results:\n    - key: az-evacuation\n",
			want: []string{"line 21", "exercises.results[0].key", `"az-evacuation" is not a key listed under exercises.schedule`}, invalid: true,
		},
		{
			name: "result without pass or fail", old: "      passed: false\n", new: "",
			want: []string{"exercises.results[0].passed", "true or false"}, invalid: true,
		},
		{
			name: "unknown field", old: "      rpo: 0s\n", new: "      rpo: 0s\n      status: pass\n",
			want: []string{"line 26", "exercises.results[0].status", `unknown field "status"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(exercisesBase, tt.old) {
				t.Fatalf("base has no %q", tt.old)
			}
			_, err := config.ParsePlan([]byte(strings.Replace(exercisesBase, tt.old, tt.new, 1)), "ex.yaml")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ParsePlan: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ParsePlan accepted the file; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err, w)
				}
			}
			if tt.invalid && !errors.Is(err, herald.ErrInvalid) {
				t.Errorf("error %v does not match herald.ErrInvalid", err)
			}
		})
	}
}
