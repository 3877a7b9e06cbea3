package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
)

// seedExercises puts the default plan's results in the log, as serve does
// at start.
func (c *console) seedExercises() {
	c.t.Helper()
	if err := c.store.SeedExercises(context.Background(), c.plan.Exercises.Results); err != nil {
		c.t.Fatal(err)
	}
}

func (c *console) exercises() []herald.Exercise {
	c.t.Helper()
	list, err := c.store.Exercises(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return list
}

// exerciseRow finds a schedule row by key.
func exerciseRowText(t testing.TB, rows []rowText, key string) rowText {
	t.Helper()
	for _, r := range rows {
		if r.Key == key {
			return r
		}
	}
	t.Fatalf("no schedule row %s in %+v", key, rows)
	return rowText{}
}

type rowText struct {
	Key, Class, Last, Due, State string
}

// TestConsoleExercisesPage: the schedule with last run and next due (in
// the page's zone, overdue in words and colour), the seeded log against
// the plan's objectives, the overdue warnings on the incident list; a
// viewer reads all of it and can post nothing.
func TestConsoleExercisesPage(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		c.seedExercises()
		b := c.as(t, herald.RoleViewer)
		doc := b.page("/console/exercises")
		if len(queryAll(t, doc, "a[data-testid=nav-exercises][aria-current]")) != 1 {
			t.Error("the navigation does not mark Exercises as the current page")
		}
		var rows []rowText
		for _, tr := range queryAll(t, doc, "table[data-testid=exercise-schedule] tr[data-testid=exercise-row]") {
			key, _ := attr(tr, "data-key")
			class, _ := attr(tr, "class")
			rows = append(rows, rowText{Key: key, Class: class, Last: text(queryOne(t, tr, "[data-testid=exercise-last]")),
				Due: text(queryOne(t, tr, "[data-testid=exercise-due]")), State: text(queryOne(t, tr, "[data-testid=exercise-state]"))})
		}
		var keys []string
		for _, r := range rows {
			keys = append(keys, r.Key)
		}
		if want := []string{"backup-verification", "failover-test", "partial-dr", "full-dr"}; !slices.Equal(keys, want) {
			t.Fatalf("schedule rows %v, want %v", keys, want)
		}
		// Now is 25 Nov 2026 10:00 UTC.
		failover := exerciseRowText(t, rows, "failover-test")
		if failover.Last != "15 Mar 2026 (pass)" || !strings.Contains(failover.Due, "15 Apr 2026, 00:00 UTC") ||
			failover.State != "Overdue by 224 days" || !strings.Contains(failover.Class, "exercise-overdue") {
			t.Errorf("failover test row = %+v; want last 15 Mar, due 15 Apr 2026 00:00 UTC, overdue by 224 days, in red", failover)
		}
		backup := exerciseRowText(t, rows, "backup-verification")
		if backup.Last != "Never" || backup.State != "Due now: never run" || !strings.Contains(backup.Class, "exercise-due") {
			t.Errorf("backup verification row = %+v; want never run, due now", backup)
		}
		full := exerciseRowText(t, rows, "full-dr")
		if full.Last != "15 Jan 2026 (pass)" || !strings.Contains(full.Due, "15 Jan 2027, 00:00 UTC") || full.State != "Due in 50 days" ||
			!strings.Contains(full.Class, "exercise-ok") {
			t.Errorf("full DR row = %+v; want due 15 Jan 2027, in 50 days", full)
		}

		type logRow struct{ Kind, Name, RTO, RPO, Result string }
		var log []logRow
		for _, tr := range queryAll(t, doc, "table[data-testid=exercise-log] tr[data-testid=exercise-log-row]") {
			kind, _ := attr(tr, "data-kind")
			log = append(log, logRow{kind, text(queryOne(t, tr, "[data-testid=exercise-name]")),
				text(queryOne(t, tr, "[data-testid=exercise-rto]")), text(queryOne(t, tr, "[data-testid=exercise-rpo]")),
				text(queryOne(t, tr, "[data-testid=exercise-result]"))})
		}
		want := []logRow{
			{"failover-test", "AZ Evacuation", "15 min within the 4 h objective", "0s within the 1 h objective", "Pass"},
			{"failover-test", "Database Failover", "8 min within the 4 h objective", "0s within the 1 h objective", "Pass"},
			{"full-dr", "Full DR Exercise", "2 h 15 min within the 4 h objective", "12 min within the 1 h objective", "Pass"},
		}
		if d := cmp.Diff(want, log); d != "" {
			t.Errorf("log (-want +got):\n%s", d)
		}
		for _, sel := range []string{"[data-testid=exercise-form]", "[data-testid=drill-form]"} {
			if n := len(queryAll(t, doc, sel)); n != 0 {
				t.Errorf("a viewer sees %d %s", n, sel)
			}
		}

		before, log0 := c.stored(), c.exercises()
		r := b.post("/console/exercises", url.Values{"kind": {"failover-test"}, "date": {"2026-11-24"}, "passed": {"yes"}})
		if r.Code != http.StatusForbidden {
			t.Errorf("a viewer recording an exercise: %d, want 403", r.Code)
		}
		r = b.post("/console/exercises/failover-test/drill", url.Values{"impact": {"major"}})
		if r.Code != http.StatusForbidden {
			t.Errorf("a viewer starting a drill: %d, want 403", r.Code)
		}
		c.wantNothingStored(before, "a viewer's posts")
		if d := cmp.Diff(log0, c.exercises()); d != "" {
			t.Errorf("a viewer's post changed the log:\n%s", d)
		}

		// The incident list warns of every exercise overdue or never run.
		doc = b.page("/console")
		var warnings []string
		for _, li := range queryAll(t, doc, "[data-testid=exercise-warnings] [data-testid=exercise-warning]") {
			key, _ := attr(li, "data-key")
			warnings = append(warnings, key)
			if key == "failover-test" && !strings.Contains(text(li), "Failover Test (Monthly) is overdue by 224 days: it was due 15 Apr 2026, 00:00 UTC.") {
				t.Errorf("failover warning = %q", text(li))
			}
		}
		if want := []string{"backup-verification", "failover-test", "partial-dr"}; !slices.Equal(warnings, want) {
			t.Errorf("incident list warns of %v, want %v", warnings, want)
		}
	})
}

// TestConsoleRecordExercise: a refused record comes back 422 with each
// error next to its field, what was typed kept and nothing stored; a good
// one lands in the log and moves the schedule on.
func TestConsoleRecordExercise(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		c.seedExercises()
		b := c.as(t, herald.RoleCommander)
		doc := b.page("/console/exercises")
		if v, _ := attr(queryOne(t, doc, "input#ex-date"), "value"); v != "2026-11-25" {
			t.Errorf("the date starts as %q, want today", v)
		}
		before, log0 := c.stored(), c.exercises()
		bad := url.Values{"kind": {""}, "name": {"Redis failover"}, "date": {"2027-01-01"}, "rto": {"soon"}, "rpo": {"-5m"},
			"notes": {"Typed before the error."}}
		r := b.post("/console/exercises", bad)
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("a bad record: %d, want 422: %.300s", r.Code, r.Body)
		}
		doc = parseHTML(t, r.Body)
		if len(queryAll(t, doc, "[data-testid=record-errors]")) != 1 {
			t.Error("no summary of the errors")
		}
		for field, want := range map[string]string{"kind": "choose the exercise", "date": "in the future",
			"rto": "must be a duration", "rpo": "must not be negative", "passed": "passed or failed"} {
			msg := queryAll(t, doc, "[data-testid=error-"+field+"]")
			if len(msg) != 1 || !strings.Contains(text(msg[0]), want) {
				t.Errorf("error-%s = %v; want one saying %q", field, texts(msg), want)
				continue
			}
			if field == "passed" {
				continue // a fieldset of radios: the error closes it
			}
			sel := "#ex-" + field
			if input := queryOne(t, doc, sel); input.Parent != msg[0].Parent {
				t.Errorf("the %s error is not next to its field", field)
			} else if d, _ := attr(input, "aria-describedby"); d != "err-ex-"+field {
				t.Errorf("%s aria-describedby = %q", sel, d)
			}
		}
		for sel, want := range map[string]string{"input#ex-name": "Redis failover", "input#ex-date": "2027-01-01",
			"input#ex-rto": "soon", "input#ex-rpo": "-5m"} {
			if v, _ := attr(queryOne(t, doc, sel), "value"); v != want {
				t.Errorf("%s = %q after the error, want %q as typed", sel, v, want)
			}
		}
		if got := text(queryOne(t, doc, "textarea#ex-notes")); got != "Typed before the error." {
			t.Errorf("the notes typed are lost: %q", got)
		}
		c.wantNothingStored(before, "a refused exercise")
		if d := cmp.Diff(log0, c.exercises()); d != "" {
			t.Errorf("a refused exercise changed the log:\n%s", d)
		}

		r = b.post("/console/exercises", url.Values{"kind": {"failover-test"}, "name": {"Redis Sentinel failover"},
			"date": {"2026-11-24"}, "rto": {"12m"}, "rpo": {"0"}, "passed": {"yes"}, "notes": {"Replica promoted in 40 s."}})
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/console/exercises" {
			t.Fatalf("recording: %d to %q: %.300s", r.Code, r.Header.Get("Location"), r.Body)
		}
		list := c.exercises()
		if len(list) != 4 || list[0].Name != "Redis Sentinel failover" || *list[0].RTO != 12*time.Minute || *list[0].RPO != 0 ||
			!*list[0].Passed || !strings.Contains(list[0].RecordedBy, c.users[herald.RoleCommander].Email) {
			t.Fatalf("log after recording = %+v", list)
		}
		doc = b.page("/console/exercises")
		if got := text(queryOne(t, doc, "[data-testid=flash]")); !strings.Contains(got, "recorded") {
			t.Errorf("flash = %q", got)
		}
		first := queryAll(t, doc, "tr[data-testid=exercise-log-row]")[0]
		if got := text(queryOne(t, first, "[data-testid=exercise-name]")); !strings.HasPrefix(got, "Redis Sentinel failover") {
			t.Errorf("the newest run in the log is %q", got)
		}
		for _, tr := range queryAll(t, doc, "tr[data-testid=exercise-row]") {
			if key, _ := attr(tr, "data-key"); key == "failover-test" {
				if got := text(queryOne(t, tr, "[data-testid=exercise-state]")); got != "Due in 28 days" {
					t.Errorf("failover test after a run on 24 Nov: %q, want due in 28 days", got)
				}
			}
		}
		if e := c.newestAudit(""); e.Action != "exercise.record" {
			t.Errorf("newest audit entry = %s, want exercise.record", e.Action)
		}
	})
}

// TestConsoleDrill: an exercise run as a drill is an incident with its
// clocks and messages (each saying [DRILL]) that never moves a component
// and never reaches the public page, the public API or the feeds; once
// resolved it is recorded in the log with its RTO and RPO prefilled.
func TestConsoleDrill(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		c.store.EnableDeliveries(c.plan)
		b := c.as(t, herald.RoleCommander)
		me := c.users[herald.RoleCommander]
		api, credit := c.ids["api-platform"], c.ids["credit-origination"]
		realID := c.declare(b, nil) // API Platform in partial outage, major impact

		doc := b.page("/console/exercises")
		if n := len(queryAll(t, doc, "form[data-testid=drill-form]")); n != 4 {
			t.Errorf("%d run-as-drill forms, want one per exercise", n)
		}
		before := c.stored()
		r := b.post("/console/exercises/failover-test/drill", url.Values{"impact": {"apocalyptic"}, "component_" + credit: {"yes"}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("a drill with a bad impact: %d, want 422", r.Code)
		}
		doc = parseHTML(t, r.Body)
		form := queryOne(t, doc, "form[data-testid=drill-form][data-key=failover-test]")
		if len(queryAll(t, form, "[data-testid=error-impact]")) != 1 {
			t.Error("the impact's error is not in the failover test's form")
		}
		if _, ok := attr(queryOne(t, form, "input#drill-failover-test-"+credit), "checked"); !ok {
			t.Error("the component ticked is lost")
		}
		c.wantNothingStored(before, "a refused drill")
		if r := b.post("/console/exercises/chaos-monkey/drill", url.Values{"impact": {"major"}}); r.Code != http.StatusNotFound {
			t.Errorf("a drill of an exercise not in the schedule: %d, want 404", r.Code)
		}

		c.clock.Set(start.Add(time.Hour))
		r = b.post("/console/exercises/failover-test/drill", url.Values{"impact": {"critical"}, "component_" + api: {"yes"},
			"component_" + credit: {"yes"}})
		loc := r.Header.Get("Location")
		if r.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/incidents/") {
			t.Fatalf("run as drill: %d to %q: %.300s", r.Code, loc, r.Body)
		}
		id := strings.TrimPrefix(loc, "/console/incidents/")
		in, err := c.store.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !in.Drill || in.Name != "DR exercise: Failover Test" || !slices.Equal(in.ComponentIDs, []string{api, credit}) ||
			in.Impact != herald.ImpactCritical {
			t.Errorf("drill incident = drill %v, %q, components %v, impact %s", in.Drill, in.Name, in.ComponentIDs, in.Impact)
		}
		doc = b.page(loc)
		if got := text(queryOne(t, doc, "[data-testid=seat-commander]")); got != me.Name {
			t.Errorf("commander = %q, want the user who started the drill", got)
		}
		if len(queryAll(t, doc, "[data-testid=incident-title] [data-testid=drill-badge]")) != 1 ||
			len(queryAll(t, doc, "[data-testid=drill-note]")) != 1 {
			t.Error("the drill's page has no DRILL badge or note")
		}
		if n := len(queryAll(t, doc, "form[action=/console/incidents/"+id+"/components]")); n != 0 {
			t.Errorf("a drill's page offers %d component status forms", n)
		}
		// Its clocks run as a real incident's.
		if _, state := clockRow(t, doc, "public"); !strings.HasPrefix(state, "due in") {
			t.Errorf("the drill's public clock = %q, want running", state)
		}

		// An update, then the resolution, through the composer.
		for _, st := range []string{"identified", "resolved"} {
			c.clock.Set(start.Add(90 * time.Minute))
			if st == "resolved" {
				c.clock.Set(start.Add(2*time.Hour + 15*time.Minute))
			}
			r := b.post("/console/incidents/"+id+"/updates", url.Values{"status": {st}, "impact": {"critical"},
				"main": {"Failover drill: " + st + "."}, "audience": {"engineering", "public", "executives"}, "action": {"post"}})
			if r.Code != http.StatusSeeOther {
				t.Fatalf("posting %s to the drill: %d: %.300s", st, r.Code, r.Body)
			}
		}
		if got := c.componentStatus("api-platform"); got != "partial_outage" {
			t.Errorf("API Platform is %s after the drill, want partial_outage (the real incident's)", got)
		}
		if got := c.componentStatus("credit-origination"); got != "operational" {
			t.Errorf("Credit Origination is %s after the drill, want operational (never moved)", got)
		}

		// Nothing public knows of it.
		for _, path := range append(slices.Clone(apiPaths), "/", "/history", "/history.atom", "/history.rss") {
			body := string(c.getOK(path).Body)
			if strings.Contains(body, id) || strings.Contains(body, "DR exercise") || strings.Contains(body, "Failover drill") {
				t.Errorf("%s shows the drill", path)
			}
		}
		if !strings.Contains(string(c.getOK("/api/v2/incidents.json").Body), realID) {
			t.Error("incidents.json lacks the real incident")
		}
		var summary struct {
			Status struct{ Indicator string } `json:"status"`
		}
		if err := json.Unmarshal(c.getOK("/api/v2/summary.json").Body, &summary); err != nil {
			t.Fatal(err)
		}
		if summary.Status.Indicator != "major" {
			t.Errorf("summary indicator = %q, want major (the real incident; the critical drill does not count)", summary.Status.Indicator)
		}
		if r := c.get("/incidents/" + id); r.Code != http.StatusNotFound {
			t.Errorf("/incidents/%s = %d, want 404", id, r.Code)
		}

		// Every message about it says so.
		ds, err := c.store.Deliveries(context.Background(), id, 500)
		if err != nil {
			t.Fatal(err)
		}
		sent := map[herald.Channel]int{}
		for _, d := range ds {
			switch {
			case d.Channel == herald.ChannelEmail:
				sent[d.Channel]++
				if !strings.HasPrefix(d.Subject, "[DRILL] [Kredete] DR exercise: Failover Test") || !strings.HasPrefix(d.Body, "[DRILL] ") {
					t.Errorf("email to %s: subject %q, body %q; want [DRILL]", d.Recipient, d.Subject, d.Body)
				}
			case d.Channel == herald.ChannelSlack && d.Kind != herald.KindEdit:
				sent[d.Channel]++
				if !strings.HasPrefix(d.Body, "[DRILL] ") {
					t.Errorf("Slack %s %q; want [DRILL]", d.Kind, d.Body)
				}
			}
		}
		if sent[herald.ChannelEmail] == 0 || sent[herald.ChannelSlack] == 0 {
			t.Errorf("the drill sent %v; want email and Slack", sent)
		}

		// The lists mark it.
		doc = b.page("/console")
		found := false
		for _, tr := range queryAll(t, doc, "[data-testid=resolved-incidents] tr") {
			if strings.Contains(text(tr), "DR exercise: Failover Test") {
				found = len(queryAll(t, tr, "[data-testid=drill-badge]")) == 1
			}
		}
		if !found {
			t.Error("the resolved list does not show the drill with its DRILL badge")
		}

		// Resolved: record it, RTO and RPO prefilled.
		doc = b.page(loc)
		panel := queryOne(t, doc, "[data-testid=drill-exercise]")
		f := url.Values{}
		for _, in := range queryAll(t, panel, "form[data-testid=exercise-form] input") {
			name, _ := attr(in, "name")
			v, _ := attr(in, "value")
			if typ, _ := attr(in, "type"); typ != "radio" {
				f.Set(name, v)
			}
		}
		f.Set("kind", selectedValue(t, panel, "select#drill-kind"))
		// The clock ticks a second per reading: the RTO is 1h15m give or
		// take those seconds.
		if rto, err := time.ParseDuration(f.Get("rto")); err != nil || (rto-75*time.Minute).Abs() > 30*time.Second {
			t.Errorf("prefilled RTO %q, want about 1h15m (declared to resolved)", f.Get("rto"))
		}
		f.Del("rto")
		want := url.Values{"incident_id": {id}, "kind": {"failover-test"}, "name": {""}, "date": {"2026-11-25"}, "rpo": {""}}
		if d := cmp.Diff(want, f); d != "" {
			t.Errorf("prefilled record form (-want +got):\n%s", d)
		}
		f.Set("rto", "1h15m")
		f.Set("passed", "yes")
		r = b.post("/console/exercises", f)
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != loc+"#drill-exercise" {
			t.Fatalf("recording the drill: %d to %q: %.300s", r.Code, r.Header.Get("Location"), r.Body)
		}
		doc = b.page(loc)
		if got := text(queryOne(t, doc, "[data-testid=drill-recorded]")); !strings.Contains(got, "Pass") || !strings.Contains(got, "RTO 1 h 15 min") {
			t.Errorf("drill page after recording: %q", got)
		}
		doc = b.page("/console/exercises")
		links := queryAll(t, doc, "[data-testid=exercise-drill-link]")
		if len(links) != 1 {
			t.Fatalf("%d drill links in the log, want 1", len(links))
		}
		if href, _ := attr(links[0], "href"); href != loc {
			t.Errorf("the log links to %q, want %q", href, loc)
		}
		r = b.post("/console/exercises", f)
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(text(queryOne(t, parseHTML(t, r.Body), "[data-testid=error-incident_id]")), "already recorded") {
			t.Errorf("recording the drill twice: %d", r.Code)
		}
	})
}
