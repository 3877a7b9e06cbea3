package herald

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// testComponents is a fresh set of operational components keyed by ID.
func testComponents() map[string]Component {
	return map[string]Component{
		"api":    {ID: "api", Key: "api-platform", Name: "API Platform", Status: Operational},
		"portal": {ID: "portal", Key: "customer-portal", Name: "Customer Portal", Status: Operational},
		"admin":  {ID: "admin", Key: "admin-dashboard", Name: "Admin Dashboard", Status: Operational},
	}
}

func statuses(comps map[string]Component) map[string]ComponentStatus {
	m := map[string]ComponentStatus{}
	for id, c := range comps {
		m[id] = c.Status
	}
	return m
}

func mustDeclare(t *testing.T, d Declaration, comps map[string]Component, now time.Time) Incident {
	t.Helper()
	in, err := Declare(d, comps, now)
	if err != nil {
		t.Fatalf("Declare: %v", err)
	}
	in.ID = "inc1"
	return in
}

func mustApply(t *testing.T, in *Incident, u UpdateInput, comps map[string]Component, now time.Time) Update {
	t.Helper()
	up, err := in.Apply(u, comps, now)
	if err != nil {
		t.Fatalf("Apply(%+v): %v", u, err)
	}
	return up
}

func TestDeclareValidation(t *testing.T) {
	valid := func() Declaration {
		return Declaration{Name: "API errors", Body: "We are investigating.", Impact: ImpactMajor,
			Components: []ComponentTarget{{ComponentID: "api", Status: MajorOutage}}}
	}
	maint := func() Declaration {
		return Declaration{Kind: KindMaintenance, Name: "Database upgrade", Body: "Planned upgrade.",
			ScheduledFor: t0.Add(time.Hour), ScheduledUntil: t0.Add(2 * time.Hour)}
	}
	tests := []struct {
		name   string
		edit   func(d *Declaration)
		base   func() Declaration
		field  string
		phrase string
	}{
		{"empty name", func(d *Declaration) { d.Name = "" }, valid, "name", "must not be empty"},
		{"blank name", func(d *Declaration) { d.Name = " \t\n" }, valid, "name", "must not be empty"},
		{"empty body", func(d *Declaration) { d.Body = "" }, valid, "body", "must not be empty"},
		{"name too long", func(d *Declaration) { d.Name = strings.Repeat("é", MaxNameLen+1) }, valid, "name", "the limit is 200"},
		{"body too long", func(d *Declaration) { d.Body = strings.Repeat("x", MaxBodyLen+1) }, valid, "body", "the limit is 10000"},
		{"invalid utf-8", func(d *Declaration) { d.Body = "bad \xff byte" }, valid, "body", "UTF-8"},
		{"unknown kind", func(d *Declaration) { d.Kind = "outage" }, valid, "kind", `"outage" is not one of incident, maintenance`},
		{"unknown status", func(d *Declaration) { d.Status = "panicking" }, valid, "status", "investigating, identified, monitoring, resolved, postmortem"},
		{"maintenance status on incident", func(d *Declaration) { d.Status = InProgress }, valid, "status", `"in_progress" is not one of`},
		{"starts resolved", func(d *Declaration) { d.Status = Resolved }, valid, "status", "cannot start resolved"},
		{"unknown impact", func(d *Declaration) { d.Impact = "huge" }, valid, "impact", "none, minor, major, critical"},
		{"unknown component", func(d *Declaration) { d.Components = append(d.Components, ComponentTarget{ComponentID: "nope"}) }, valid, "components[1]", `unknown component "nope"`},
		{"duplicate component", func(d *Declaration) {
			d.Components = append(d.Components, ComponentTarget{ComponentID: "api", Status: PartialOutage})
		}, valid, "components[1]", "named twice"},
		{"unknown component status", func(d *Declaration) { d.Components[0].Status = "broken" }, valid, "components[0].status", "operational, degraded_performance"},
		{"maintenance without start", func(d *Declaration) { d.ScheduledFor = time.Time{} }, maint, "scheduled_for", "required"},
		{"maintenance without end", func(d *Declaration) { d.ScheduledUntil = time.Time{} }, maint, "scheduled_until", "required"},
		{"maintenance ends when it starts", func(d *Declaration) { d.ScheduledUntil = d.ScheduledFor }, maint, "scheduled_until", "must be after scheduled_for"},
		{"maintenance ends before it starts", func(d *Declaration) { d.ScheduledUntil = d.ScheduledFor.Add(-time.Minute) }, maint, "scheduled_until", "must be after scheduled_for"},
		{"maintenance with incident status", func(d *Declaration) { d.Status = Investigating }, maint, "status", "scheduled, in_progress, verifying, completed"},
		{"maintenance starts completed", func(d *Declaration) { d.Status = Completed }, maint, "status", "cannot start completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.base()
			tt.edit(&d)
			comps := testComponents()
			before := statuses(comps)
			_, err := Declare(d, comps, t0)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Declare() error = %v; want ErrInvalid", err)
			}
			var ves ValidationErrors
			if !errors.As(err, &ves) {
				t.Fatalf("error %T is not ValidationErrors", err)
			}
			problem, ok := ves.Fields()[tt.field]
			if !ok {
				t.Fatalf("no problem reported for %q; got %v", tt.field, err)
			}
			if !strings.Contains(problem, tt.phrase) {
				t.Errorf("%s: %q does not say %q", tt.field, problem, tt.phrase)
			}
			if !strings.Contains(err.Error(), tt.field+": ") {
				t.Errorf("message %q does not name field %q", err, tt.field)
			}
			if diff := cmp.Diff(before, statuses(comps)); diff != "" {
				t.Errorf("a refused declaration changed components (-before +after):\n%s", diff)
			}
		})
	}
	t.Run("reports every problem at once", func(t *testing.T) {
		_, err := Declare(Declaration{Impact: "huge"}, testComponents(), t0)
		var ves ValidationErrors
		if !errors.As(err, &ves) {
			t.Fatalf("error %v is not ValidationErrors", err)
		}
		got := ves.Fields()
		for _, f := range []string{"name", "body", "impact"} {
			if _, ok := got[f]; !ok {
				t.Errorf("no problem reported for %q in %v", f, err)
			}
		}
	})
	t.Run("limits count characters, not bytes", func(t *testing.T) {
		d := valid()
		d.Name = strings.Repeat("é", MaxNameLen) // 400 bytes, 200 characters
		if _, err := Declare(d, testComponents(), t0); err != nil {
			t.Fatalf("Declare: %v", err)
		}
	})
}

func TestDeclareIncident(t *testing.T) {
	comps := testComponents()
	in, err := Declare(Declaration{
		Name: "  API errors  ", Body: " Elevated error rates. ", Impact: ImpactMajor, NotifyRegulators: true,
		Components: []ComponentTarget{
			{ComponentID: "portal", Status: DegradedPerformance},
			{ComponentID: "api", Status: MajorOutage},
			{ComponentID: "admin"}, // affected, status unchanged
		},
	}, comps, t0)
	if err != nil {
		t.Fatalf("Declare: %v", err)
	}
	want := Incident{
		Kind: KindIncident, Name: "API errors", Status: Investigating, Impact: ImpactMajor,
		ComponentIDs: []string{"portal", "api", "admin"}, NotifyRegulators: true,
		CreatedAt: t0, UpdatedAt: t0, StartedAt: t0,
		Updates: []Update{{
			Status: Investigating, Body: "Elevated error rates.", CreatedAt: t0, UpdatedAt: t0, DisplayAt: t0,
			Changes: []ComponentChange{
				{ComponentID: "portal", Name: "Customer Portal", Old: Operational, New: DegradedPerformance},
				{ComponentID: "api", Name: "API Platform", Old: Operational, New: MajorOutage},
			},
		}},
	}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("Declare (-want +got):\n%s", diff)
	}
	wantStatus := map[string]ComponentStatus{"api": MajorOutage, "portal": DegradedPerformance, "admin": Operational}
	if diff := cmp.Diff(wantStatus, statuses(comps)); diff != "" {
		t.Errorf("component statuses (-want +got):\n%s", diff)
	}
}

func TestDeclareDefaults(t *testing.T) {
	t.Run("incident", func(t *testing.T) {
		in := mustDeclare(t, Declaration{Name: "x", Body: "y"}, testComponents(), t0)
		if in.Kind != KindIncident || in.Status != Investigating || in.Impact != ImpactMinor {
			t.Errorf("defaults = %s/%s/%s; want incident/investigating/minor", in.Kind, in.Status, in.Impact)
		}
	})
	t.Run("incident declared monitoring", func(t *testing.T) {
		in := mustDeclare(t, Declaration{Name: "x", Body: "y", Status: Monitoring}, testComponents(), t0)
		if in.MonitoringAt == nil || !in.MonitoringAt.Equal(t0) {
			t.Errorf("MonitoringAt = %v; want %v", in.MonitoringAt, t0)
		}
	})
	t.Run("maintenance", func(t *testing.T) {
		lagos, err := time.LoadLocation("Africa/Lagos")
		if err != nil {
			t.Fatal(err)
		}
		from := time.Date(2025, 3, 12, 2, 0, 0, 0, lagos)
		until := from.Add(2 * time.Hour)
		comps := testComponents()
		in := mustDeclare(t, Declaration{Kind: KindMaintenance, Name: "Upgrade", Body: "Planned.",
			Components:   []ComponentTarget{{ComponentID: "portal"}},
			ScheduledFor: from, ScheduledUntil: until}, comps, t0)
		if in.Status != Scheduled {
			t.Errorf("Status = %s; want scheduled", in.Status)
		}
		if in.Impact != ImpactNone {
			t.Errorf("Impact = %s; want none: a maintenance has no impact unless it says so", in.Impact)
		}
		if in.ScheduledFor == nil || in.ScheduledUntil == nil {
			t.Fatalf("schedule = %v, %v; want both set", in.ScheduledFor, in.ScheduledUntil)
		}
		if in.ScheduledFor.Location() != time.UTC || !in.ScheduledFor.Equal(from) || !in.ScheduledUntil.Equal(until) {
			t.Errorf("schedule = %v – %v; want %v – %v in UTC", in.ScheduledFor, in.ScheduledUntil, from.UTC(), until.UTC())
		}
		if !in.StartedAt.Equal(from) {
			t.Errorf("StartedAt = %v; want the scheduled start %v", in.StartedAt, from)
		}
		if len(in.Updates[0].Changes) != 0 || comps["portal"].Status != Operational {
			t.Errorf("a scheduled maintenance changed components: %+v", in.Updates[0].Changes)
		}
		if diff := cmp.Diff([]string{"portal"}, in.ComponentIDs); diff != "" {
			t.Errorf("ComponentIDs (-want +got):\n%s", diff)
		}
	})
	t.Run("maintenance with an impact", func(t *testing.T) {
		in := mustDeclare(t, Declaration{Kind: KindMaintenance, Name: "Upgrade", Body: "Planned.", Impact: ImpactMinor,
			ScheduledFor: t0, ScheduledUntil: t0.Add(time.Hour)}, testComponents(), t0)
		if in.Impact != ImpactMinor {
			t.Errorf("Impact = %s; want minor as declared", in.Impact)
		}
	})
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		path    []Status // applied in order from a fresh investigating incident
		to      Status
		wantErr error
	}{
		{nil, Investigating, nil}, // a status may repeat
		{nil, Identified, nil},
		{nil, Monitoring, nil}, // skipping is allowed
		{nil, Resolved, nil},
		{[]Status{Identified}, Monitoring, nil},
		{[]Status{Identified, Monitoring}, Resolved, nil},
		{[]Status{Identified}, Investigating, ErrInvalidTransition},
		{[]Status{Monitoring}, Identified, ErrInvalidTransition},
		{[]Status{Monitoring}, Investigating, ErrInvalidTransition},
		{nil, Postmortem, ErrInvalidTransition}, // resolve first
		{[]Status{Monitoring}, Postmortem, ErrInvalidTransition},
		{[]Status{Resolved}, Postmortem, nil},
		{[]Status{Resolved}, Investigating, ErrClosed},
		{[]Status{Resolved}, Monitoring, ErrClosed},
		{[]Status{Resolved}, Resolved, ErrClosed},
		{[]Status{Resolved, Postmortem}, Postmortem, ErrClosed},
		{[]Status{Resolved, Postmortem}, Investigating, ErrClosed},
	}
	for _, tt := range tests {
		name := "investigating"
		for _, s := range tt.path {
			name += "→" + string(s)
		}
		name += "→" + string(tt.to)
		t.Run(name, func(t *testing.T) {
			comps := testComponents()
			in := mustDeclare(t, Declaration{Name: "x", Body: "y",
				Components: []ComponentTarget{{ComponentID: "api", Status: MajorOutage}}}, comps, t0)
			now := t0
			for _, s := range tt.path {
				now = now.Add(time.Minute)
				mustApply(t, &in, UpdateInput{Status: s, Body: "step"}, comps, now)
			}
			before := cloneIncident(in)
			beforeComps := maps.Clone(comps)
			_, err := in.Apply(UpdateInput{Status: tt.to, Body: "next"}, comps, now.Add(time.Minute))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Apply(%s) error = %v; want %v", tt.to, err, tt.wantErr)
			}
			if err != nil {
				if diff := cmp.Diff(before, in); diff != "" {
					t.Errorf("a refused update changed the incident (-before +after):\n%s", diff)
				}
				if diff := cmp.Diff(beforeComps, comps); diff != "" {
					t.Errorf("a refused update changed components (-before +after):\n%s", diff)
				}
				return
			}
			if in.Status != tt.to || len(in.Updates) != len(tt.path)+2 || in.Updates[0].Status != tt.to {
				t.Errorf("after Apply: status %s with %d updates (newest %s); want %s with %d",
					in.Status, len(in.Updates), in.Updates[0].Status, tt.to, len(tt.path)+2)
			}
		})
	}
	t.Run("maintenance", func(t *testing.T) {
		tests := []struct {
			path    []Status
			to      Status
			wantErr error
		}{
			{nil, InProgress, nil},
			{nil, Completed, nil},
			{[]Status{InProgress}, Verifying, nil},
			{[]Status{InProgress, Verifying}, Completed, nil},
			{[]Status{InProgress}, Scheduled, ErrInvalidTransition},
			{[]Status{Verifying}, InProgress, ErrInvalidTransition},
			{[]Status{Completed}, InProgress, ErrClosed},
			{nil, Resolved, ErrInvalid}, // an incident status
		}
		for _, tt := range tests {
			name := "scheduled"
			for _, s := range tt.path {
				name += "→" + string(s)
			}
			t.Run(name+"→"+string(tt.to), func(t *testing.T) {
				comps := testComponents()
				in := mustDeclare(t, Declaration{Kind: KindMaintenance, Name: "x", Body: "y",
					ScheduledFor: t0, ScheduledUntil: t0.Add(time.Hour)}, comps, t0)
				for _, s := range tt.path {
					mustApply(t, &in, UpdateInput{Status: s, Body: "step"}, comps, t0)
				}
				_, err := in.Apply(UpdateInput{Status: tt.to, Body: "next"}, comps, t0)
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("Apply(%s) error = %v; want %v", tt.to, err, tt.wantErr)
				}
			})
		}
	})
}

func cloneIncident(in Incident) Incident {
	out := in
	out.ComponentIDs = append([]string(nil), in.ComponentIDs...)
	out.Updates = append([]Update(nil), in.Updates...)
	return out
}

func TestApplyValidation(t *testing.T) {
	tests := []struct {
		name  string
		input UpdateInput
		field string
	}{
		{"empty body", UpdateInput{Status: Identified}, "body"},
		{"body too long", UpdateInput{Body: strings.Repeat("x", MaxBodyLen+1)}, "body"},
		{"unknown status", UpdateInput{Status: "fixed", Body: "b"}, "status"},
		{"maintenance status", UpdateInput{Status: Completed, Body: "b"}, "status"},
		{"unknown impact", UpdateInput{Impact: "severe", Body: "b"}, "impact"},
		{"unknown component", UpdateInput{Body: "b", Components: []ComponentTarget{{ComponentID: "db", Status: MajorOutage}}}, "components[0]"},
		{"bad component status", UpdateInput{Body: "b", Components: []ComponentTarget{{ComponentID: "api", Status: "down"}}}, "components[0].status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			comps := testComponents()
			in := mustDeclare(t, Declaration{Name: "x", Body: "y"}, comps, t0)
			before := cloneIncident(in)
			_, err := in.Apply(tt.input, comps, t0.Add(time.Minute))
			var ves ValidationErrors
			if !errors.As(err, &ves) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Apply error = %v; want ValidationErrors", err)
			}
			if _, ok := ves.Fields()[tt.field]; !ok {
				t.Errorf("no problem reported for %q; got %v", tt.field, err)
			}
			if diff := cmp.Diff(before, in); diff != "" {
				t.Errorf("a refused update changed the incident (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyLifecycle(t *testing.T) {
	comps := testComponents()
	in := mustDeclare(t, Declaration{Name: "API errors", Body: "Investigating.", Impact: ImpactMinor,
		Components: []ComponentTarget{{ComponentID: "api", Status: PartialOutage}}}, comps, t0)
	t1, t2, t3, t4 := t0.Add(10*time.Minute), t0.Add(20*time.Minute), t0.Add(30*time.Minute), t0.Add(40*time.Minute)

	up := mustApply(t, &in, UpdateInput{Status: Identified, Body: "Found it.", Impact: ImpactMajor,
		Components: []ComponentTarget{{ComponentID: "api", Status: MajorOutage}, {ComponentID: "portal", Status: DegradedPerformance}}}, comps, t1)
	wantUp := Update{IncidentID: "inc1", Status: Identified, Body: "Found it.", CreatedAt: t1, UpdatedAt: t1, DisplayAt: t1,
		Changes: []ComponentChange{
			{ComponentID: "api", Name: "API Platform", Old: PartialOutage, New: MajorOutage},
			{ComponentID: "portal", Name: "Customer Portal", Old: Operational, New: DegradedPerformance},
		}}
	if diff := cmp.Diff(wantUp, up); diff != "" {
		t.Errorf("identified update (-want +got):\n%s", diff)
	}
	if in.Impact != ImpactMajor {
		t.Errorf("Impact = %s; want major", in.Impact)
	}

	mustApply(t, &in, UpdateInput{Status: Monitoring, Body: "Fix deployed."}, comps, t2)
	mustApply(t, &in, UpdateInput{Status: Monitoring, Body: "Still watching."}, comps, t3)
	if in.MonitoringAt == nil || !in.MonitoringAt.Equal(t2) {
		t.Errorf("MonitoringAt = %v; want the first monitoring update %v", in.MonitoringAt, t2)
	}
	if in.Impact != ImpactMajor {
		t.Errorf("Impact = %s; an update without impact must keep major", in.Impact)
	}

	up = mustApply(t, &in, UpdateInput{Status: Resolved, Body: "Resolved."}, comps, t4)
	wantChanges := []ComponentChange{
		{ComponentID: "api", Name: "API Platform", Old: MajorOutage, New: Operational},
		{ComponentID: "portal", Name: "Customer Portal", Old: DegradedPerformance, New: Operational},
	}
	if diff := cmp.Diff(wantChanges, up.Changes); diff != "" {
		t.Errorf("resolving must release affected components (-want +got):\n%s", diff)
	}
	for id, s := range statuses(comps) {
		if s != Operational {
			t.Errorf("component %s is %s after resolution; want operational", id, s)
		}
	}
	if in.ResolvedAt == nil || !in.ResolvedAt.Equal(t4) || !in.UpdatedAt.Equal(t4) {
		t.Errorf("ResolvedAt = %v, UpdatedAt = %v; want %v", in.ResolvedAt, in.UpdatedAt, t4)
	}
	if in.Open() {
		t.Error("Open() = true after resolution")
	}
	var got []Status
	for _, u := range in.Updates {
		got = append(got, u.Status)
	}
	if diff := cmp.Diff([]Status{Resolved, Monitoring, Monitoring, Identified, Investigating}, got); diff != "" {
		t.Errorf("updates must be newest first (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"api", "portal"}, in.ComponentIDs); diff != "" {
		t.Errorf("ComponentIDs (-want +got):\n%s", diff)
	}

	// A postmortem on a resolved incident changes nothing else.
	t5 := t4.Add(time.Hour)
	up = mustApply(t, &in, UpdateInput{Status: Postmortem, Body: "What happened."}, comps, t5)
	if len(up.Changes) != 0 || in.Status != Postmortem || !in.ResolvedAt.Equal(t4) {
		t.Errorf("postmortem: changes %v, status %s, resolved %v; want none, postmortem, %v", up.Changes, in.Status, in.ResolvedAt, t4)
	}
}

func TestResolveKeepsExplicitTargets(t *testing.T) {
	comps := testComponents()
	in := mustDeclare(t, Declaration{Name: "x", Body: "y", Components: []ComponentTarget{
		{ComponentID: "api", Status: MajorOutage}, {ComponentID: "portal", Status: PartialOutage}}}, comps, t0)
	up := mustApply(t, &in, UpdateInput{Status: Resolved, Body: "Mostly fixed.",
		Components: []ComponentTarget{{ComponentID: "portal", Status: DegradedPerformance}}}, comps, t0.Add(time.Hour))
	want := []ComponentChange{
		{ComponentID: "portal", Name: "Customer Portal", Old: PartialOutage, New: DegradedPerformance},
		{ComponentID: "api", Name: "API Platform", Old: MajorOutage, New: Operational},
	}
	if diff := cmp.Diff(want, up.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestMaintenanceComponents(t *testing.T) {
	from := t0.Add(time.Hour)
	start := from.Add(2 * time.Minute)
	scheduled := func(t *testing.T) (Incident, map[string]Component) {
		comps := testComponents()
		in := mustDeclare(t, Declaration{Kind: KindMaintenance, Name: "Upgrade", Body: "Planned.",
			Components:   []ComponentTarget{{ComponentID: "portal"}, {ComponentID: "admin"}},
			ScheduledFor: from, ScheduledUntil: from.Add(time.Hour)}, comps, t0)
		return in, comps
	}

	t.Run("in progress puts its components under maintenance, completed frees them", func(t *testing.T) {
		in, comps := scheduled(t)
		up := mustApply(t, &in, UpdateInput{Status: InProgress, Body: "Started."}, comps, start)
		want := []ComponentChange{
			{ComponentID: "portal", Name: "Customer Portal", Old: Operational, New: UnderMaintenance},
			{ComponentID: "admin", Name: "Admin Dashboard", Old: Operational, New: UnderMaintenance},
		}
		if diff := cmp.Diff(want, up.Changes); diff != "" {
			t.Errorf("in progress changes (-want +got):\n%s", diff)
		}
		if !in.StartedAt.Equal(start) {
			t.Errorf("StartedAt = %v; want the real start %v", in.StartedAt, start)
		}
		if comps["api"].Status != Operational {
			t.Errorf("a component outside the maintenance is %s", comps["api"].Status)
		}

		up = mustApply(t, &in, UpdateInput{Status: Verifying, Body: "Checking."}, comps, start.Add(time.Minute))
		if len(up.Changes) != 0 || comps["portal"].Status != UnderMaintenance || comps["admin"].Status != UnderMaintenance {
			t.Errorf("verifying: changes %v, portal %s, admin %s; want none, still under maintenance",
				up.Changes, comps["portal"].Status, comps["admin"].Status)
		}

		up = mustApply(t, &in, UpdateInput{Status: Completed, Body: "Done."}, comps, start.Add(time.Hour))
		want = []ComponentChange{
			{ComponentID: "portal", Name: "Customer Portal", Old: UnderMaintenance, New: Operational},
			{ComponentID: "admin", Name: "Admin Dashboard", Old: UnderMaintenance, New: Operational},
		}
		if diff := cmp.Diff(want, up.Changes); diff != "" {
			t.Errorf("completed changes (-want +got):\n%s", diff)
		}
		if in.ResolvedAt == nil || !in.ResolvedAt.Equal(start.Add(time.Hour)) || in.Open() {
			t.Errorf("completed maintenance: ResolvedAt %v, Open %v", in.ResolvedAt, in.Open())
		}
	})

	t.Run("an explicit status wins", func(t *testing.T) {
		in, comps := scheduled(t)
		up := mustApply(t, &in, UpdateInput{Status: InProgress, Body: "Started.",
			Components: []ComponentTarget{{ComponentID: "admin", Status: DegradedPerformance}, {ComponentID: "portal"}}}, comps, start)
		want := []ComponentChange{
			{ComponentID: "admin", Name: "Admin Dashboard", Old: Operational, New: DegradedPerformance},
			{ComponentID: "portal", Name: "Customer Portal", Old: Operational, New: UnderMaintenance},
		}
		if diff := cmp.Diff(want, up.Changes); diff != "" {
			t.Errorf("in progress changes (-want +got):\n%s", diff)
		}
		// Verifying keeps what the commander set during the window.
		up = mustApply(t, &in, UpdateInput{Status: Verifying, Body: "Checking."}, comps, start.Add(time.Minute))
		if len(up.Changes) != 0 || comps["admin"].Status != DegradedPerformance {
			t.Errorf("verifying: changes %v, admin %s; want none, admin still degraded", up.Changes, comps["admin"].Status)
		}
		up = mustApply(t, &in, UpdateInput{Status: Completed, Body: "Done.",
			Components: []ComponentTarget{{ComponentID: "admin", Status: PartialOutage}}}, comps, start.Add(time.Hour))
		want = []ComponentChange{
			{ComponentID: "admin", Name: "Admin Dashboard", Old: DegradedPerformance, New: PartialOutage},
			{ComponentID: "portal", Name: "Customer Portal", Old: UnderMaintenance, New: Operational},
		}
		if diff := cmp.Diff(want, up.Changes); diff != "" {
			t.Errorf("completed changes (-want +got):\n%s", diff)
		}
	})

	t.Run("scheduled changes nothing", func(t *testing.T) {
		in, comps := scheduled(t)
		up := mustApply(t, &in, UpdateInput{Status: Scheduled, Body: "Moved.", Components: []ComponentTarget{{ComponentID: "api"}}}, comps, t0.Add(time.Minute))
		if len(up.Changes) != 0 {
			t.Errorf("a scheduled maintenance changed components: %+v", up.Changes)
		}
		if diff := cmp.Diff([]string{"portal", "admin", "api"}, in.ComponentIDs); diff != "" {
			t.Errorf("ComponentIDs (-want +got):\n%s", diff)
		}
	})
}

func TestReopen(t *testing.T) {
	resolved := func(t *testing.T) (Incident, map[string]Component) {
		comps := testComponents()
		in := mustDeclare(t, Declaration{Name: "x", Body: "y", Components: []ComponentTarget{{ComponentID: "api", Status: MajorOutage}}}, comps, t0)
		mustApply(t, &in, UpdateInput{Status: Monitoring, Body: "watching"}, comps, t0.Add(time.Minute))
		mustApply(t, &in, UpdateInput{Status: Resolved, Body: "fixed"}, comps, t0.Add(2*time.Minute))
		return in, comps
	}
	t.Run("resolved incident", func(t *testing.T) {
		in, comps := resolved(t)
		now := t0.Add(time.Hour)
		up, err := in.Reopen("  It came back.  ", now)
		if err != nil {
			t.Fatalf("Reopen: %v", err)
		}
		wantUp := Update{IncidentID: "inc1", Status: Investigating, Body: "It came back.", CreatedAt: now, UpdatedAt: now, DisplayAt: now}
		if diff := cmp.Diff(wantUp, up); diff != "" {
			t.Errorf("update (-want +got):\n%s", diff)
		}
		if in.Status != Investigating || in.ResolvedAt != nil || in.MonitoringAt != nil || !in.UpdatedAt.Equal(now) {
			t.Errorf("after Reopen: status %s, resolved %v, monitoring %v, updated %v", in.Status, in.ResolvedAt, in.MonitoringAt, in.UpdatedAt)
		}
		if len(in.Updates) != 4 || in.Updates[0].Body != "It came back." {
			t.Errorf("updates = %d, newest %q; want 4, the reopening first", len(in.Updates), in.Updates[0].Body)
		}
		// Work goes on from investigating.
		mustApply(t, &in, UpdateInput{Status: Identified, Body: "again"}, comps, now.Add(time.Minute))
		mustApply(t, &in, UpdateInput{Status: Resolved, Body: "fixed again"}, comps, now.Add(2*time.Minute))
		if in.ResolvedAt == nil || !in.ResolvedAt.Equal(now.Add(2*time.Minute)) {
			t.Errorf("ResolvedAt after second resolution = %v; want %v", in.ResolvedAt, now.Add(2*time.Minute))
		}
	})
	t.Run("postmortem incident", func(t *testing.T) {
		in, comps := resolved(t)
		mustApply(t, &in, UpdateInput{Status: Postmortem, Body: "pm"}, comps, t0.Add(time.Hour))
		if _, err := in.Reopen("back", t0.Add(2*time.Hour)); err != nil {
			t.Fatalf("Reopen: %v", err)
		}
	})
	t.Run("open incident", func(t *testing.T) {
		in := mustDeclare(t, Declaration{Name: "x", Body: "y"}, testComponents(), t0)
		if _, err := in.Reopen("again", t0); !errors.Is(err, ErrInvalidTransition) {
			t.Errorf("Reopen on an open incident: %v; want ErrInvalidTransition", err)
		}
	})
	t.Run("maintenance", func(t *testing.T) {
		comps := testComponents()
		in := mustDeclare(t, Declaration{Kind: KindMaintenance, Name: "x", Body: "y", ScheduledFor: t0, ScheduledUntil: t0.Add(time.Hour)}, comps, t0)
		mustApply(t, &in, UpdateInput{Status: Completed, Body: "done"}, comps, t0)
		if _, err := in.Reopen("again", t0); !errors.Is(err, ErrInvalidTransition) {
			t.Errorf("Reopen on a maintenance: %v; want ErrInvalidTransition", err)
		}
	})
	t.Run("empty body", func(t *testing.T) {
		in, _ := resolved(t)
		before := cloneIncident(in)
		if _, err := in.Reopen("  ", t0.Add(time.Hour)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Reopen with an empty body: %v; want ErrInvalid", err)
		}
		if diff := cmp.Diff(before, in); diff != "" {
			t.Errorf("a refused reopen changed the incident (-before +after):\n%s", diff)
		}
	})
}

func TestValidationErrors(t *testing.T) {
	var es ValidationErrors
	if es.Err() != nil {
		t.Fatal("empty ValidationErrors.Err() != nil")
	}
	es.Add("name", "must not be empty")
	es.Add("name", "second problem")
	es.Add("body", "too long")
	err := es.Err()
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("ValidationErrors does not match ErrInvalid")
	}
	if got, want := err.Error(), "name: must not be empty; name: second problem; body: too long"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if diff := cmp.Diff(map[string]string{"name": "must not be empty", "body": "too long"}, es.Fields()); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
}

// TestIncidentAsOf: the incident as it stood after an earlier update has
// that update first, its status, and none of the later times; the newest
// update is the incident as it is; an unknown update is not found.
func TestIncidentAsOf(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	mon, res := t0.Add(20*time.Minute), t0.Add(40*time.Minute)
	in := Incident{ID: "i1", Name: "API errors", Status: Resolved, CreatedAt: t0, UpdatedAt: res,
		MonitoringAt: &mon, ResolvedAt: &res, Updates: []Update{
			{ID: "u3", Status: Resolved, CreatedAt: res},
			{ID: "u2", Status: Monitoring, CreatedAt: mon},
			{ID: "u1", Status: Investigating, CreatedAt: t0},
		}}
	got, ok := in.AsOf("u2")
	if !ok || got.Status != Monitoring || len(got.Updates) != 2 || got.Updates[0].ID != "u2" || !got.UpdatedAt.Equal(mon) ||
		got.MonitoringAt == nil || got.ResolvedAt != nil {
		t.Errorf("as of u2: %+v, %v", got, ok)
	}
	got, ok = in.AsOf("u1")
	if !ok || got.Status != Investigating || len(got.Updates) != 1 || got.MonitoringAt != nil || got.ResolvedAt != nil {
		t.Errorf("as of u1: %+v, %v", got, ok)
	}
	if got, ok = in.AsOf("u3"); !ok || got.Status != Resolved || len(got.Updates) != 3 || got.ResolvedAt == nil {
		t.Errorf("as of u3: %+v, %v", got, ok)
	}
	if _, ok = in.AsOf("nope"); ok {
		t.Error("an unknown update was found")
	}
	if len(in.Updates) != 3 || in.Status != Resolved {
		t.Errorf("AsOf changed the incident: %+v", in)
	}
}
