package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// TestRegulators is the regulator reports' part of the conformance suite:
// every case runs on SQLite and on PostgreSQL, each on a fresh database.
func TestRegulators(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, dialect string)
	}{
		{"RecordRegulatorReport", testRecordRegulatorReport},
		{"RefusedRegulatorReports", testRefusedRegulatorReports},
		{"IncidentsOwed", testIncidentsOwed},
	}
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, d) })
			}
		})
	}
}

// regulatorPlan is the default plan: regulators with DORA's clock (initial
// within 4h of classification, intermediate 72h after, final 720h after).
func regulatorPlan(t *testing.T) herald.Plan {
	t.Helper()
	p, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := p.RegulatorAudience(); !ok || a.Regulatory == nil || a.Regulatory.Intermediate != 72*time.Hour {
		t.Fatalf("the default plan's regulator audience is %+v", a)
	}
	return p
}

func declareAt(t *testing.T, s *store.Store, clk *clock, at time.Time, name string, regulators bool) herald.Incident {
	t.Helper()
	clk.Set(at)
	in, err := s.Declare(t.Context(), herald.Declaration{Name: name, Body: "b", Impact: herald.ImpactMajor,
		NotifyRegulators: regulators}, "alice")
	if err != nil {
		t.Fatalf("Declare %s: %v", name, err)
	}
	return in
}

func reports(t *testing.T, s *store.Store, ids ...string) []herald.RegulatorReport {
	t.Helper()
	rs, err := s.RegulatorReports(t.Context(), ids)
	if err != nil {
		t.Fatalf("RegulatorReports: %v", err)
	}
	return rs
}

func reportIDs(rs []herald.RegulatorReport) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func testRecordRegulatorReport(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	plan := regulatorPlan(t)

	a := declareAt(t, s, clk, base.Add(time.Hour), "Payments failing", true)
	c := declareAt(t, s, clk, base.Add(2*time.Hour), "Cards failing", true)
	b := declareAt(t, s, clk, base.Add(3*time.Hour), "Not for regulators", false)

	// The initial notification, in time (due 4h after the declaration).
	now := clk.Set(base.Add(4 * time.Hour))
	v := version(t, s)
	call := herald.RegulatorReport{IncidentID: a.ID, Step: herald.StepInitial, CalledBy: "Ada Obi",
		Whom: "Central Bank, J. Obi", At: base.Add(3*time.Hour + 30*time.Minute), Reference: "CBN-1", Notes: "Read the notice."}
	initial, err := s.RecordRegulatorReport(ctx, call, plan, "Ada Obi")
	if err != nil {
		t.Fatalf("RecordRegulatorReport: %v", err)
	}
	want := call
	want.ID, want.RecordedBy, want.CreatedAt, want.At = initial.ID, "Ada Obi", now, us(call.At)
	if len(initial.ID) != 12 {
		t.Errorf("report id %q; want 12 characters", initial.ID)
	}
	if diff := gocmp.Diff(want, initial); diff != "" {
		t.Errorf("returned report (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]herald.RegulatorReport{initial}, reports(t, s, a.ID)); diff != "" {
		t.Errorf("stored reports differ from the one returned (-returned +stored):\n%s", diff)
	}
	if got := version(t, s); got != v+1 {
		t.Errorf("version %d after recording; want %d", got, v+1)
	}
	tl, err := s.Timeline(ctx, a.ID, "regulator")
	if err != nil {
		t.Fatal(err)
	}
	wantTL := []herald.TimelineEvent{{Kind: "regulator", Actor: "Ada Obi", At: now,
		Summary: "Regulator initial notification made by Ada Obi to Central Bank, J. Obi, reference CBN-1"}}
	if diff := gocmp.Diff(wantTL, tl); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	audit, err := s.Audit(ctx, a.ID, 1)
	if err != nil || len(audit) != 1 {
		t.Fatalf("Audit: %v, %d entries", err, len(audit))
	}
	if e := audit[0]; e.Actor != "Ada Obi" || e.Action != "regulator.report" || e.Entity != "regulator_report" ||
		e.EntityID != initial.ID || e.IncidentID != a.ID || !e.At.Equal(now) || e.Before != "" ||
		!strings.Contains(e.After, `"reference":"CBN-1"`) || !strings.Contains(e.After, `"step":"initial"`) {
		t.Errorf("audit entry %+v", e)
	}

	// The intermediate report, 90 minutes late (due 72h after the initial
	// notification's time), without a reference.
	late := us(call.At).Add(72*time.Hour + 90*time.Minute)
	clk.Set(late.Add(10 * time.Minute))
	inter, err := s.RecordRegulatorReport(ctx, herald.RegulatorReport{IncidentID: a.ID, Step: herald.StepIntermediate,
		CalledBy: "Ada Obi", Whom: "Central Bank", At: late}, plan, "Bea Ncube")
	if err != nil {
		t.Fatalf("RecordRegulatorReport intermediate: %v", err)
	}
	if inter.RecordedBy != "Bea Ncube" || inter.Step != herald.StepIntermediate {
		t.Errorf("intermediate report %+v", inter)
	}
	tl, err = s.Timeline(ctx, a.ID, "regulator")
	if err != nil || len(tl) != 2 {
		t.Fatalf("timeline: %v, %+v", err, tl)
	}
	if got, want := tl[0].Summary, "Regulator intermediate report made by Ada Obi to Central Bank (deadline missed by 1 h 30 min)"; got != want {
		t.Errorf("the late call's timeline entry %q; want %q", got, want)
	}
	if strings.Contains(tl[1].Summary, "deadline missed") {
		t.Errorf("the call in time says %q", tl[1].Summary)
	}

	// Another incident's call, recorded last but made between the two:
	// listed in time order, and only for the incidents asked.
	clk.Set(late.Add(20 * time.Minute))
	other, err := s.RecordRegulatorReport(ctx, herald.RegulatorReport{IncidentID: c.ID, CalledBy: "Chi Eze", Whom: "Central Bank",
		At: base.Add(5 * time.Hour)}, plan, "Chi Eze")
	if err != nil {
		t.Fatalf("RecordRegulatorReport for %s: %v", c.Name, err)
	}
	// A call recorded without a step is for the step owed.
	if other.Step != herald.StepInitial {
		t.Errorf("a call recorded without a step has step %q; want %q", other.Step, herald.StepInitial)
	}
	if rs := reports(t, s, c.ID); len(rs) != 1 || rs[0].Step != herald.StepInitial {
		t.Errorf("a call recorded without a step is stored as %+v; want step %q", rs, herald.StepInitial)
	}
	if got, want := reportIDs(reports(t, s, a.ID, c.ID, b.ID)), []string{initial.ID, other.ID, inter.ID}; !slices.Equal(got, want) {
		t.Errorf("reports of both incidents %q; want in time order %q", got, want)
	}
	if got, want := reportIDs(reports(t, s, a.ID)), []string{initial.ID, inter.ID}; !slices.Equal(got, want) {
		t.Errorf("reports of %s %q; want %q", a.Name, got, want)
	}
	if got := reports(t, s, b.ID); len(got) != 0 {
		t.Errorf("an incident without calls lists %+v", got)
	}
	if got := reports(t, s); got != nil {
		t.Errorf("no incidents asked: %+v", got)
	}
	if got := reports(t, s, "nosuchincide"); len(got) != 0 {
		t.Errorf("an unknown incident lists %+v", got)
	}
}

// regulatorSnapshot is everything a refused report must leave alone.
type regulatorSnapshot struct {
	Reports   []herald.RegulatorReport
	Timelines [][]herald.TimelineEvent
	Audit     []herald.AuditEntry
	Version   int64
}

func takeRegulatorSnapshot(t *testing.T, s *store.Store, ids ...string) regulatorSnapshot {
	t.Helper()
	var sn regulatorSnapshot
	sn.Reports = reports(t, s, ids...)
	for _, id := range ids {
		tl, err := s.Timeline(t.Context(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		sn.Timelines = append(sn.Timelines, tl)
	}
	var err error
	if sn.Audit, err = s.Audit(t.Context(), "", 1000); err != nil {
		t.Fatal(err)
	}
	sn.Version = version(t, s)
	return sn
}

func testRefusedRegulatorReports(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	plan := regulatorPlan(t)
	flagged := declareAt(t, s, clk, base.Add(time.Hour), "Payments failing", true)
	plain := declareAt(t, s, clk, base.Add(2*time.Hour), "Not for regulators", false)
	now := clk.Set(base.Add(3 * time.Hour))
	before := takeRegulatorSnapshot(t, s, flagged.ID, plain.ID)

	valid := herald.RegulatorReport{IncidentID: flagged.ID, Step: herald.StepInitial, CalledBy: "Ada Obi", Whom: "Central Bank",
		At: now.Add(-time.Minute)}
	edit := func(f func(r *herald.RegulatorReport)) herald.RegulatorReport {
		r := valid
		f(&r)
		return r
	}
	noRegulators := plan
	noRegulators.Audiences = slices.DeleteFunc(slices.Clone(plan.Audiences), func(a herald.Audience) bool {
		return a.Regulatory != nil || (a.Conditional && a.Cadence.Kind == herald.Deadline)
	})
	if _, ok := noRegulators.RegulatorAudience(); ok {
		t.Fatal("the edited plan still has a regulator audience")
	}
	tests := []struct {
		name  string
		r     herald.RegulatorReport
		plan  herald.Plan
		want  error
		field string
	}{
		{"an incident not flagged", edit(func(r *herald.RegulatorReport) { r.IncidentID = plain.ID }), plan, herald.ErrInvalid, "step"},
		{"the wrong step", edit(func(r *herald.RegulatorReport) { r.Step = herald.StepIntermediate }), plan, herald.ErrInvalid, "step"},
		{"nobody called", edit(func(r *herald.RegulatorReport) { r.CalledBy = " " }), plan, herald.ErrInvalid, "called_by"},
		{"nobody reached", edit(func(r *herald.RegulatorReport) { r.Whom = "" }), plan, herald.ErrInvalid, "whom"},
		{"no time", edit(func(r *herald.RegulatorReport) { r.At = time.Time{} }), plan, herald.ErrInvalid, "at"},
		{"in the future", edit(func(r *herald.RegulatorReport) { r.At = now.Add(6 * time.Minute) }), plan, herald.ErrInvalid, "at"},
		{"before the incident", edit(func(r *herald.RegulatorReport) { r.At = base }), plan, herald.ErrInvalid, "at"},
		{"a reference too long", edit(func(r *herald.RegulatorReport) { r.Reference = strings.Repeat("x", 201) }), plan,
			herald.ErrInvalid, "reference"},
		{"a plan without regulators", valid, noRegulators, herald.ErrInvalid, "step"},
		{"an unknown incident", edit(func(r *herald.RegulatorReport) { r.IncidentID = "nosuchincide" }), plan, herald.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RecordRegulatorReport(ctx, tt.r, tt.plan, "mallory")
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v; want %v", err, tt.want)
			}
			if tt.field != "" {
				var ve *herald.ValidationError
				var list herald.ValidationErrors
				switch {
				case errors.As(err, &list):
					if _, ok := list.Fields()[tt.field]; !ok {
						t.Errorf("error %v does not name %s", err, tt.field)
					}
				case errors.As(err, &ve):
					if ve.Field != tt.field {
						t.Errorf("error %v names %s; want %s", err, ve.Field, tt.field)
					}
				default:
					t.Errorf("error %v names no field", err)
				}
			}
			if got != (herald.RegulatorReport{}) {
				t.Errorf("a refused report returned %+v", got)
			}
			if diff := gocmp.Diff(before, takeRegulatorSnapshot(t, s, flagged.ID, plain.ID)); diff != "" {
				t.Errorf("a refused report changed the store (-before +after):\n%s", diff)
			}
		})
	}

	// The valid call goes in; the same step twice is refused.
	if _, err := s.RecordRegulatorReport(ctx, valid, plan, "Ada Obi"); err != nil {
		t.Fatalf("the valid call: %v", err)
	}
	again := takeRegulatorSnapshot(t, s, flagged.ID, plain.ID)
	if _, err := s.RecordRegulatorReport(ctx, valid, plan, "Ada Obi"); !errors.Is(err, herald.ErrInvalid) {
		t.Errorf("the initial notification recorded twice: %v; want ErrInvalid", err)
	}
	if diff := gocmp.Diff(again, takeRegulatorSnapshot(t, s, flagged.ID, plain.ID)); diff != "" {
		t.Errorf("a second initial notification changed the store (-before +after):\n%s", diff)
	}
}

func testIncidentsOwed(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	day := 24 * time.Hour
	now := base.Add(100 * day)
	windowStart := now.Add(-60 * day)

	resolve := func(in herald.Incident, at time.Time) {
		t.Helper()
		clk.Set(at)
		if _, err := s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "fixed"}, "alice"); err != nil {
			t.Fatalf("resolve %s: %v", in.Name, err)
		}
	}
	open1 := declareAt(t, s, clk, base, "open", false)
	open2 := declareAt(t, s, clk, base.Add(time.Hour), "open, for regulators", true)
	clk.Set(base.Add(2 * time.Hour))
	maint, err := s.Declare(ctx, herald.Declaration{Kind: herald.KindMaintenance, Name: "maintenance", Body: "b",
		ScheduledFor: now.Add(day), ScheduledUntil: now.Add(day + time.Hour)}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	recent := declareAt(t, s, clk, base.Add(3*time.Hour), "resolved for regulators 50 days ago", true)
	resolve(recent, now.Add(-50*day))
	justIn := declareAt(t, s, clk, base.Add(4*time.Hour), "resolved for regulators just inside 60 days", true)
	resolve(justIn, windowStart.Add(time.Second))
	edge := declareAt(t, s, clk, base.Add(5*time.Hour), "resolved for regulators exactly 60 days ago", true)
	resolve(edge, windowStart)
	old := declareAt(t, s, clk, base.Add(6*time.Hour), "resolved for regulators 70 days ago", true)
	resolve(old, now.Add(-70*day))
	plain := declareAt(t, s, clk, base.Add(7*time.Hour), "resolved yesterday, not for regulators", false)
	resolve(plain, now.Add(-day))
	reopened := declareAt(t, s, clk, base.Add(8*time.Hour), "resolved long ago and reopened", false)
	resolve(reopened, now.Add(-90*day))
	clk.Set(now.Add(-80 * day))
	if _, err := s.Reopen(ctx, reopened.ID, "back", "alice"); err != nil {
		t.Fatal(err)
	}

	clk.Set(now)
	owed, err := s.IncidentsOwed(ctx)
	if err != nil {
		t.Fatalf("IncidentsOwed: %v", err)
	}
	var got []string
	for _, in := range owed {
		got = append(got, in.Name)
	}
	// Newest first, as the store lists incidents.
	want := []string{reopened.Name, justIn.Name, recent.Name, maint.Name, open2.Name, open1.Name}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("IncidentsOwed (-want +got):\n%s", diff)
	}
	for _, in := range owed {
		if in.ID == recent.ID && (!in.NotifyRegulators || in.ResolvedAt == nil || len(in.Updates) != 2) {
			t.Errorf("the resolved incident is listed without its state: %+v", in)
		}
	}
}
