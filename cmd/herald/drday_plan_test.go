package main

// The DR day's plan: config/default.yaml, Kredete's plan, with every clock
// of an incident divided by the same factor, written as a plan file that
// herald loads like any other (HERALD_CONFIG). Nothing in Herald knows
// the clock is accelerated.

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
)

// The plan's fields that hold an incident's clocks, as paths of mapping
// keys ("*": any element or key), by how their value is written. The
// exercise schedule (how often DR is tested) is not an incident's clock
// and keeps its values.
var (
	scaledDurations = []string{
		"objectives/rto", "objectives/rpo",
		"audiences/*/reminders/before/*", "audiences/*/reminders/every", "audiences/*/reminders/escalate_after",
		"audiences/*/regulatory/*",
		"failover/runbooks/*/estimated_time", "failover/runbooks/*/stages/*/estimated_time",
	}
	scaledCadences = []string{"audiences/*/cadence", "audiences/*/by_impact/*"}
	scaledWindows  = []string{"failover/regions/*/stages/*/window", "failover/runbooks/*/stages/*/window"}
)

// scalePlanYAML rewrites a plan file with every duration of an incident's
// clocks passed through scale: cadences ("every 30m", "within 4h"),
// reminders, the regulatory clock, the recovery objectives, the failover
// stages' windows and the runbooks' estimates. Every other value is kept,
// and so are the comments (whose durations are then the original's).
func scalePlanYAML(src []byte, scale func(time.Duration) time.Duration) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	var problems []string
	dur := func(s string) (string, bool) {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return "", false
		}
		return scale(d).String(), true
	}
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, at)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], strings.TrimPrefix(at+"/"+n.Content[i].Value, "/"))
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, at+"/*")
			}
		case yaml.ScalarNode:
			v, ok := n.Value, true
			switch {
			case matches(scaledDurations, at):
				v, ok = dur(n.Value)
			case matches(scaledCadences, at):
				kind, d, found := strings.Cut(strings.TrimSpace(n.Value), " ")
				if !found {
					return // real_time, off: no duration
				}
				d, ok = dur(d)
				v = kind + " " + d
			case matches(scaledWindows, at):
				from, to, found := strings.Cut(n.Value, "-")
				if from, ok = dur(from); ok && found {
					to, ok = dur(to)
				}
				v = from + "-" + to
			default:
				return
			}
			if !ok {
				problems = append(problems, fmt.Sprintf("line %d: %s: %q", n.Line, at, n.Value))
				return
			}
			n.Value, n.Style = v, 0
		}
	}
	walk(&doc, "")
	if len(problems) > 0 {
		return nil, fmt.Errorf("durations that could not be scaled: %s", strings.Join(problems, "; "))
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func matches(patterns []string, at string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, at); ok {
			return true
		}
	}
	return false
}

// planScale maps a plan duration to real time when one plan minute lasts
// minute (exact for whole milliseconds; 720h at 250 ms does not overflow).
func planScale(minute time.Duration) func(time.Duration) time.Duration {
	return func(d time.Duration) time.Duration { return d / time.Millisecond * minute / 60_000 }
}

// TestScalePlan: every clock of the default plan, as Herald reads it from
// the scaled file, is the original divided by the factor; nothing else
// changed.
func TestScalePlan(t *testing.T) {
	orig, err := config.ParsePlan(config.DefaultPlan, "default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scale := planScale(250 * time.Millisecond)
	b, err := scalePlanYAML(config.DefaultPlan, scale)
	if err != nil {
		t.Fatal(err)
	}
	got, err := config.ParsePlan(b, "scaled.yaml")
	if err != nil {
		t.Fatalf("the scaled plan does not load: %v\n%s", err, b)
	}
	want := orig
	want.Objectives.RTO, want.Objectives.RPO = scale(orig.Objectives.RTO), scale(orig.Objectives.RPO)
	want.Audiences = nil
	for _, a := range orig.Audiences {
		a.Cadence.Interval = scale(a.Cadence.Interval)
		rp := &a.ReminderPolicy
		var before []time.Duration
		for _, d := range rp.Before {
			before = append(before, scale(d))
		}
		rp.Before, rp.Every, rp.EscalateAfter = before, scale(rp.Every), scale(rp.EscalateAfter)
		if a.ByImpact != nil {
			m := map[herald.Impact]herald.ImpactOverride{}
			for k, o := range a.ByImpact {
				if o.Cadence != nil {
					c := *o.Cadence
					c.Interval = scale(c.Interval)
					o.Cadence = &c
				}
				m[k] = o
			}
			a.ByImpact = m
		}
		if a.Regulatory != nil {
			rc := *a.Regulatory
			rc.AfterClassification, rc.AfterAwareness = scale(rc.AfterClassification), scale(rc.AfterAwareness)
			rc.Intermediate, rc.Final = scale(rc.Intermediate), scale(rc.Final)
			a.Regulatory = &rc
		}
		want.Audiences = append(want.Audiences, a)
	}
	if diff := cmp.Diff(want.Audiences, got.Audiences); diff != "" {
		t.Errorf("audiences (-want +got):\n%s", diff)
	}
	if want.Objectives != got.Objectives {
		t.Errorf("objectives %+v, want %+v", got.Objectives, want.Objectives)
	}
	// The failover catalogue as incidents run it: each step's window.
	wantSteps := map[string][]herald.ProcedureStep{}
	for _, p := range orig.Procedures() {
		for _, st := range p.Steps {
			st.WindowStart, st.WindowEnd = scale(st.WindowStart), scale(st.WindowEnd)
			wantSteps[p.Name] = append(wantSteps[p.Name], st)
		}
	}
	gotSteps := map[string][]herald.ProcedureStep{}
	for _, p := range got.Procedures() {
		gotSteps[p.Name] = p.Steps
	}
	if diff := cmp.Diff(wantSteps, gotSteps); diff != "" {
		t.Errorf("failover steps (-want +got):\n%s", diff)
	}
	// Everything else as configured.
	got.Objectives, got.Audiences, got.Failover = want.Objectives, want.Audiences, orig.Failover
	want.Failover = orig.Failover
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the rest of the plan changed (-want +got):\n%s", diff)
	}
	// A value that is not a duration is refused with its line.
	if _, err := scalePlanYAML([]byte("audiences:\n  - cadence: every soon\n"), scale); err == nil ||
		!strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad cadence: %v, want an error naming line 2", err)
	}
}
