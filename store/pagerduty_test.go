package store_test

import (
	"database/sql"
	"errors"
	"fmt"
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

// TestPagerDuty is PagerDuty's part of the conformance suite, in (webhook
// events opening, joining and annotating incidents) and out (pages queued
// for the engine): every case runs on SQLite and on PostgreSQL, each on a
// fresh database, with deliveries enabled on the default plan.
func TestPagerDuty(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, dialect string)
	}{
		{"RecordEventOnce", testPDRecordOnce},
		{"TriggerOpensIncident", testPDTriggerOpensIncident},
		{"SecondTriggerJoins", testPDSecondTriggerJoins},
		{"UnknownServiceNeedsTriage", testPDUnknownService},
		{"LaterEventsOnTheTimeline", testPDLaterEvents},
		{"ResolvedAsksTheCommander", testPDResolvedAsks},
		{"AutoResolve", testPDAutoResolve},
		{"UnknownIncidentIgnored", testPDUnknownIncident},
		{"AppliedOnce", testPDAppliedOnce},
		{"TriggerForHeraldsPage", testPDTriggerForHeraldsPage},
		{"PagesOut", testPDPagesOut},
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

// pdWorld is one PagerDuty test's database: the default plan's
// components, deliveries enabled, and a read-only look at the tables the
// store has no reader for (the webhook events).
type pdWorld struct {
	s     *store.Store
	clk   *clock
	plan  herald.Plan
	peek  *sql.DB
	comps map[string]herald.Component
}

func newPDWorld(t *testing.T, dialect string, edit func(*herald.Plan)) *pdWorld {
	t.Helper()
	ctx := t.Context()
	dialectOf, dsn, err := config.SplitDatabaseURL(storetest.URL(t, dialect))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: base}
	s, err := store.Open(ctx, dialectOf, dsn, store.Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("Open %s: %v", dialect, err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	driver, peekDSN := "pgx", dsn
	if dialect == store.SQLite {
		driver, peekDSN = "sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)"
	}
	peek, err := sql.Open(driver, peekDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peek.Close() })

	plan, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&plan)
	}
	s.EnableDeliveries(plan)
	s.EnablePaging(true) // as when a routing key is configured
	if err := s.SyncComponents(ctx, plan.Groups, plan.Components); err != nil {
		t.Fatal(err)
	}
	clk.Set(base.Add(time.Hour))
	return &pdWorld{s: s, clk: clk, plan: plan, peek: peek, comps: componentsByKey(t, s)}
}

// pdEvent is a webhook event on PagerDuty incident pdID; a trigger on the
// Route 53 health check unless changed.
func pdEvent(id, typ, pdID string, change ...func(*herald.PagerDutyEvent)) herald.PagerDutyEvent {
	ev := herald.PagerDutyEvent{ID: id, Type: typ, OccurredAt: base.Add(time.Hour), IncidentID: pdID, Number: 42,
		ServiceID: "PR53HC1", ServiceName: "Route 53 health check af-south-1", Title: "af-south-1 health check failing",
		HTMLURL: "https://kredete.pagerduty.com/incidents/" + pdID, Priority: "P1", Urgency: "high", Agent: "Sipho Dube"}
	for _, c := range change {
		c(&ev)
	}
	return ev
}

// apply records an event as the webhook does and applies it as the job
// does.
func (w *pdWorld) apply(t *testing.T, ev herald.PagerDutyEvent) {
	t.Helper()
	fresh, err := w.s.RecordPagerDutyEvent(t.Context(), ev)
	if err != nil || !fresh {
		t.Fatalf("RecordPagerDutyEvent(%s) = %v, %v; want a fresh event", ev.ID, fresh, err)
	}
	if err := w.s.ApplyPagerDutyEvent(t.Context(), ev.ID); err != nil {
		t.Fatalf("ApplyPagerDutyEvent(%s): %v", ev.ID, err)
	}
}

// pdRow is a stored webhook event as the tests compare it.
type pdRow struct {
	Type, PDIncident, Service string
	Processed                 bool
	Incident, Outcome         string
}

func (w *pdWorld) rows(t *testing.T, id string) []pdRow {
	t.Helper()
	// The id is the test's own: quoted inline, the query needs no
	// placeholder style.
	rows, err := w.peek.QueryContext(t.Context(), `SELECT event_type, pd_incident_id, service_id,
		CASE WHEN processed_at IS NULL THEN 0 ELSE 1 END, COALESCE(incident_id, ''), outcome
		FROM pagerduty_events WHERE id = '`+strings.ReplaceAll(id, "'", "''")+`'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []pdRow
	for rows.Next() {
		var r pdRow
		var processed int
		if err := rows.Scan(&r.Type, &r.PDIncident, &r.Service, &processed, &r.Incident, &r.Outcome); err != nil {
			t.Fatal(err)
		}
		r.Processed = processed == 1
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// outcome is what applying the event did.
func (w *pdWorld) outcome(t *testing.T, id string) pdRow {
	t.Helper()
	rows := w.rows(t, id)
	if len(rows) != 1 {
		t.Fatalf("%d stored events %s; want 1", len(rows), id)
	}
	return rows[0]
}

func (w *pdWorld) open(t *testing.T) []herald.Incident {
	t.Helper()
	list, err := w.s.OpenIncidents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// only is the one open incident.
func (w *pdWorld) only(t *testing.T) herald.Incident {
	t.Helper()
	list := w.open(t)
	if len(list) != 1 {
		t.Fatalf("%d open incidents; want 1", len(list))
	}
	return mustIncident(t, w.s, list[0].ID)
}

func (w *pdWorld) links(t *testing.T, incidentID string) []string {
	t.Helper()
	list, err := w.s.PagerDutyLinks(t.Context(), incidentID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range list {
		out = append(out, fmt.Sprintf("%s %s %s %s", l.PDIncidentID, l.ServiceID, l.Direction, l.Status))
	}
	return out
}

func (w *pdWorld) pdLines(t *testing.T, incidentID string) []string {
	t.Helper()
	tl, err := w.s.Timeline(t.Context(), incidentID, "pagerduty")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].Actor != store.PagerDutyActor {
			t.Errorf("pagerduty line %q by %q", tl[i].Summary, tl[i].Actor)
		}
		out = append(out, tl[i].Summary)
	}
	return out
}

// pages are the incident's PagerDuty deliveries, oldest first.
func (w *pdWorld) pages(t *testing.T, incidentID string) []string {
	t.Helper()
	ds, err := w.s.Deliveries(t.Context(), incidentID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		if d.Channel == herald.ChannelPagerDuty || d.Kind == herald.KindPageTrigger || d.Kind == herald.KindPageResolve {
			out = append(out, fmt.Sprintf("%s %s %s %s", d.Channel, d.Kind, d.Recipient, strings.TrimPrefix(d.Key, incidentID+"/")))
		}
	}
	return out
}

// pdSnapshot is everything an event may touch.
type pdSnapshot struct {
	Version    int64
	Open       []herald.Incident
	Components map[string]herald.Component
	Timeline   []herald.TimelineEvent
	Deliveries []herald.Delivery
	Links      []string
	Actions    []herald.Action
	Audit      []herald.AuditEntry
	Told       []herald.Communication
}

func (w *pdWorld) snapshot(t *testing.T, incidentID string) pdSnapshot {
	t.Helper()
	ctx := t.Context()
	snap := pdSnapshot{Version: version(t, w.s), Components: componentsByKey(t, w.s)}
	var err error
	if snap.Open, err = w.s.OpenIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	if snap.Audit, err = w.s.Audit(ctx, "", 1000); err != nil {
		t.Fatal(err)
	}
	if incidentID == "" {
		return snap
	}
	if snap.Timeline, err = w.s.Timeline(ctx, incidentID, ""); err != nil {
		t.Fatal(err)
	}
	if snap.Deliveries, err = w.s.Deliveries(ctx, incidentID, 1000); err != nil {
		t.Fatal(err)
	}
	snap.Links = w.links(t, incidentID)
	if snap.Actions, err = w.s.Actions(ctx, incidentID); err != nil {
		t.Fatal(err)
	}
	if snap.Told, err = w.s.Communications(ctx, []string{incidentID}); err != nil {
		t.Fatal(err)
	}
	return snap
}

// unchanged checks a no-op left everything as it was. The page version is
// left out: applying an event is one writing transaction, which counts as
// a write even when the event turns out to need nothing.
func (w *pdWorld) unchanged(t *testing.T, what string, before pdSnapshot, incidentID string) {
	t.Helper()
	after := w.snapshot(t, incidentID)
	after.Version = before.Version
	if diff := gocmp.Diff(before, after); diff != "" {
		t.Errorf("%s changed the database (-before +after):\n%s", what, diff)
	}
}

// testPDRecordOnce: a webhook event is stored once, unprocessed until its
// job runs; a redelivery (the same id) is not stored or queued again.
func testPDRecordOnce(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	ctx := t.Context()
	ev := pdEvent("ev-1", herald.PDTriggered, "PD1")
	for i, want := range []bool{true, false, false} {
		fresh, err := w.s.RecordPagerDutyEvent(ctx, ev)
		if err != nil || fresh != want {
			t.Fatalf("RecordPagerDutyEvent #%d = %v, %v; want %v", i+1, fresh, err, want)
		}
	}
	want := []pdRow{{Type: herald.PDTriggered, PDIncident: "PD1", Service: "PR53HC1"}}
	if diff := gocmp.Diff(want, w.rows(t, "ev-1")); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
	if n := len(w.open(t)); n != 0 {
		t.Errorf("%d incidents open before the event is applied", n)
	}
	// Another event is another row.
	if fresh, err := w.s.RecordPagerDutyEvent(ctx, pdEvent("ev-2", herald.PDAcknowledged, "PD1")); err != nil || !fresh {
		t.Fatalf("a second event: %v, %v", fresh, err)
	}
	if err := w.s.ApplyPagerDutyEvent(ctx, "ev-1"); err != nil {
		t.Fatal(err)
	}
	if r := w.outcome(t, "ev-1"); !r.Processed || r.Incident == "" || r.Outcome != "opened a new incident" {
		t.Errorf("after applying: %+v", r)
	}
	if err := w.s.ApplyPagerDutyEvent(ctx, "nosuchevent"); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("ApplyPagerDutyEvent of an unknown event = %v; want ErrNotFound", err)
	}
}

// testPDTriggerOpensIncident: an alert on the Route 53 health check opens
// a critical incident on every component, linked in, told to the public
// and engineering, with the region failover started by the rule, and is
// not paged back to PagerDuty.
func testPDTriggerOpensIncident(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	ctx := t.Context()
	ev := pdEvent("ev-1", herald.PDTriggered, "PD1")
	now := us(base.Add(time.Hour))
	w.apply(t, ev)

	in := w.only(t)
	if in.Name != "af-south-1 health check failing" || in.Impact != herald.ImpactCritical || in.Status != herald.Investigating ||
		in.Kind != herald.KindIncident || !in.CreatedAt.Equal(now) || in.Triage != "" || in.Drill {
		t.Errorf("incident %+v", in)
	}
	var affected []string
	for _, id := range in.ComponentIDs {
		for k, c := range w.comps {
			if c.ID == id {
				affected = append(affected, k)
			}
		}
	}
	wantAffected := []string{"api-platform", "credit-origination", "partner-integrations", "customer-portal", "admin-dashboard"}
	if diff := gocmp.Diff(wantAffected, affected); diff != "" {
		t.Errorf("affected components (-want +got):\n%s", diff)
	}
	for k, c := range componentsByKey(t, w.s) {
		if c.Status != herald.MajorOutage {
			t.Errorf("component %s is %s; want major_outage", k, c.Status)
		}
	}
	if diff := gocmp.Diff([]string{"PD1 PR53HC1 in triggered"}, w.links(t, in.ID)); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	wantLines := []string{"PagerDuty #42 triggered on Route 53 health check af-south-1: af-south-1 health check failing"}
	if diff := gocmp.Diff(wantLines, w.pdLines(t, in.ID)); diff != "" {
		t.Errorf("pagerduty lines (-want +got):\n%s", diff)
	}
	told, err := w.s.Communications(ctx, []string{in.ID})
	if err != nil {
		t.Fatal(err)
	}
	var audiences []string
	for _, c := range told {
		audiences = append(audiences, c.Audience)
		first := in.Updates[len(in.Updates)-1].Body
		if c.Author != store.PagerDutyActor || c.Body != first || !strings.HasPrefix(c.Body,
			"We are investigating reports of problems with API Platform, ") || strings.Contains(c.Body, "Next update by") {
			t.Errorf("communication %+v", c)
		}
	}
	if diff := gocmp.Diff([]string{"engineering", "public"}, slices.Sorted(slices.Values(audiences))); diff != "" {
		t.Errorf("audiences told (-want +got):\n%s", diff)
	}
	actions, err := w.s.Actions(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) != 1 {
		t.Fatalf("%d actions; want the region failover", len(actions))
	}
	a := actions[0]
	if a.Kind != herald.ProcedureRegion || a.Key != "primary-region" || a.State != herald.ActionRunning ||
		a.Rule != "pagerduty:PR53HC1" || a.RequestedBy != (herald.Actor{Name: herald.EngineActor}) || a.StartedAt == nil ||
		!a.StartedAt.Equal(now) || len(a.Steps) != 4 || a.Reason != "PagerDuty alert on Route 53 health check af-south-1" {
		t.Errorf("action %+v", a)
	}
	if diff := gocmp.Diff([]string{}, w.pages(t, in.ID)); diff != "" {
		t.Errorf("an incident from PagerDuty paged PagerDuty (-want +got):\n%s", diff)
	}
	if r := w.outcome(t, "ev-1"); !r.Processed || r.Incident != in.ID || r.Outcome != "opened a new incident" {
		t.Errorf("stored event %+v", r)
	}
	if entries, err := w.s.Audit(ctx, in.ID, 100); err != nil || !hasAudit(entries, "incident.declare", store.PagerDutyActor) ||
		!hasAudit(entries, "action.request", herald.EngineActor) {
		t.Errorf("audit %v, %+v; want the declaration by PagerDuty and the action by the engine", err, entries)
	}
}

func hasAudit(entries []herald.AuditEntry, action, actor string) bool {
	for _, e := range entries {
		if e.Action == action && e.Actor == actor {
			return true
		}
	}
	return false
}

// testPDSecondTriggerJoins: another alert on the same service while the
// incident is open joins it: one incident, two links, one action.
func testPDSecondTriggerJoins(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	w.apply(t, pdEvent("ev-1", herald.PDTriggered, "PD1"))
	first := w.only(t)
	w.clk.Advance(time.Minute)
	w.apply(t, pdEvent("ev-2", herald.PDTriggered, "PD2", func(ev *herald.PagerDutyEvent) { ev.Number = 43 }))

	in := w.only(t)
	if in.ID != first.ID {
		t.Fatalf("the second alert opened %s; want it to join %s", in.ID, first.ID)
	}
	if diff := gocmp.Diff([]string{"PD1 PR53HC1 in triggered", "PD2 PR53HC1 in triggered"}, w.links(t, in.ID)); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	want := []string{
		"PagerDuty #42 triggered on Route 53 health check af-south-1: af-south-1 health check failing",
		"PagerDuty #43 triggered on Route 53 health check af-south-1: af-south-1 health check failing (joined this incident: same service)",
	}
	if diff := gocmp.Diff(want, w.pdLines(t, in.ID)); diff != "" {
		t.Errorf("pagerduty lines (-want +got):\n%s", diff)
	}
	if actions, err := w.s.Actions(t.Context(), in.ID); err != nil || len(actions) != 1 {
		t.Errorf("%d actions, %v; want the first alert's only", len(actions), err)
	}
	if r := w.outcome(t, "ev-2"); r.Incident != in.ID || r.Outcome != "joined the open incident on the same service" {
		t.Errorf("stored event %+v", r)
	}

	// Once the incident is resolved, the next alert opens a new one.
	if _, err := w.s.PostUpdate(t.Context(), in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Recovered."}, "Ada Obi"); err != nil {
		t.Fatal(err)
	}
	w.apply(t, pdEvent("ev-3", herald.PDTriggered, "PD3"))
	if next := w.only(t); next.ID == in.ID {
		t.Errorf("an alert after the resolution joined the resolved incident")
	}
}

// testPDUnknownService: an alert on a service the plan does not map opens
// an incident on the default component, flagged for triage, at the
// priority's impact, with no failover started.
func testPDUnknownService(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	w.apply(t, pdEvent("ev-1", herald.PDTriggered, "PD9", func(ev *herald.PagerDutyEvent) {
		ev.ServiceID, ev.ServiceName, ev.Priority, ev.Title = "PUNKNWN", "Batch jobs", "P2", "Nightly batch stuck"
	}))
	in := w.only(t)
	wantTriage := "PagerDuty service Batch jobs (PUNKNWN) is not mapped in the configuration: the affected components were defaulted; check them"
	if in.Triage != wantTriage || in.Impact != herald.ImpactMajor || in.Name != "Nightly batch stuck" {
		t.Errorf("incident: triage %q, impact %s, name %q", in.Triage, in.Impact, in.Name)
	}
	if diff := gocmp.Diff([]string{w.comps["api-platform"].ID}, in.ComponentIDs); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if st := componentsByKey(t, w.s)["api-platform"].Status; st != herald.PartialOutage {
		t.Errorf("api-platform is %s; want partial_outage (major impact)", st)
	}
	want := []string{"PagerDuty #42 triggered on Batch jobs: Nightly batch stuck", "Needs triage: " + wantTriage}
	if diff := gocmp.Diff(want, w.pdLines(t, in.ID)); diff != "" {
		t.Errorf("pagerduty lines (-want +got):\n%s", diff)
	}
	if actions, err := w.s.Actions(t.Context(), in.ID); err != nil || len(actions) != 0 {
		t.Errorf("%d actions, %v; want none", len(actions), err)
	}
	if diff := gocmp.Diff([]string{}, w.pages(t, in.ID)); diff != "" {
		t.Errorf("a major incident from PagerDuty paged PagerDuty (-want +got):\n%s", diff)
	}
}

// testPDLaterEvents: what the on-call does in PagerDuty lands on the
// linked incident's timeline and the link's status.
func testPDLaterEvents(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	w.apply(t, pdEvent("ev-1", herald.PDTriggered, "PD1"))
	in := w.only(t)
	tests := []struct {
		ev      herald.PagerDutyEvent
		line    string
		status  string
		outcome string
	}{
		{pdEvent("ev-2", herald.PDAcknowledged, "PD1"), "PagerDuty #42 acknowledged by Sipho Dube", "acknowledged", "recorded"},
		{pdEvent("ev-3", herald.PDAnnotated, "PD1", func(ev *herald.PagerDutyEvent) { ev.Note = "Route 53 is failing over" }),
			"PagerDuty #42 note by Sipho Dube: Route 53 is failing over", "acknowledged", "recorded"},
		{pdEvent("ev-4", herald.PDReassigned, "PD1", func(ev *herald.PagerDutyEvent) {
			ev.Assignees, ev.Status = []string{"Thandi M", "Kofi A"}, "acknowledged"
		}), "PagerDuty #42 reassigned to Thandi M, Kofi A by Sipho Dube", "acknowledged", "recorded"},
		{pdEvent("ev-5", "incident.responder.added", "PD1", func(ev *herald.PagerDutyEvent) { ev.Status = "acknowledged" }),
			"", "acknowledged", "ignored: incident.responder.added is not recorded"},
		{pdEvent("ev-6", herald.PDPriorityUpdated, "PD1", func(ev *herald.PagerDutyEvent) { ev.Priority, ev.Status = "P2", "acknowledged" }),
			"PagerDuty #42 priority set to P2 by Sipho Dube", "acknowledged", "recorded"},
	}
	lines := w.pdLines(t, in.ID)
	for _, tt := range tests {
		t.Run(tt.ev.Type, func(t *testing.T) {
			w.clk.Advance(time.Minute)
			w.apply(t, tt.ev)
			if tt.line != "" {
				lines = append(lines, tt.line)
			}
			if diff := gocmp.Diff(lines, w.pdLines(t, in.ID)); diff != "" {
				t.Errorf("pagerduty lines (-want +got):\n%s", diff)
			}
			if diff := gocmp.Diff([]string{"PD1 PR53HC1 in " + tt.status}, w.links(t, in.ID)); diff != "" {
				t.Errorf("link (-want +got):\n%s", diff)
			}
			if r := w.outcome(t, tt.ev.ID); !r.Processed || r.Incident != in.ID || r.Outcome != tt.outcome {
				t.Errorf("stored event %+v; want outcome %q", r, tt.outcome)
			}
		})
	}
	// PagerDuty's priority is PagerDuty's: the impact stays the commander's.
	if got := mustIncident(t, w.s, in.ID); got.Impact != herald.ImpactCritical || got.Status != herald.Investigating {
		t.Errorf("after the events: %s, %s", got.Impact, got.Status)
	}
}

// testPDResolvedAsks: PagerDuty's resolution (auto_resolve off) leaves
// Herald's incident open and asks the commander; a reopening withdraws
// the question.
func testPDResolvedAsks(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	w.apply(t, pdEvent("ev-1", herald.PDTriggered, "PD1"))
	in := w.only(t)
	resolvedAt := base.Add(90 * time.Minute)
	w.clk.Set(base.Add(91 * time.Minute))
	w.apply(t, pdEvent("ev-2", herald.PDResolved, "PD1", func(ev *herald.PagerDutyEvent) { ev.OccurredAt = resolvedAt }))

	got := mustIncident(t, w.s, in.ID)
	if !got.Open() || got.ResolvedAt != nil || got.PagerDutyResolvedAt == nil || !got.PagerDutyResolvedAt.Equal(us(resolvedAt)) ||
		got.Version != in.Version+1 {
		t.Errorf("after PagerDuty's resolution: %s, resolved %v, PagerDuty resolved %v, version %d", got.Status, got.ResolvedAt,
			got.PagerDutyResolvedAt, got.Version)
	}
	lines := w.pdLines(t, in.ID)
	if last := lines[len(lines)-1]; last != "PagerDuty #42 resolved by Sipho Dube. The commander decides when Herald's incident is resolved: "+
		"resolve it in the console once service is restored" {
		t.Errorf("last line %q", last)
	}
	if diff := gocmp.Diff([]string{"PD1 PR53HC1 in resolved"}, w.links(t, in.ID)); diff != "" {
		t.Errorf("link (-want +got):\n%s", diff)
	}
	if r := w.outcome(t, "ev-2"); r.Outcome != "commander asked to resolve" {
		t.Errorf("stored event %+v", r)
	}
	if diff := gocmp.Diff([]string{}, w.pages(t, in.ID)); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	w.apply(t, pdEvent("ev-3", herald.PDReopened, "PD1"))
	if got := mustIncident(t, w.s, in.ID); got.PagerDutyResolvedAt != nil || !got.Open() {
		t.Errorf("after PagerDuty reopened: PagerDuty resolved %v, %s", got.PagerDutyResolvedAt, got.Status)
	}
	if diff := gocmp.Diff([]string{"PD1 PR53HC1 in triggered"}, w.links(t, in.ID)); diff != "" {
		t.Errorf("link after reopening (-want +got):\n%s", diff)
	}
}

// testPDAutoResolve: with auto_resolve, PagerDuty's resolution resolves
// Herald's incident with the resolved template.
func testPDAutoResolve(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, func(p *herald.Plan) { p.PagerDuty.AutoResolve = true })
	w.apply(t, pdEvent("ev-1", herald.PDTriggered, "PD1"))
	in := w.only(t)
	now := w.clk.Advance(30 * time.Minute)
	w.apply(t, pdEvent("ev-2", herald.PDResolved, "PD1"))

	got := mustIncident(t, w.s, in.ID)
	if got.Open() || got.Status != herald.Resolved || got.ResolvedAt == nil || !got.ResolvedAt.Equal(now) {
		t.Errorf("after PagerDuty's resolution: %s, resolved %v", got.Status, got.ResolvedAt)
	}
	if got.Updates[0].Status != herald.Resolved || got.Updates[0].Body == "" {
		t.Errorf("the resolving update %+v", got.Updates[0])
	}
	lines := w.pdLines(t, in.ID)
	if last := lines[len(lines)-1]; last != "PagerDuty #42 resolved by Sipho Dube: resolved here too (auto_resolve)" {
		t.Errorf("last line %q", last)
	}
	if r := w.outcome(t, "ev-2"); r.Outcome != "resolved" || r.Incident != in.ID {
		t.Errorf("stored event %+v", r)
	}
	if n := len(w.open(t)); n != 0 {
		t.Errorf("%d open incidents", n)
	}
	// Nothing was paged, so nothing is resolved at PagerDuty.
	if diff := gocmp.Diff([]string{}, w.pages(t, in.ID)); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

// testPDUnknownIncident: an event on a PagerDuty incident Herald never
// linked is recorded as ignored and changes nothing.
func testPDUnknownIncident(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	for _, typ := range []string{herald.PDAcknowledged, herald.PDAnnotated, herald.PDResolved, herald.PDReopened} {
		t.Run(typ, func(t *testing.T) {
			before := w.snapshot(t, "")
			id := "ev-" + typ
			fresh, err := w.s.RecordPagerDutyEvent(t.Context(), pdEvent(id, typ, "PDX"))
			if err != nil || !fresh {
				t.Fatal(fresh, err)
			}
			// PagerDuty does not promise order: at first the event waits
			// for its trigger (nothing stored), then it is recorded unlinked.
			var later *herald.RetryLater
			if err := w.s.ApplyPagerDutyEvent(t.Context(), id); !errors.As(err, &later) || later.After <= 0 {
				t.Fatalf("an unlinked event at once: %v, want a wait for its trigger", err)
			}
			if r := w.outcome(t, id); r.Processed {
				t.Fatalf("an event waiting for its trigger was recorded: %+v", r)
			}
			w.clk.Advance(store.PagerDutyOrderWait)
			if err := w.s.ApplyPagerDutyEvent(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			r := w.outcome(t, id)
			if !r.Processed || r.Incident != "" || !strings.HasPrefix(r.Outcome, "ignored") {
				t.Errorf("stored event %+v; want it processed and ignored", r)
			}
			w.unchanged(t, "an event on an unknown PagerDuty incident", before, "")
		})
	}
}

// testPDAppliedOnce: the job run twice (a retry after a lost
// acknowledgement) applies the event once.
func testPDAppliedOnce(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	ctx := t.Context()
	for _, ev := range []herald.PagerDutyEvent{
		pdEvent("ev-1", herald.PDTriggered, "PD1"),
		pdEvent("ev-2", herald.PDAnnotated, "PD1", func(ev *herald.PagerDutyEvent) { ev.Note = "looking" }),
		pdEvent("ev-3", herald.PDResolved, "PD1"),
	} {
		t.Run(ev.Type, func(t *testing.T) {
			w.clk.Advance(time.Minute)
			w.apply(t, ev)
			in := w.open(t)[0]
			before := w.snapshot(t, in.ID)
			w.clk.Advance(time.Minute)
			if err := w.s.ApplyPagerDutyEvent(ctx, ev.ID); err != nil {
				t.Fatal(err)
			}
			w.unchanged(t, "applying "+ev.Type+" again", before, in.ID)
		})
	}
}

// testPDTriggerForHeraldsPage: the alert Herald's own page opened (its
// dedup key is Herald's incident id) links to that incident, out, and
// opens nothing.
func testPDTriggerForHeraldsPage(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	ctx := t.Context()
	in, err := w.s.Declare(ctx, herald.Declaration{Name: "Card payments failing", Body: "b", Impact: herald.ImpactMajor}, "Ada Obi")
	if err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(time.Minute)
	w.apply(t, pdEvent("ev-1", herald.PDTriggered, "PDOUT", func(ev *herald.PagerDutyEvent) {
		ev.IncidentKey, ev.ServiceID, ev.ServiceName, ev.Number = in.ID, "PHERALD", "Herald", 7
	}))
	if list := w.open(t); len(list) != 1 || list[0].ID != in.ID {
		t.Fatalf("open incidents %v; want only %s", list, in.ID)
	}
	if diff := gocmp.Diff([]string{"PDOUT PHERALD out triggered"}, w.links(t, in.ID)); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"PagerDuty #7 opened for this incident (paged by Herald)"}, w.pdLines(t, in.ID)); diff != "" {
		t.Errorf("pagerduty lines (-want +got):\n%s", diff)
	}
	if r := w.outcome(t, "ev-1"); r.Incident != in.ID || r.Outcome != "linked to the incident Herald paged for" {
		t.Errorf("stored event %+v", r)
	}
	// The on-call's acknowledgement lands here; Herald's resolution stands
	// the page down.
	w.apply(t, pdEvent("ev-2", herald.PDAcknowledged, "PDOUT", func(ev *herald.PagerDutyEvent) { ev.Number = 7 }))
	if lines := w.pdLines(t, in.ID); lines[len(lines)-1] != "PagerDuty #7 acknowledged by Sipho Dube" {
		t.Errorf("pagerduty lines %q", lines)
	}
	if _, err := w.s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Fixed."}, "Ada Obi"); err != nil {
		t.Fatal(err)
	}
	want := []string{"pagerduty page_trigger events-v2 pagerduty/trigger/1", "pagerduty page_resolve events-v2 pagerduty/resolve/1"}
	if diff := gocmp.Diff(want, w.pages(t, in.ID)); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

// testPDPagesOut: Herald pages PagerDuty when an incident reaches
// trigger_at (major), once while it stays there, and stands the page down
// when it resolves; it never pages for a drill, below trigger_at, or for an
// incident that came from PagerDuty.
func testPDPagesOut(t *testing.T, dialect string) {
	w := newPDWorld(t, dialect, nil)
	ctx := t.Context()
	trigger := func(n int) string { return fmt.Sprintf("pagerduty page_trigger events-v2 pagerduty/trigger/%d", n) }
	resolve := func(n int) string { return fmt.Sprintf("pagerduty page_resolve events-v2 pagerduty/resolve/%d", n) }
	declare := func(impact herald.Impact, drill bool) func(t *testing.T) string {
		return func(t *testing.T) string {
			t.Helper()
			in, err := w.s.Declare(ctx, herald.Declaration{Name: "Payments " + string(impact), Body: "We are investigating.",
				Impact: impact, Drill: drill, Components: []herald.ComponentTarget{{ComponentID: w.comps["customer-portal"].ID,
					Status: herald.DegradedPerformance}}}, "Ada Obi")
			if err != nil {
				t.Fatal(err)
			}
			return in.ID
		}
	}
	update := func(status herald.Status, impact herald.Impact) func(t *testing.T, id string) {
		return func(t *testing.T, id string) {
			t.Helper()
			if _, err := w.s.PostUpdate(ctx, id, herald.UpdateInput{Status: status, Impact: impact, Body: "Update."}, "Ada Obi"); err != nil {
				t.Fatalf("PostUpdate %s %s: %v", status, impact, err)
			}
		}
	}
	reopen := func(t *testing.T, id string) {
		t.Helper()
		if _, err := w.s.Reopen(ctx, id, "It is back.", "Ada Obi"); err != nil {
			t.Fatal(err)
		}
	}
	fromPagerDuty := func(t *testing.T) string {
		t.Helper()
		w.apply(t, pdEvent("ev-minor", herald.PDTriggered, "PDMINOR", func(ev *herald.PagerDutyEvent) {
			ev.ServiceID, ev.ServiceName, ev.Priority = "PCREDIT", "Credit origination service", "P3"
		}))
		for _, in := range w.open(t) {
			if links := w.links(t, in.ID); len(links) == 1 && strings.HasPrefix(links[0], "PDMINOR ") {
				return in.ID
			}
		}
		t.Fatal("no incident from PagerDuty")
		return ""
	}

	tests := []struct {
		name    string
		declare func(t *testing.T) string
		then    []func(t *testing.T, id string)
		off     bool // paging not enabled: no routing key
		want    []string
	}{
		{name: "declared major", declare: declare(herald.ImpactMajor, false), want: []string{trigger(1)}},
		{name: "declared critical", declare: declare(herald.ImpactCritical, false), want: []string{trigger(1)}},
		{name: "declared minor", declare: declare(herald.ImpactMinor, false), want: []string{}},
		{name: "a drill at major", declare: declare(herald.ImpactMajor, true), want: []string{}},
		{name: "minor raised to major", declare: declare(herald.ImpactMinor, false),
			then: []func(*testing.T, string){update(herald.Identified, herald.ImpactMajor)}, want: []string{trigger(1)}},
		{name: "major raised to critical", declare: declare(herald.ImpactMajor, false),
			then: []func(*testing.T, string){update(herald.Identified, herald.ImpactCritical)}, want: []string{trigger(1)}},
		{name: "major lowered to minor and raised again", declare: declare(herald.ImpactMajor, false),
			then: []func(*testing.T, string){update(herald.Identified, herald.ImpactMinor), update(herald.Monitoring, herald.ImpactMajor)},
			want: []string{trigger(1), trigger(2)}},
		{name: "major resolved", declare: declare(herald.ImpactMajor, false),
			then: []func(*testing.T, string){update(herald.Resolved, "")}, want: []string{trigger(1), resolve(1)}},
		{name: "minor resolved", declare: declare(herald.ImpactMinor, false),
			then: []func(*testing.T, string){update(herald.Resolved, "")}, want: []string{}},
		{name: "major resolved and reopened", declare: declare(herald.ImpactMajor, false),
			then: []func(*testing.T, string){update(herald.Resolved, ""), reopen}, want: []string{trigger(1), resolve(1), trigger(2)}},
		{name: "paging off: major raised to critical and resolved", declare: declare(herald.ImpactMajor, false), off: true,
			then: []func(*testing.T, string){update(herald.Identified, herald.ImpactCritical), update(herald.Resolved, "")},
			want: []string{}},
		{name: "from PagerDuty, raised to major and resolved", declare: fromPagerDuty,
			then: []func(*testing.T, string){update(herald.Identified, herald.ImpactMajor), update(herald.Resolved, "")},
			want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.off {
				w.s.EnablePaging(false)
				defer w.s.EnablePaging(true)
			}
			w.clk.Advance(time.Minute)
			id := tt.declare(t)
			for _, then := range tt.then {
				w.clk.Advance(time.Minute)
				then(t, id)
			}
			if diff := gocmp.Diff(tt.want, w.pages(t, id)); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
			in := mustIncident(t, w.s, id)
			ds, err := w.s.Deliveries(ctx, id, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				switch d.Kind {
				case herald.KindPageTrigger:
					if d.Subject != "["+in.Impact.Label()+"] "+in.Name && !strings.HasSuffix(d.Subject, "] "+in.Name) {
						t.Errorf("trigger subject %q", d.Subject)
					}
					if d.State != herald.DeliveryQueued || d.Body == "" {
						t.Errorf("trigger %+v", d)
					}
				case herald.KindPageResolve:
					if d.Subject != "Resolved: "+in.Name {
						t.Errorf("resolve subject %q", d.Subject)
					}
				}
			}
		})
	}
}
