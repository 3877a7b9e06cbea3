package statusapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Africa/Lagos on machines without a zone database

	"github.com/kredete/herald"
	"github.com/kredete/herald/statusapi"
	"github.com/kredete/herald/statusapi/statusapitest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// The fixture's page is in Africa/Lagos (UTC+1 all year), so every
// timestamp must carry +01:00: a document written in UTC would fail.
const (
	pageZone   = "Africa/Lagos"
	zoneOffset = "+01:00"
)

func lagos(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(pageZone)
	if err != nil {
		t.Fatalf("load %s: %v", pageZone, err)
	}
	return loc
}

// at parses a UTC instant of the fixture.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

var fixturePage = herald.Page{ID: "kredete", Name: "Kredete", URL: "https://status.kredete.com", TimeZone: pageZone}

// fixtureComponents are the five configured components as the store returns
// them, in display order. They were created at 23:30 UTC, which is already
// the next day in Lagos: start_date must say the 11th.
func fixtureComponents() []herald.Component {
	created := at("2026-01-10T23:30:00Z")
	mk := func(n int, id, key, name, desc string, s herald.ComponentStatus, updated string) herald.Component {
		return herald.Component{ID: id, Key: key, Name: name, Description: desc, Position: n, Status: s, Showcase: true,
			CreatedAt: created, UpdatedAt: at(updated)}
	}
	return []herald.Component{
		mk(1, "cmpapiplatfrm", "api-platform", "API Platform", "Public and partner-facing REST APIs.", herald.PartialOutage, "2026-11-25T12:00:00.250999Z"),
		mk(2, "cmpcreditorig", "credit-origination", "Credit Origination", "Loan applications, scoring and disbursement.", herald.DegradedPerformance, "2026-11-25T12:00:00.250999Z"),
		mk(3, "cmppartnerint", "partner-integrations", "Partner Integrations", "Connections to banks, bureaus and payment partners.", herald.UnderMaintenance, "2026-11-25T13:00:00Z"),
		mk(4, "cmpcustportal", "customer-portal", "Customer Portal", "The web and mobile experience for borrowers.", herald.Operational, "2026-11-20T09:30:00Z"),
		mk(5, "cmpadmindashb", "admin-dashboard", "Admin Dashboard", "", herald.Operational, "2026-01-10T23:30:00Z"),
	}
}

// fixtureIncidents are, newest first: an open incident with two updates
// (the first moved two components), an in-progress maintenance, a scheduled
// maintenance and a resolved incident.
func fixtureIncidents() []herald.Incident {
	open := herald.Incident{
		ID: "incopen00001", Kind: herald.KindIncident, Name: "Elevated API error rates", Status: herald.Identified,
		Impact: herald.ImpactMajor, ComponentIDs: []string{"cmpapiplatfrm", "cmpcreditorig"},
		CreatedAt: at("2026-11-25T12:00:00.250999Z"), UpdatedAt: at("2026-11-25T12:20:05.5Z"), StartedAt: at("2026-11-25T12:00:00.250999Z"),
		Updates: []herald.Update{
			{ID: "updopen00002", IncidentID: "incopen00001", Status: herald.Identified, Body: "The cause is a failed database node; failover is under way.",
				CreatedAt: at("2026-11-25T12:20:05.5Z"), UpdatedAt: at("2026-11-25T12:20:05.5Z"), DisplayAt: at("2026-11-25T12:20:05.5Z")},
			{ID: "updopen00001", IncidentID: "incopen00001", Status: herald.Investigating, Body: "We are investigating elevated error rates on the API.",
				CreatedAt: at("2026-11-25T12:00:00.250999Z"), UpdatedAt: at("2026-11-25T12:00:00.250999Z"), DisplayAt: at("2026-11-25T12:00:00.250999Z"),
				Changes: []herald.ComponentChange{
					{ComponentID: "cmpapiplatfrm", Name: "API Platform", Old: herald.Operational, New: herald.PartialOutage},
					{ComponentID: "cmpcreditorig", Name: "Credit Origination", Old: herald.Operational, New: herald.DegradedPerformance},
				}},
		},
	}
	progress := herald.Incident{
		ID: "mntprogress1", Kind: herald.KindMaintenance, Name: "Partner gateway upgrade", Status: herald.InProgress,
		Impact: herald.ImpactNone, ComponentIDs: []string{"cmppartnerint"},
		CreatedAt: at("2026-11-24T10:00:00Z"), UpdatedAt: at("2026-11-25T13:00:00Z"), StartedAt: at("2026-11-25T13:00:00Z"),
		ScheduledFor: ptr(at("2026-11-25T13:00:00Z")), ScheduledUntil: ptr(at("2026-11-25T15:00:00Z")),
		Updates: []herald.Update{
			{ID: "updprogress2", IncidentID: "mntprogress1", Status: herald.InProgress, Body: "The upgrade has started.",
				CreatedAt: at("2026-11-25T13:00:00Z"), UpdatedAt: at("2026-11-25T13:00:00Z"), DisplayAt: at("2026-11-25T13:00:00Z"),
				Changes: []herald.ComponentChange{{ComponentID: "cmppartnerint", Name: "Partner Integrations", Old: herald.Operational, New: herald.UnderMaintenance}}},
			{ID: "updprogress1", IncidentID: "mntprogress1", Status: herald.Scheduled, Body: "We will upgrade the partner gateway.",
				CreatedAt: at("2026-11-24T10:00:00Z"), UpdatedAt: at("2026-11-24T10:00:00Z"), DisplayAt: at("2026-11-24T10:00:00Z")},
		},
	}
	scheduled := herald.Incident{
		ID: "mntscheduled", Kind: herald.KindMaintenance, Name: "Database failover drill", Status: herald.Scheduled,
		Impact: herald.ImpactNone, ComponentIDs: []string{"cmpadmindashb"},
		CreatedAt: at("2026-11-23T16:45:30.007Z"), UpdatedAt: at("2026-11-23T16:45:30.007Z"), StartedAt: at("2026-11-27T01:00:00Z"),
		ScheduledFor: ptr(at("2026-11-27T01:00:00Z")), ScheduledUntil: ptr(at("2026-11-27T03:00:00Z")),
		Updates: []herald.Update{
			{ID: "updscheduled", IncidentID: "mntscheduled", Status: herald.Scheduled, Body: "Monthly failover test; short read-only periods are expected.",
				CreatedAt: at("2026-11-23T16:45:30.007Z"), UpdatedAt: at("2026-11-23T16:45:30.007Z"), DisplayAt: at("2026-11-23T16:45:30.007Z")},
		},
	}
	resolved := herald.Incident{
		ID: "incresolved1", Kind: herald.KindIncident, Name: "Customer portal login failures", Status: herald.Resolved,
		Impact: herald.ImpactMinor, ComponentIDs: []string{"cmpcustportal"},
		CreatedAt: at("2026-11-20T08:00:00Z"), UpdatedAt: at("2026-11-20T09:30:00Z"), StartedAt: at("2026-11-20T08:00:00Z"),
		MonitoringAt: ptr(at("2026-11-20T09:00:00Z")), ResolvedAt: ptr(at("2026-11-20T09:30:00Z")),
		Updates: []herald.Update{
			{ID: "updresolved3", IncidentID: "incresolved1", Status: herald.Resolved, Body: "This incident has been resolved.",
				CreatedAt: at("2026-11-20T09:30:00Z"), UpdatedAt: at("2026-11-20T09:30:00Z"), DisplayAt: at("2026-11-20T09:30:00Z"),
				Changes: []herald.ComponentChange{{ComponentID: "cmpcustportal", Name: "Customer Portal", Old: herald.MajorOutage, New: herald.Operational}}},
			{ID: "updresolved2", IncidentID: "incresolved1", Status: herald.Monitoring, Body: "A fix has been deployed; we are monitoring.",
				CreatedAt: at("2026-11-20T09:00:00Z"), UpdatedAt: at("2026-11-20T09:00:00Z"), DisplayAt: at("2026-11-20T09:00:00Z")},
			{ID: "updresolved1", IncidentID: "incresolved1", Status: herald.Investigating, Body: "Some customers cannot log in.",
				CreatedAt: at("2026-11-20T08:00:00Z"), UpdatedAt: at("2026-11-20T08:00:00Z"), DisplayAt: at("2026-11-20T08:00:00Z"),
				Changes: []herald.ComponentChange{{ComponentID: "cmpcustportal", Name: "Customer Portal", Old: herald.Operational, New: herald.MajorOutage}}},
		},
	}
	return []herald.Incident{open, progress, scheduled, resolved}
}

func fixtureInput(t testing.TB) statusapi.Input {
	comps, incidents := fixtureComponents(), fixtureIncidents()
	return statusapi.Input{Page: fixturePage, Location: lagos(t), UpdatedAt: at("2026-11-25T14:05:09.123456Z"),
		Components: comps, Incidents: incidents, Status: herald.Overall(comps, incidents)}
}

// documents names the eight documents after the API paths they serve.
func documents(d statusapi.Documents) []struct {
	name string
	doc  any
	kind any // the test-side type to decode into
} {
	return []struct {
		name string
		doc  any
		kind any
	}{
		{"summary", d.Summary, &apiSummary{}},
		{"status", d.Status, &apiStatusDoc{}},
		{"components", d.Components, &apiComponentsDoc{}},
		{"incidents", d.Incidents, &apiIncidentsDoc{}},
		{"incidents_unresolved", d.Unresolved, &apiIncidentsDoc{}},
		{"scheduled-maintenances", d.Maintenances, &apiMaintenancesDoc{}},
		{"scheduled-maintenances_upcoming", d.Upcoming, &apiMaintenancesDoc{}},
		{"scheduled-maintenances_active", d.Active, &apiMaintenancesDoc{}},
	}
}

func TestGolden(t *testing.T) {
	docs := statusapi.Build(fixtureInput(t))
	for _, d := range documents(docs) {
		t.Run(d.name, func(t *testing.T) {
			got, err := json.MarshalIndent(d.doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", d.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./statusapi -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run with -update if the change is intended):\n%s", d.name, path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// TestGoldenConformance reads every golden document back as a Statuspage
// client would: a strict decoder into types written from Statuspage's
// public API v2, every key present, value sets and timestamp forms checked.
// The golden files are what clients see, so this checks them, not the Go
// types that produced them.
func TestGoldenConformance(t *testing.T) {
	for _, d := range documents(statusapi.Documents{}) {
		t.Run(d.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", d.name+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			conform(t, b, d.kind, zoneOffset)
		})
	}
}

// TestFixtureContents pins what each list holds, so a golden file
// regenerated with -update cannot quietly accept a wrong document.
func TestFixtureContents(t *testing.T) {
	docs := statusapi.Build(fixtureInput(t))
	ids := func(v any) []string {
		var out []string
		rv := reflect.ValueOf(v)
		for i := range rv.Len() {
			out = append(out, rv.Index(i).FieldByName("ID").String())
		}
		return out
	}
	for _, c := range []struct {
		name string
		got  []string
		want []string
	}{
		{"summary.components", ids(docs.Summary.Components), []string{"cmpapiplatfrm", "cmpcreditorig", "cmppartnerint", "cmpcustportal", "cmpadmindashb"}},
		{"summary.incidents (unresolved only)", ids(docs.Summary.Incidents), []string{"incopen00001"}},
		{"summary.scheduled_maintenances (active, then upcoming)", ids(docs.Summary.ScheduledMaintenances), []string{"mntprogress1", "mntscheduled"}},
		{"incidents.json (incidents, not maintenance)", ids(docs.Incidents.Incidents), []string{"incopen00001", "incresolved1"}},
		{"incidents/unresolved.json", ids(docs.Unresolved.Incidents), []string{"incopen00001"}},
		{"scheduled-maintenances.json", ids(docs.Maintenances.ScheduledMaintenances), []string{"mntprogress1", "mntscheduled"}},
		{"scheduled-maintenances/upcoming.json", ids(docs.Upcoming.ScheduledMaintenances), []string{"mntscheduled"}},
		{"scheduled-maintenances/active.json", ids(docs.Active.ScheduledMaintenances), []string{"mntprogress1"}},
		{"open incident's components", ids(docs.Unresolved.Incidents[0].Components), []string{"cmpapiplatfrm", "cmpcreditorig"}},
		{"open incident's updates (newest first)", ids(docs.Unresolved.Incidents[0].IncidentUpdates), []string{"updopen00002", "updopen00001"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if got := docs.Status.Status; got.Indicator != "major" || got.Description != "Partial System Outage" {
		t.Errorf("status = %+v, want major / Partial System Outage", got)
	}
	if got := *docs.Components.Components[0].StartDate; got != "2026-01-11" {
		t.Errorf("start_date = %q, want the creation day in the page's zone, 2026-01-11", got)
	}
	if got := docs.Components.Components[4].Description; got != nil {
		t.Errorf("an empty description is written as %q, want null", *got)
	}
	first := docs.Unresolved.Incidents[0].IncidentUpdates[1].AffectedComponents
	if len(first) != 2 || first[0] != (statusapi.AffectedComponent{Code: "cmpapiplatfrm", Name: "API Platform", OldStatus: "operational", NewStatus: "partial_outage"}) {
		t.Errorf("affected_components of the first update = %+v", first)
	}
	if got := docs.Summary.Page.UpdatedAt.Format(statusapi.TimeLayout); got != "2026-11-25T15:05:09.123+01:00" {
		t.Errorf("page.updated_at = %s, want 2026-11-25T15:05:09.123+01:00 (milliseconds, Lagos offset)", got)
	}
	for _, m := range docs.Maintenances.ScheduledMaintenances {
		if m.Impact != "maintenance" {
			t.Errorf("maintenance %s has impact %q, want maintenance", m.ID, m.Impact)
		}
	}
}

// TestEmptyPage: a page with no incidents and no maintenance still has
// every key, its lists empty ([]) rather than null or missing.
func TestEmptyPage(t *testing.T) {
	comps := fixtureComponents()
	for i := range comps {
		comps[i].Status = herald.Operational
	}
	docs := statusapi.Build(statusapi.Input{Page: fixturePage, Location: lagos(t), UpdatedAt: at("2026-11-25T14:05:09.123Z"),
		Components: comps, Status: herald.Overall(comps, nil)})
	for _, d := range documents(docs) {
		t.Run(d.name, func(t *testing.T) {
			b, err := json.MarshalIndent(d.doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			conform(t, b, d.kind, zoneOffset)
			var top map[string]json.RawMessage
			if err := json.Unmarshal(b, &top); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"incidents", "scheduled_maintenances"} {
				if raw, ok := top[k]; ok && string(raw) != "[]" {
					t.Errorf("%s = %s on an empty page, want []", k, raw)
				}
			}
		})
	}
	if docs.Status.Status.Indicator != "none" {
		t.Errorf("indicator = %q, want none", docs.Status.Status.Indicator)
	}
	// No components at all is still a list.
	docs = statusapi.Build(statusapi.Input{Page: fixturePage, Location: lagos(t), UpdatedAt: at("2026-11-25T14:05:09.123Z"),
		Status: herald.Overall(nil, nil)})
	b, _ := json.Marshal(docs.Summary)
	if !bytes.Contains(b, []byte(`"components":[]`)) {
		t.Errorf("summary with no components: %s, want \"components\":[]", b)
	}
	conform(t, b, &apiSummary{}, zoneOffset)
}

// TestLimit: the list endpoints return at most 50 incidents, as Statuspage
// does, while unresolved.json lists every open one.
func TestLimit(t *testing.T) {
	base := at("2026-11-01T00:00:00Z")
	var list []herald.Incident
	for i := range 60 {
		ts := base.Add(-time.Duration(i) * time.Hour)
		list = append(list, herald.Incident{ID: fmt.Sprintf("inc%09d", i), Kind: herald.KindIncident, Name: "n",
			Status: herald.Investigating, Impact: herald.ImpactMinor, CreatedAt: ts, UpdatedAt: ts, StartedAt: ts})
	}
	docs := statusapi.Build(statusapi.Input{Page: fixturePage, Location: time.UTC, UpdatedAt: base, Incidents: list, Status: herald.Overall(nil, list)})
	if n := len(docs.Incidents.Incidents); n != statusapi.Limit {
		t.Errorf("incidents.json lists %d, want %d", n, statusapi.Limit)
	}
	if docs.Incidents.Incidents[0].ID != "inc000000000" {
		t.Errorf("incidents.json starts with %s, want the newest", docs.Incidents.Incidents[0].ID)
	}
	if n := len(docs.Unresolved.Incidents); n != 60 {
		t.Errorf("unresolved.json lists %d, want all 60", n)
	}
	b, _ := json.Marshal(docs.Summary)
	conform(t, b, &apiSummary{}, "+00:00")
}

// TestUpcomingOrder: upcoming maintenance reads soonest first whatever the
// order of creation.
func TestUpcomingOrder(t *testing.T) {
	mk := func(id, created, from string) herald.Incident {
		return herald.Incident{ID: id, Kind: herald.KindMaintenance, Name: id, Status: herald.Scheduled, Impact: herald.ImpactNone,
			CreatedAt: at(created), UpdatedAt: at(created), StartedAt: at(from),
			ScheduledFor: ptr(at(from)), ScheduledUntil: ptr(at(from).Add(time.Hour))}
	}
	docs := statusapi.Build(statusapi.Input{Page: fixturePage, Location: lagos(t), UpdatedAt: at("2026-11-25T00:00:00Z"),
		Incidents: []herald.Incident{
			mk("later", "2026-11-24T00:00:00Z", "2026-12-10T00:00:00Z"),
			mk("sooner", "2026-11-23T00:00:00Z", "2026-12-01T00:00:00Z"),
		}})
	var got []string
	for _, m := range docs.Upcoming.ScheduledMaintenances {
		got = append(got, m.ID)
	}
	if !slices.Equal(got, []string{"sooner", "later"}) {
		t.Errorf("upcoming = %q, want sooner first", got)
	}
}

// TestTimeRoundTrip: Time reads back what it writes, to the millisecond.
func TestTimeRoundTrip(t *testing.T) {
	in := statusapi.Time{Time: at("2026-11-25T14:05:09.123456Z").In(lagos(t))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2026-11-25T15:05:09.123+01:00"` {
		t.Fatalf("marshal = %s", b)
	}
	var out statusapi.Time
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Equal(at("2026-11-25T14:05:09.123Z")) {
		t.Errorf("round trip = %v", out.Time)
	}
	if err := json.Unmarshal([]byte(`"2026-11-25T15:05:09Z"`), &out); err == nil {
		t.Error("a timestamp without milliseconds and offset was accepted")
	}
}

// TestConformCatches proves the conformance check fails on each kind of
// defect a Statuspage client would trip on, so its passing means something.
func TestConformCatches(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "summary.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p := conformProblems(good, &apiSummary{}, zoneOffset); len(p) > 0 {
		t.Fatalf("the golden summary itself fails: %q", p)
	}
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"unknown field", `"showcase": true,`, `"showcase": true, "colour": "red",`, `unknown field "colour"`},
		{"component status", `"status": "partial_outage"`, `"status": "down"`, `component status "down" is not one of`},
		{"incident status", `"status": "identified"`, `"status": "fixed"`, `incident status "fixed"`},
		{"maintenance status", `"status": "in_progress"`, `"status": "ongoing"`, `maintenance status "ongoing"`},
		{"impact", `"impact": "major"`, `"impact": "severe"`, `impact "severe"`},
		{"indicator", `"indicator": "major"`, `"indicator": "red"`, `indicator "red"`},
		{"timestamp without milliseconds", `"updated_at": "2026-11-25T15:05:09.123+01:00"`, `"updated_at": "2026-11-25T15:05:09+01:00"`, `want RFC 3339 with milliseconds`},
		{"timestamp in UTC", `"updated_at": "2026-11-25T15:05:09.123+01:00"`, `"updated_at": "2026-11-25T14:05:09.123+00:00"`, `want the page's offset +01:00`},
		{"timestamp with Z", `"updated_at": "2026-11-25T15:05:09.123+01:00"`, `"updated_at": "2026-11-25T14:05:09.123Z"`, `numeric offset`},
		{"start_date", `"start_date": "2026-01-11"`, `"start_date": "11/01/2026"`, `want YYYY-MM-DD`},
		{"null name", `"name": "Kredete"`, `"name": null`, `$.page.name: null is not allowed`},
		{"page_id", `"page_id": "kredete",
      "incident_updates"`, `"page_id": "other",
      "incident_updates"`, `page_id "other"`},
		{"shortlink", `"shortlink": "https://status.kredete.com/incidents/incopen00001"`, `"shortlink": "https://example.com/x"`, `shortlink`},
		{"maintenance impact", `"impact": "maintenance"`, `"impact": "none"`, `has impact "none", want maintenance`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(c.old)) {
				t.Fatalf("the golden summary has no %q to break", c.old)
			}
			bad := bytes.Replace(good, []byte(c.old), []byte(c.new), 1)
			p := conformProblems(bad, &apiSummary{}, zoneOffset)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("problems = %q, want one containing %q", p, c.want)
			}
		})
	}
	// Keys the decoder cannot see missing, and nulls where lists belong.
	var doc map[string]any
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	inc := doc["incidents"].([]any)[0].(map[string]any)
	delete(inc, "monitoring_at")
	inc["incident_updates"] = nil
	doc["scheduled_maintenances"] = nil
	bad, _ := json.Marshal(doc)
	p := conformProblems(bad, &apiSummary{}, zoneOffset)
	for _, want := range []string{"$.incidents[0].monitoring_at: missing", "$.incidents[0].incident_updates: null, want a list",
		"$.scheduled_maintenances: null, want a list"} {
		if !slices.ContainsFunc(p, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("problems = %q, want %q", p, want)
		}
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// The Statuspage client's types and checks live in statusapitest, shared
// with the handlers' and the static export's tests.
type (
	apiSummary         = statusapitest.Summary
	apiStatusDoc       = statusapitest.StatusDoc
	apiComponentsDoc   = statusapitest.ComponentsDoc
	apiIncidentsDoc    = statusapitest.IncidentsDoc
	apiMaintenancesDoc = statusapitest.MaintenancesDoc
)

func conform(t *testing.T, b []byte, into any, offset string) {
	t.Helper()
	for _, p := range conformProblems(b, into, offset) {
		t.Error(p)
	}
}

func conformProblems(b []byte, into any, offset string) []string {
	return statusapitest.Problems(b, into, offset)
}
