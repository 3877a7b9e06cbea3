package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// TestExercises is the DR exercises' and drills' part of the conformance
// suite: every case runs on SQLite and on PostgreSQL, each on a fresh
// database.
func TestExercises(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, dialect string)
	}{
		{"SeedExercises", testSeedExercises},
		{"RecordExercise", testRecordExercise},
		{"RefusedExercisesChangeNothing", testRefusedExercises},
		{"DrillNeverMovesComponents", testDrillNeverMovesComponents},
		{"DrillExercise", testDrillExercise},
		{"DrillMessagesAreMarked", testDrillMessagesAreMarked},
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

// exercisePlan is the default plan: the seed's schedule and results.
func exercisePlan(t *testing.T) herald.Plan {
	t.Helper()
	p, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Exercises.Schedule) != 4 || len(p.Exercises.Results) != 3 {
		t.Fatalf("the default plan has %d exercises and %d results", len(p.Exercises.Schedule), len(p.Exercises.Results))
	}
	return p
}

func exercises(t *testing.T, s *store.Store) []herald.Exercise {
	t.Helper()
	list, err := s.Exercises(t.Context())
	if err != nil {
		t.Fatalf("Exercises: %v", err)
	}
	return list
}

func auditActions(t *testing.T, s *store.Store, prefix string) []string {
	t.Helper()
	entries, err := s.Audit(t.Context(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, prefix) {
			out = append(out, e.Action+" "+e.EntityID)
		}
	}
	return out
}

func dur(d time.Duration) *time.Duration { return &d }
func yes() *bool                         { b := true; return &b }
func no() *bool                          { b := false; return &b }

// logLine is an exercise as the tests compare it.
type logLine struct {
	Kind, Name   string
	RunAt        time.Time
	RTO, RPO     *time.Duration
	Passed       *bool
	Incident     string
	RecordedBy   string
	Seeded       bool
	Notes        string
	HasIDAndTime bool
}

func logLines(list []herald.Exercise) []logLine {
	var out []logLine
	for _, e := range list {
		out = append(out, logLine{e.Kind, e.Name, e.RunAt, e.RTO, e.RPO, e.Passed, e.IncidentID, e.RecordedBy,
			e.SeedKey != "", e.Notes, e.ID != "" && !e.CreatedAt.IsZero()})
	}
	return out
}

// testSeedExercises: the plan's results land in the log once, newest
// first, each with an audit entry; seeding again writes nothing at all.
func testSeedExercises(t *testing.T, dialect string) {
	s, _ := open(t, dialect)
	plan := exercisePlan(t)
	if err := s.SeedExercises(t.Context(), plan.Exercises.Results); err != nil {
		t.Fatalf("SeedExercises: %v", err)
	}
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	want := []logLine{
		{"failover-test", "AZ Evacuation", day(time.March, 15), dur(15 * time.Minute), dur(0), yes(), "", herald.SeedActor, true, "", true},
		{"failover-test", "Database Failover", day(time.March, 1), dur(8 * time.Minute), dur(0), yes(), "", herald.SeedActor, true, "", true},
		{"full-dr", "Full DR Exercise", day(time.January, 15), dur(2*time.Hour + 15*time.Minute), dur(12 * time.Minute), yes(), "",
			herald.SeedActor, true, "", true},
	}
	if d := gocmp.Diff(want, logLines(exercises(t, s))); d != "" {
		t.Errorf("log after seeding (-want +got):\n%s", d)
	}
	if n := len(auditActions(t, s, "exercise.seed")); n != 3 {
		t.Errorf("%d seed audit entries; want 3", n)
	}

	v := version(t, s)
	if err := s.SeedExercises(t.Context(), plan.Exercises.Results); err != nil {
		t.Fatalf("SeedExercises again: %v", err)
	}
	if d := gocmp.Diff(want, logLines(exercises(t, s))); d != "" {
		t.Errorf("log after seeding twice (-want +got):\n%s", d)
	}
	if n := len(auditActions(t, s, "exercise.seed")); n != 3 || version(t, s) != v {
		t.Errorf("seeding again: %d audit entries, version %d → %d; want 3 and no write", n, v, version(t, s))
	}

	// A result added to the plan later is seeded; the others stay once.
	more := append(plan.Exercises.Results, herald.ExerciseResult{Key: "backup-verification", Name: "Backup Verification",
		Date: day(time.November, 20), RTO: time.Hour, Passed: no()})
	if err := s.SeedExercises(t.Context(), more); err != nil {
		t.Fatal(err)
	}
	if got := logLines(exercises(t, s)); len(got) != 4 || got[0].Name != "Backup Verification" || *got[0].Passed {
		t.Errorf("after adding a result: %+v", got)
	}
}

// testRecordExercise: a recorded run is stored as validated, newest
// first among the others, with an audit entry.
func testRecordExercise(t *testing.T, dialect string) {
	s, clk := open(t, dialect)
	plan := exercisePlan(t)
	if err := s.SeedExercises(t.Context(), plan.Exercises.Results); err != nil {
		t.Fatal(err)
	}
	now := clk.Set(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	got, err := s.RecordExercise(t.Context(), herald.Exercise{Kind: "backup-verification", RunAt: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC),
		RTO: dur(95 * time.Minute), Passed: no(), Notes: "  Checksums of two snapshots did not match.  "}, plan, "ada")
	if err != nil {
		t.Fatalf("RecordExercise: %v", err)
	}
	if got.ID == "" || got.Name != "Backup Verification" || got.RecordedBy != "ada" || !got.CreatedAt.Equal(now) ||
		got.Notes != "Checksums of two snapshots did not match." || got.RPO != nil {
		t.Errorf("RecordExercise returned %+v", got)
	}
	list := exercises(t, s)
	if len(list) != 4 || list[0].ID != got.ID {
		t.Fatalf("log = %+v; want the new run first of 4", logLines(list))
	}
	if d := gocmp.Diff(got, list[0]); d != "" {
		t.Errorf("stored run differs from the one returned (-returned +stored):\n%s", d)
	}
	if a := auditActions(t, s, "exercise.record"); len(a) != 1 || a[0] != "exercise.record "+got.ID {
		t.Errorf("audit = %v; want one exercise.record of %s", a, got.ID)
	}
	// Today (midnight, before now) is not the future.
	if _, err := s.RecordExercise(t.Context(), herald.Exercise{Kind: "partial-dr", RunAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		RTO: dur(0), RPO: dur(0), Passed: yes()}, plan, "ada"); err != nil {
		t.Errorf("an exercise run today: %v", err)
	}
}

// testRefusedExercises: every refusal leaves the log, the audit log and
// the version as they were.
func testRefusedExercises(t *testing.T, dialect string) {
	s, clk := open(t, dialect)
	c := seed(t, s)
	plan := exercisePlan(t)
	clk.Set(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	real, err := s.Declare(t.Context(), herald.Declaration{Name: "Real", Body: "b", Impact: herald.ImpactMajor}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	openDrill, err := s.Declare(t.Context(), herald.Declaration{Name: "DR exercise: Failover Test", Body: "b", Drill: true,
		Components: []herald.ComponentTarget{{ComponentID: c["api-platform"].ID}}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Set(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	valid := func() herald.Exercise {
		return herald.Exercise{Kind: "failover-test", Name: "Database Failover", RunAt: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC),
			RTO: dur(8 * time.Minute), RPO: dur(0), Passed: yes()}
	}
	before := func() any {
		return []any{exercises(t, s), auditActions(t, s, ""), version(t, s)}
	}
	was := before()
	tests := []struct {
		name  string
		edit  func(e *herald.Exercise)
		field string
	}{
		{"unknown kind", func(e *herald.Exercise) { e.Kind = "chaos-monkey" }, "kind"},
		{"in the future", func(e *herald.Exercise) { e.RunAt = now.Add(time.Hour) }, "date"},
		{"negative RTO", func(e *herald.Exercise) { e.RTO = dur(-time.Minute) }, "rto"},
		{"negative RPO", func(e *herald.Exercise) { e.RPO = dur(-time.Minute) }, "rpo"},
		{"no verdict", func(e *herald.Exercise) { e.Passed = nil }, "passed"},
		{"notes too long", func(e *herald.Exercise) { e.Notes = strings.Repeat("n", herald.MaxExerciseNotes+1) }, "notes"},
		{"unknown incident", func(e *herald.Exercise) { e.IncidentID = "nosuchincident" }, "incident_id"},
		{"a real incident", func(e *herald.Exercise) { e.IncidentID = real.ID }, "incident_id"},
		{"an open drill", func(e *herald.Exercise) { e.IncidentID = openDrill.ID }, "incident_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.edit(&e)
			_, err := s.RecordExercise(t.Context(), e, plan, "mallory")
			var ves herald.ValidationErrors
			var ve *herald.ValidationError
			switch {
			case !errors.Is(err, herald.ErrInvalid):
				t.Fatalf("RecordExercise = %v; want ErrInvalid", err)
			case errors.As(err, &ves):
				if _, ok := ves.Fields()[tt.field]; !ok {
					t.Errorf("error %v does not name %s", err, tt.field)
				}
			case errors.As(err, &ve):
				if ve.Field != tt.field {
					t.Errorf("error %v names %s, want %s", err, ve.Field, tt.field)
				}
			}
			if d := gocmp.Diff(was, before()); d != "" {
				t.Errorf("a refused exercise changed the store (-before +after):\n%s", d)
			}
		})
	}
}

// testDrillNeverMovesComponents: a drill stores drill = true and records
// its components as affected; neither its declaration, its updates, its
// resolution nor a component change from its page moves a status, and it
// releases nothing a real incident holds.
func testDrillNeverMovesComponents(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	c := seed(t, s)
	api, portal := c["api-platform"], c["customer-portal"]
	plan := exercisePlan(t)
	clk.Set(base.Add(time.Hour))
	real, err := s.Declare(ctx, herald.Declaration{Name: "Real outage", Body: "b", Impact: herald.ImpactMajor,
		Components: []herald.ComponentTarget{{ComponentID: api.ID, Status: herald.PartialOutage}}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	statuses := func() map[string]herald.ComponentStatus {
		m := map[string]herald.ComponentStatus{}
		for k, c := range componentsByKey(t, s) {
			m[k] = c.Status
		}
		return m
	}
	wantStatuses := statuses()
	changesBefore := history(t, s, time.Time{})

	clk.Set(base.Add(2 * time.Hour))
	spec, _ := plan.Exercises.Spec("failover-test")
	d := herald.DrillDeclaration(spec, herald.ImpactCritical, []string{api.ID, portal.ID})
	d.Components[1].Status = herald.MajorOutage // asked for, never applied
	drill, err := s.DeclareIncident(ctx, d, "", []string{"engineering", "public"}, "alice")
	if err != nil {
		t.Fatalf("DeclareIncident(drill): %v", err)
	}
	stored := mustIncident(t, s, drill.ID)
	if !stored.Drill || !gocmp.Equal(stored.ComponentIDs, []string{api.ID, portal.ID}) || stored.Name != "DR exercise: Failover Test" {
		t.Errorf("stored drill = drill %v, components %v, name %q", stored.Drill, stored.ComponentIDs, stored.Name)
	}
	if mustIncident(t, s, real.ID).Drill {
		t.Error("the real incident reads as a drill")
	}
	clk.Set(base.Add(3 * time.Hour))
	if _, err := s.PostUpdate(ctx, drill.ID, herald.UpdateInput{Status: herald.Identified, Body: "Standby promoted.",
		Components: []herald.ComponentTarget{{ComponentID: portal.ID, Status: herald.DegradedPerformance}}}, "alice"); err != nil {
		t.Fatalf("PostUpdate(drill): %v", err)
	}
	_, err = s.SetIncidentComponent(ctx, drill.ID, 0, api.ID, herald.MajorOutage, "alice")
	if !errors.Is(err, herald.ErrInvalid) || !strings.Contains(err.Error(), "drill") {
		t.Errorf("SetIncidentComponent(drill) = %v; want refused as a drill", err)
	}
	clk.Set(base.Add(4 * time.Hour))
	if _, err := s.PostUpdate(ctx, drill.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Exercise over."}, "alice"); err != nil {
		t.Fatalf("resolve drill: %v", err)
	}
	if d := gocmp.Diff(wantStatuses, statuses()); d != "" {
		t.Errorf("the drill moved components (-before +after):\n%s", d)
	}
	if d := gocmp.Diff(changesBefore, history(t, s, time.Time{})); d != "" {
		t.Errorf("the drill wrote status history (-before +after):\n%s", d)
	}
	for _, u := range mustIncident(t, s, drill.ID).Updates {
		if len(u.Changes) != 0 {
			t.Errorf("drill update %q records changes %v", u.Body, u.Changes)
		}
	}
}

// testDrillExercise: a resolved drill is recorded once as an exercise,
// linked, with a line in its timeline.
func testDrillExercise(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	c := seed(t, s)
	plan := exercisePlan(t)
	declared := clk.Set(time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC))
	spec, _ := plan.Exercises.Spec("partial-dr")
	drill, err := s.Declare(ctx, herald.DrillDeclaration(spec, herald.ImpactMajor, []string{c["credit-origination"].ID}), "alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(declared.Add(30 * time.Minute))
	if _, err := s.SetDataLoss(ctx, drill.ID, 0, 3*time.Minute, "alice"); err != nil {
		t.Fatal(err)
	}
	clk.Set(declared.Add(90 * time.Minute))
	resolved, err := s.PostUpdate(ctx, drill.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Done."}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	rto, rpo := herald.DrillRecovery(resolved)
	clk.Set(declared.Add(2 * time.Hour))
	e, err := s.RecordExercise(ctx, herald.Exercise{Kind: "partial-dr", RunAt: declared, RTO: rto, RPO: rpo, Passed: yes(),
		IncidentID: drill.ID}, plan, "alice")
	if err != nil {
		t.Fatalf("RecordExercise(drill): %v", err)
	}
	list := exercises(t, s)
	if len(list) != 1 || list[0].IncidentID != drill.ID || *list[0].RTO != 90*time.Minute || *list[0].RPO != 3*time.Minute ||
		!list[0].RunAt.Equal(declared) || list[0].Name != "Partial DR" {
		t.Errorf("log = %+v", logLines(list))
	}
	tl, err := s.Timeline(ctx, drill.ID, "exercise")
	if err != nil || len(tl) != 1 || !strings.Contains(tl[0].Summary, "Partial DR, passed, RTO 1 h 30 min, RPO 3 min") {
		t.Errorf("timeline = %+v, %v; want one exercise line", tl, err)
	}
	if a := auditActions(t, s, "exercise.record"); len(a) != 1 || a[0] != "exercise.record "+e.ID {
		t.Errorf("audit = %v", a)
	}
	_, err = s.RecordExercise(ctx, herald.Exercise{Kind: "partial-dr", RunAt: declared, Passed: yes(), IncidentID: drill.ID}, plan, "alice")
	if !errors.Is(err, herald.ErrInvalid) || !strings.Contains(err.Error(), "already recorded") {
		t.Errorf("recording the drill twice = %v; want refused", err)
	}
}

// testDrillMessagesAreMarked: every Slack, email and SMS message about a
// drill carries [DRILL] in its subject and text; a real incident's don't.
func testDrillMessagesAreMarked(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	plan := exercisePlan(t)
	for i := range plan.Audiences {
		if plan.Audiences[i].Key == "executives" {
			plan.Audiences[i].Recipients.Phones = []string{"+27820000000"}
		}
	}
	s.EnableDeliveries(plan)
	clk.Set(base)
	spec, _ := plan.Exercises.Spec("full-dr")
	drill, err := s.DeclareIncident(ctx, herald.DrillDeclaration(spec, herald.ImpactMajor, nil), "", []string{"engineering", "public"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	real, err := s.DeclareIncident(ctx, herald.Declaration{Name: "Real", Body: "b", Impact: herald.ImpactMajor}, "",
		[]string{"engineering", "public"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{drill.ID, real.ID} {
		in := mustIncident(t, s, id)
		if _, err := s.Compose(ctx, id, in.Version, herald.Composition{Main: "Region failover under way.",
			Audiences: []string{"engineering", "executives"}}, plan, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	kinds := map[herald.Channel]int{}
	ds, err := s.Deliveries(ctx, drill.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		kinds[d.Channel]++
		if d.Kind == herald.KindEdit {
			continue // the parent is rendered from the incident (comms/slack marks it)
		}
		if d.Channel == herald.ChannelSMS {
			// Texted as "subject: text", marked once at its start.
			if text := d.Subject + ": " + d.Body; !strings.HasPrefix(text, "[DRILL] ") || strings.Count(text, "[DRILL]") != 1 {
				t.Errorf("drill SMS %q; want [DRILL] once, first", text)
			}
		} else if !strings.HasPrefix(d.Body, "[DRILL] ") {
			t.Errorf("drill %s %s body %q lacks [DRILL]", d.Channel, d.Kind, d.Body)
		}
		if d.Channel != herald.ChannelSlack && !strings.HasPrefix(d.Subject, "[DRILL] [Kredete] DR exercise: Full DR Exercise") {
			t.Errorf("drill %s subject %q lacks [DRILL]", d.Channel, d.Subject)
		}
	}
	if kinds[herald.ChannelEmail] == 0 || kinds[herald.ChannelSMS] == 0 || kinds[herald.ChannelSlack] == 0 {
		t.Errorf("the drill queued %v; want Slack, email and SMS", kinds)
	}
	ds, err = s.Deliveries(ctx, real.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if strings.Contains(d.Body+d.Subject, "[DRILL]") {
			t.Errorf("a real incident's %s delivery is marked: %q %q", d.Channel, d.Subject, d.Body)
		}
	}
	// The engine's own messages about a drill (reminders, holding
	// updates, failure reports) go through the same door.
	if _, err := s.QueueOnce(ctx, drill.ID+"/reminder/test", drill.ID, []herald.Delivery{{Channel: herald.ChannelEmail,
		Kind: herald.KindReminder, Recipient: "ada@kredete.test", Subject: "Reminder: public update due", Body: "Post an update.",
		Key: drill.ID + "/reminder/test/email"}}); err != nil {
		t.Fatal(err)
	}
	ds, _ = s.Deliveries(ctx, drill.ID, 1)
	if len(ds) != 1 || ds[0].Subject != "[DRILL] Reminder: public update due" || ds[0].Body != "[DRILL] Post an update." {
		t.Errorf("the drill's reminder = %+v; want it marked", ds)
	}
}
