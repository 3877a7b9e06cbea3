package store_test

import (
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store/storetest"
)

// ClockState is the light read of the cadence engine: the obligations
// computed from it must equal those computed from the full history.
func TestClockStateMatchesFullHistory(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := t.Context()
			s, clk := open(t, dialect)
			c := seed(t, s)
			plan, err := config.LoadPlan("")
			if err != nil {
				t.Fatal(err)
			}
			api := c["api-platform"]
			declare := func(at time.Duration, name string, impact herald.Impact, regulators bool) herald.Incident {
				t.Helper()
				clk.Set(base.Add(at))
				in, err := s.DeclareIncident(ctx, herald.Declaration{Name: name, Impact: impact, Body: "Investigating.",
					NotifyRegulators: regulators, Components: []herald.ComponentTarget{{ComponentID: api.ID, Status: herald.PartialOutage}}},
					"", []string{"public", "engineering"}, "alice")
				if err != nil {
					t.Fatal(err)
				}
				return in
			}
			compose := func(at time.Duration, id string, status herald.Status, audiences ...string) {
				t.Helper()
				clk.Set(base.Add(at))
				if _, err := s.Compose(ctx, id, 0, herald.Composition{Status: status, Main: "News.", Audiences: audiences}, plan, "alice"); err != nil {
					t.Fatal(err)
				}
			}

			a := declare(time.Hour, "Regulated, reported", herald.ImpactMajor, true)
			compose(70*time.Minute, a.ID, "", "executives")
			compose(80*time.Minute, a.ID, herald.Identified, "public", "executives")
			compose(80*time.Minute+300*time.Millisecond, a.ID, "", "public")
			clk.Set(base.Add(2 * time.Hour))
			if _, err := s.RecordRegulatorReport(ctx, herald.RegulatorReport{IncidentID: a.ID, Step: herald.StepInitial,
				CalledBy: "alice", Whom: "Central bank desk", At: base.Add(110 * time.Minute)}, plan, "alice"); err != nil {
				t.Fatal(err)
			}
			// A public update posted outside the composer (the admin API)
			// tells the status page's audience too.
			viaAPI := declare(85*time.Minute, "Updated through the admin API", herald.ImpactMajor, false)
			clk.Set(base.Add(100 * time.Minute))
			if _, err := s.PostUpdate(ctx, viaAPI.ID, herald.UpdateInput{Status: herald.Identified, Body: "Found it."}, "admin-api"); err != nil {
				t.Fatal(err)
			}
			declare(90*time.Minute, "Minor, unregulated", herald.ImpactMinor, false)
			resolved := declare(100*time.Minute, "Regulated, resolved", herald.ImpactCritical, true)
			compose(3*time.Hour, resolved.ID, herald.Resolved, "public", "engineering")
			done := declare(110*time.Minute, "Unregulated, resolved", herald.ImpactMajor, false)
			compose(3*time.Hour, done.ID, herald.Resolved, "public")
			clk.Set(base.Add(3 * time.Hour))
			if _, err := s.Declare(ctx, herald.Declaration{Kind: herald.KindMaintenance, Name: "Upgrade", Body: "Planned.",
				ScheduledFor: base.Add(5 * time.Hour), ScheduledUntil: base.Add(6 * time.Hour)}, "alice"); err != nil {
				t.Fatal(err)
			}
			clk.Set(base.Add(5 * time.Hour))

			owed, err := s.IncidentsOwed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var full []herald.Incident
			var ids []string
			for _, in := range owed {
				if in.Kind == herald.KindIncident {
					full = append(full, in)
					ids = append(ids, in.ID)
				}
			}
			told, err := s.Communications(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			reports, err := s.RegulatorReports(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			light, lightTold, lightReports, err := s.ClockState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(full) != 4 || len(light) != len(full) {
				t.Fatalf("%d owed incidents in the full read, %d in the light one; want 4", len(full), len(light))
			}
			if len(lightReports) != 1 {
				t.Errorf("%d regulator reports in the light read, want 1", len(lightReports))
			}
			for i := range full {
				if light[i].ID != full[i].ID {
					t.Fatalf("incident %d: light %s, full %s", i, light[i].ID, full[i].ID)
				}
				want := herald.Obligations(plan, full[i], told, reports)
				got := herald.Obligations(plan, light[i], lightTold, lightReports)
				if len(want) == 0 {
					t.Errorf("%s: no obligations; the case tests nothing", full[i].Name)
				}
				if d := gocmp.Diff(want, got); d != "" {
					t.Errorf("%s: obligations from the light read differ (-full +light):\n%s", full[i].Name, d)
				}
			}
		})
	}
}
