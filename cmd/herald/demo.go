package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
)

// demoData fills the database with what the benchmark and a demo need: 90
// days of status history with resolved incidents along it, three active
// incidents of twenty updates each, and an upcoming maintenance. It goes
// through the same domain and store calls as live use, with a moving clock.
func demoData(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	plan, err := config.LoadPlan(cfg.ConfigFile)
	if err != nil {
		return err
	}
	real := time.Now().UTC()
	clock := real.Add(-91 * 24 * time.Hour)
	st, err := openStore(ctx, cfg, store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if err := st.SyncComponents(ctx, plan.Groups, plan.Components); err != nil {
		return err
	}
	comps, err := st.Components(ctx)
	if err != nil {
		return err
	}
	for _, c := range comps {
		if err := st.RecordStatusAt(ctx, c.ID, herald.Operational, clock, "demo"); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	pick := func() herald.Component { return comps[rng.IntN(len(comps))] }
	names := []string{"Elevated API error rates", "Delayed loan disbursements", "Partner webhook delivery delays",
		"Customer portal login failures", "Slow credit decisions", "Admin dashboard unavailable",
		"Bureau integration timeouts", "Intermittent 502s on the API"}

	// Resolved incidents along the 90 days.
	for day := 88; day > 2; day -= 7 + rng.IntN(5) {
		clock = real.Add(-time.Duration(day)*24*time.Hour + time.Duration(rng.IntN(20))*time.Hour)
		c := pick()
		status := []herald.ComponentStatus{herald.DegradedPerformance, herald.PartialOutage, herald.MajorOutage}[rng.IntN(3)]
		in, err := st.Declare(ctx, herald.Declaration{Name: names[rng.IntN(len(names))], Impact: herald.ImpactMajor,
			Body:       "We are investigating reports of problems with " + c.Name + ".",
			Components: []herald.ComponentTarget{{ComponentID: c.ID, Status: status}}}, "demo")
		if err != nil {
			return err
		}
		for _, s := range []herald.Status{herald.Identified, herald.Monitoring, herald.Resolved} {
			clock = clock.Add(time.Duration(10+rng.IntN(50)) * time.Minute)
			body := map[herald.Status]string{herald.Identified: "The cause has been identified and a fix is being rolled out.",
				herald.Monitoring: "A fix has been deployed; we are monitoring the results.",
				herald.Resolved:   "This incident has been resolved."}[s]
			if _, err := st.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: s, Body: body}, "demo"); err != nil {
				return err
			}
		}
	}

	// Three active incidents of twenty updates each.
	for i := range 3 {
		clock = real.Add(-time.Duration(3-i) * 3 * time.Hour)
		c := comps[i]
		in, err := st.Declare(ctx, herald.Declaration{Name: names[i], Impact: []herald.Impact{herald.ImpactMinor, herald.ImpactMajor, herald.ImpactCritical}[i],
			Body:       "We are investigating elevated errors on " + c.Name + ". <b>Markup stays text.</b>",
			Components: []herald.ComponentTarget{{ComponentID: c.ID, Status: []herald.ComponentStatus{herald.DegradedPerformance, herald.PartialOutage, herald.MajorOutage}[i]}}}, "demo")
		if err != nil {
			return err
		}
		for n := 2; n <= 20; n++ {
			clock = clock.Add(time.Duration(3+rng.IntN(5)) * time.Minute)
			s := herald.Investigating
			switch {
			case n > 14:
				s = herald.Monitoring
			case n > 6:
				s = herald.Identified
			}
			body := fmt.Sprintf("Update %d: engineers are working through the failover runbook for %s; next update within 15 minutes.", n, c.Name)
			if _, err := st.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: s, Body: body}, "demo"); err != nil {
				return err
			}
		}
	}

	// An upcoming maintenance.
	clock = real
	from := real.Add(48 * time.Hour).Truncate(time.Hour)
	if _, err := st.Declare(ctx, herald.Declaration{Kind: herald.KindMaintenance, Name: "Database failover drill (eu-west-1)",
		Body:         "Monthly failover test of the database primary to the standby region. Short periods of read-only mode are expected.",
		ScheduledFor: from, ScheduledUntil: from.Add(2 * time.Hour),
		Components: []herald.ComponentTarget{{ComponentID: comps[1].ID}}}, "demo"); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "herald: demo data added: 90 days of history, 3 active incidents, 1 upcoming maintenance")
	return nil
}
