package config

import (
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kredete/herald"
)

// exercises mirrors the plan's exercises: section, the DR testing schedule
// and the results seeded into the exercise log.
type exercises struct {
	Schedule []struct {
		Key       string    `yaml:"key"`
		Name      string    `yaml:"name"`
		Frequency frequency `yaml:"frequency"`
		Scope     string    `yaml:"scope"`
		Duration  duration  `yaml:"duration"`
	} `yaml:"schedule"`
	Results []struct {
		Key    string   `yaml:"key"`
		Name   string   `yaml:"name"`
		Date   dateOnly `yaml:"date"`
		RTO    duration `yaml:"rto"`
		RPO    duration `yaml:"rpo"`
		Passed *bool    `yaml:"passed"`
	} `yaml:"results"`
}

func (e exercises) plan() herald.ExercisePlan {
	var p herald.ExercisePlan
	for _, s := range e.Schedule {
		p.Schedule = append(p.Schedule, herald.ExerciseSpec{Key: s.Key, Name: strings.TrimSpace(s.Name),
			Frequency: herald.Frequency(s.Frequency), Scope: strings.TrimSpace(s.Scope), Duration: time.Duration(s.Duration)})
	}
	for _, r := range e.Results {
		p.Results = append(p.Results, herald.ExerciseResult{Key: r.Key, Name: strings.TrimSpace(r.Name),
			Date: time.Time(r.Date), RTO: time.Duration(r.RTO), RPO: time.Duration(r.RPO), Passed: r.Passed})
	}
	return p
}

// localResults moves each result's date to midnight in the page's zone:
// the file holds calendar days, and the schedule counts in that zone.
func localResults(rs []herald.ExerciseResult, loc *time.Location) {
	for i := range rs {
		if d := rs[i].Date; !d.IsZero() {
			rs[i].Date = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
		}
	}
}

// frequency reads weekly, monthly, quarterly, annually or every <duration>.
type frequency herald.Frequency

func (f *frequency) UnmarshalYAML(n *yaml.Node) error {
	fields := strings.Fields(strings.ToLower(n.Value))
	bad := badValue(n, "%q is not one of: weekly, monthly, quarterly, annually, every <duration>", n.Value)
	switch {
	case len(fields) == 1:
		switch k := herald.FrequencyKind(fields[0]); k {
		case herald.FreqWeekly, herald.FreqMonthly, herald.FreqQuarterly, herald.FreqAnnually:
			*f = frequency{Kind: k}
			return nil
		}
	case len(fields) == 2 && fields[0] == "every":
		d, err := time.ParseDuration(fields[1])
		if err != nil || d <= 0 {
			return bad
		}
		*f = frequency{Kind: herald.FreqEvery, Interval: d}
		return nil
	}
	return bad
}

// dateOnly reads a calendar day, 2026-01-15 (UTC midnight until the page's
// zone is known; see localResults).
type dateOnly time.Time

func (d *dateOnly) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(n.Value))
	if err != nil {
		return badValue(n, "%q is not a date (write 2026-01-15)", n.Value)
	}
	*d = dateOnly(t)
	return nil
}
