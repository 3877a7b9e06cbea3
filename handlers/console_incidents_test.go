package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/kredete/herald"
)

// composerVersion is the incident version the page's composer submits.
func composerVersion(t testing.TB, doc *html.Node) string {
	t.Helper()
	v, _ := attr(queryOne(t, doc, "form[data-testid=composer] input[name=version]"), "value")
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		t.Fatalf("composer version %q", v)
	}
	return v
}

// pageVersion is the incident version the page shows, which its other
// forms (roles, data loss, components, reopen) submit.
func pageVersion(t testing.TB, doc *html.Node) string {
	t.Helper()
	v, _ := attr(queryOne(t, doc, "#live"), "data-version")
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		t.Fatalf("page version %q", v)
	}
	return v
}

// clockRow reads one audience's row of the incident page's cadence board:
// when it was last told and the state of its clock.
func clockRow(t testing.TB, doc *html.Node, audience string) (lastTold, state string) {
	t.Helper()
	row := queryOne(t, doc, "table[data-testid=cadence-board] tr[data-audience="+audience+"]")
	cells := queryAll(t, row, "td")
	if len(cells) != 5 {
		t.Fatalf("the %s row has %d cells", audience, len(cells))
	}
	return text(cells[1]), text(queryOne(t, cells[2], ".clock-state"))
}

// selectedValue is the value of the selected option of a select.
func selectedValue(t testing.TB, doc *html.Node, sel string) string {
	t.Helper()
	opts := queryAll(t, doc, sel+" option[selected]")
	if len(opts) != 1 {
		t.Fatalf("%s has %d selected options", sel, len(opts))
	}
	v, _ := attr(opts[0], "value")
	return v
}

func (e *env) unresolved(id string) (apiIncident, bool) {
	e.t.Helper()
	for _, in := range e.apiDoc("/api/v2/incidents/unresolved.json").Incidents {
		if in.ID == id {
			return in, true
		}
	}
	return apiIncident{}, false
}

// newestAudit is the incident's latest audit entry.
func (e *env) newestAudit(incidentID string) herald.AuditEntry {
	e.t.Helper()
	entries, err := e.store.Audit(context.Background(), incidentID, 1)
	if err != nil || len(entries) != 1 {
		e.t.Fatalf("audit of %s: %v, %d entries", incidentID, err, len(entries))
	}
	return entries[0]
}

func TestConsoleDeclare(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleCommander)
		me, admin := c.users[herald.RoleCommander], c.users[herald.RoleAdmin]
		api := c.ids["api-platform"]
		doc := b.page("/console/incidents/new")
		if got := selectedValue(t, doc, "select#commander"); got != me.ID {
			t.Errorf("the commander starts as %q, want the user declaring, %s", got, me.ID)
		}
		var offered []string
		for _, o := range queryAll(t, doc, "select#commander option") {
			v, _ := attr(o, "value")
			offered = append(offered, v)
		}
		want := []string{me.ID, admin.ID}
		slices.Sort(offered)
		slices.Sort(want)
		if !slices.Equal(offered, want) {
			t.Errorf("commanders offered %q, want those who may manage incidents %q", offered, want)
		}

		before := c.stored()
		bad := url.Values{"name": {"   "}, "impact": {"critical"}, "body": {"Customers cannot sign in."},
			"component_" + api: {"major_outage"}, "regulators": {"yes"}, "commander": {admin.ID}}
		r := b.post("/console/incidents", bad)
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("declare without a title: %d, want 422", r.Code)
		}
		doc = parseHTML(t, r.Body)
		msg := queryOne(t, doc, "[data-testid=error-name]")
		if !strings.Contains(text(msg), "must not be empty") {
			t.Errorf("error-name = %q", text(msg))
		}
		if input := queryOne(t, doc, "input#name"); input.Parent != msg.Parent {
			t.Error("the title's error is not next to the title")
		}
		if got := text(queryOne(t, doc, "textarea#body")); got != "Customers cannot sign in." {
			t.Errorf("the message typed is lost: %q", got)
		}
		for sel, want := range map[string]string{"select#impact": "critical", "select#cs-" + api: "major_outage",
			"select#commander": admin.ID} {
			if got := selectedValue(t, doc, sel); got != want {
				t.Errorf("%s = %q after the error, want %q as typed", sel, got, want)
			}
		}
		if _, ok := attr(queryOne(t, doc, "input#regulators"), "checked"); !ok {
			t.Error("the regulators box typed is lost")
		}
		c.wantNothingStored(before, "a declaration without a title")

		// Every problem is shown at once, not the first alone.
		r = b.post("/console/incidents", url.Values{"name": {"Login failures"}, "impact": {"major"}, "body": {""},
			"commander": {"nobody"}, "component_" + api: {"on_fire"}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("declare with three problems: %d, want 422", r.Code)
		}
		doc = parseHTML(t, r.Body)
		for _, sel := range []string{"[data-testid=error-commander]", "[data-testid=error-body]", "#err-components"} {
			if len(queryAll(t, doc, sel)) != 1 {
				t.Errorf("no %s among the errors", sel)
			}
		}
		if v, _ := attr(queryOne(t, doc, "input#name"), "value"); v != "Login failures" {
			t.Errorf("the title typed is lost: %q", v)
		}
		c.wantNothingStored(before, "a declaration with three problems")

		body := "Customers cannot sign in. We are investigating."
		id := c.declare(b, url.Values{"name": {"Login failures"}, "impact": {"critical"}, "body": {body},
			"component_" + api: {"major_outage"}, "commander": {admin.ID}})

		// The public side shows it at once.
		in, ok := c.unresolved(id)
		if !ok {
			t.Fatalf("unresolved.json does not list %s", id)
		}
		if in.Name != "Login failures" || in.Status != "investigating" || in.Impact != "critical" ||
			len(in.IncidentUpdates) != 1 || in.IncidentUpdates[0].Body != body {
			t.Errorf("unresolved.json shows %+v", in)
		}
		if got := c.componentStatus("api-platform"); got != "major_outage" {
			t.Errorf("API Platform is %s, want major_outage", got)
		}

		doc = b.page("/console/incidents/" + id)
		if got := text(queryOne(t, doc, "[data-testid=flash]")); !strings.Contains(got, "declared") {
			t.Errorf("flash = %q", got)
		}
		if got := text(queryOne(t, doc, "[data-testid=incident-title]")); got != "Login failures" {
			t.Errorf("title = %q", got)
		}
		if got := text(queryOne(t, doc, "[data-testid=seat-commander]")); got != admin.Name {
			t.Errorf("commander seat = %q, want %q", got, admin.Name)
		}
		for _, a := range []string{"public", "engineering"} {
			if last, _ := clockRow(t, doc, a); last == "not yet" || last == "" {
				t.Errorf("%s: last told %q, want the declaration's time", a, last)
			}
			if got := c.told(id, a); !slices.Equal(got, []string{body}) {
				t.Errorf("%s was told %q, want the first message", a, got)
			}
		}
		if last, _ := clockRow(t, doc, "executives"); last != "not yet" {
			t.Errorf("executives: last told %q, want not yet", last)
		}
		// The box was not ticked, but the plan requires regulators for a
		// critical incident.
		if _, state := clockRow(t, doc, "regulators"); !strings.HasPrefix(state, "due in 3h 59m") && !strings.HasPrefix(state, "due in 4h") {
			t.Errorf("regulators: %q, want due in 4 hours (critical impact requires them under the plan)", state)
		}
		entries, err := c.store.Audit(context.Background(), id, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(entries, func(e herald.AuditEntry) bool {
			return e.Action == "incident.declare" && strings.Contains(e.After, `"name":"Login failures"`) &&
				strings.Contains(e.Actor, me.Email)
		}) || !slices.ContainsFunc(entries, func(e herald.AuditEntry) bool {
			return e.Action == "incident.role" && strings.Contains(e.After, admin.ID)
		}) {
			t.Errorf("audit entries %+v lack the declaration or the commander's seat", entries)
		}
	})
}

func TestConsoleComposer(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleCommander)
		id := c.declare(b, nil)
		inc := "/console/incidents/" + id
		doc := b.page(inc)
		v := composerVersion(t, doc)

		var ticked []string
		for _, in := range queryAll(t, doc, "[data-testid=preview] input[name=audience]") {
			if _, ok := attr(in, "checked"); ok {
				val, _ := attr(in, "value")
				ticked = append(ticked, val)
			}
		}
		if !slices.Equal(ticked, []string{"engineering", "public"}) {
			t.Errorf("ticked at first: %q, want the real-time audience and the public page", ticked)
		}

		// Only the executives' column, which goes by SMS, counts segments.
		sms := queryAll(t, doc, "[data-testid=preview] [data-testid=sms-count]")
		if len(sms) != 1 {
			t.Fatalf("%d SMS counts, want 1", len(sms))
		}
		if len(queryAll(t, doc, "[data-testid=preview][data-audience=executives] [data-testid=sms-count]")) != 1 {
			t.Error("the SMS count is not in the executives' column")
		}
		for _, p := range []struct {
			form url.Values
			want string
		}{
			{url.Values{"main": {strings.Repeat("a", 160)}}, "SMS: 160 characters, 1 segment (GSM-7)"},
			{url.Values{"main": {strings.Repeat("a", 200)}}, "SMS: 200 characters, 2 segments (GSM-7)"},
			{url.Values{"main": {"x"}, "text_executives": {"Payments down — ETA 30 min"}}, "SMS: 26 characters, 1 segment (Unicode)"},
		} {
			p.form.Set("version", v)
			r := b.post(inc+"/preview", p.form)
			if r.Code != http.StatusOK {
				t.Fatalf("preview: %d", r.Code)
			}
			frag := parseFragment(t, r.Body)
			if got := text(queryOne(t, frag, "[data-audience=executives] [data-testid=sms-count]")); got != p.want {
				t.Errorf("preview %v: %q, want %q", p.form, got, p.want)
			}
		}

		// Refused compositions store nothing and keep what was typed.
		before := c.stored()
		for _, bad := range []struct {
			name string
			form url.Values
			says string
		}{
			{"no audience", url.Values{"status": {"investigating"}, "main": {"Typed but not sent."}}, "tick at least one audience"},
			{"status change without the public", url.Values{"status": {"identified"}, "main": {"We found it."},
				"audience": {"engineering"}}, "tick Partners and clients"},
			{"regulators not required", url.Values{"main": {"A notice for the regulator."}, "audience": {"regulators"}},
				"only told when the incident says regulators must be notified"},
		} {
			bad.form.Set("version", v)
			bad.form.Set("action", "post")
			r := b.post(inc+"/updates", bad.form)
			if r.Code != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d, want 422", bad.name, r.Code)
				continue
			}
			doc := parseHTML(t, r.Body)
			if got := text(queryOne(t, doc, "[data-testid=error-audiences]")); !strings.Contains(got, bad.says) {
				t.Errorf("%s: error-audiences = %q, want %q", bad.name, got, bad.says)
			}
			queryOne(t, doc, "[data-testid=composer-errors]")
			if got := text(queryOne(t, doc, "[data-testid=composer-main]")); got != bad.form.Get("main") {
				t.Errorf("%s: the text typed is lost: %q", bad.name, got)
			}
			if st := bad.form.Get("status"); st != "" {
				if got := selectedValue(t, doc, "select#status"); got != st {
					t.Errorf("%s: status %q, want %q as chosen", bad.name, got, st)
				}
			}
		}
		c.wantNothingStored(before, "refused compositions")
		if _, ok := attr(queryOne(t, doc, "input#aud-regulators"), "disabled"); !ok {
			t.Error("regulators can be ticked on an incident that does not need them")
		}

		// One composition, three audiences, the executives with their own text.
		main := "We found the cause: a failed certificate rotation. Next update in 30 minutes."
		execs := "Cert rotation failed; card payments down; ETA 30 min."
		r := b.post(inc+"/updates", url.Values{"version": {v}, "status": {"identified"}, "impact": {"major"}, "main": {main},
			"audience": {"public", "engineering", "executives"}, "text_executives": {execs}, "action": {"post"}})
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != inc {
			t.Fatalf("post: %d to %q: %.300s", r.Code, r.Header.Get("Location"), r.Body)
		}
		in, ok := c.unresolved(id)
		if !ok || in.Status != "identified" || in.IncidentUpdates[0].Body != main {
			t.Errorf("the public incident is %+v, want identified with %q", in, main)
		}
		for a, want := range map[string]string{"public": main, "engineering": main, "executives": execs} {
			got := c.told(id, a)
			if len(got) == 0 || got[len(got)-1] != want {
				t.Errorf("%s was told %q, want last %q", a, got, want)
			}
		}
		doc = b.page(inc)
		if last, _ := clockRow(t, doc, "executives"); last == "not yet" {
			t.Error("the cadence board does not show the executives were told")
		}
		if got := texts(queryAll(t, doc, "[data-testid=timeline] li[data-kind=communication] .body")); len(got) == 0 ||
			got[0] != "Told engineering, executives, public" {
			t.Errorf("timeline messages: %q", got)
		}

		// Resolving releases the components.
		if got := c.componentStatus("api-platform"); got != "partial_outage" {
			t.Fatalf("API Platform is %s before resolving", got)
		}
		r = b.post(inc+"/updates", url.Values{"version": {composerVersion(t, doc)}, "status": {"resolved"}, "impact": {"major"},
			"main": {"Card payments work again."}, "audience": {"public", "engineering"}, "action": {"post"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("resolve: %d: %.300s", r.Code, r.Body)
		}
		if got := c.componentStatus("api-platform"); got != "operational" {
			t.Errorf("API Platform is %s after resolving, want operational", got)
		}
		if _, ok := c.unresolved(id); ok {
			t.Error("unresolved.json still lists the resolved incident")
		}
		doc = b.page(inc)
		if len(queryAll(t, doc, "[data-testid=composer]")) != 0 {
			t.Error("a resolved incident still offers the composer")
		}
		queryOne(t, doc, "[data-testid=reopen-submit]")

		// Reopening puts it back, with the message on the public page.
		r = b.post(inc+"/reopen", url.Values{"version": {pageVersion(t, doc)}, "body": {"Card payments are failing again."}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("reopen: %d: %.300s", r.Code, r.Body)
		}
		in, ok = c.unresolved(id)
		if !ok || in.Status != "investigating" || in.IncidentUpdates[0].Body != "Card payments are failing again." {
			t.Errorf("after reopening, unresolved.json shows %+v (listed %v)", in, ok)
		}
		queryOne(t, b.page(inc), "[data-testid=composer]")
	})
}

func TestConsoleComposerRegulators(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleCommander)
		id := c.declare(b, url.Values{"regulators": {"yes"}})
		inc := "/console/incidents/" + id
		doc := b.page(inc)
		if _, ok := attr(queryOne(t, doc, "input#aud-regulators"), "disabled"); ok {
			t.Fatal("regulators cannot be ticked on an incident that says they must be notified")
		}
		if _, state := clockRow(t, doc, "regulators"); !strings.HasPrefix(state, "due in") {
			t.Errorf("regulators' clock: %q, want due in …", state)
		}
		r := b.post(inc+"/updates", url.Values{"version": {composerVersion(t, doc)}, "main": {"Notice of a payment outage."},
			"audience": {"regulators"}, "action": {"post"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("tell the regulators: %d: %.300s", r.Code, r.Body)
		}
		if got := c.told(id, "regulators"); !slices.Equal(got, []string{"Notice of a payment outage."}) {
			t.Errorf("regulators were told %q", got)
		}
		// A message to the regulators is the script of the call; the call
		// itself, recorded, is what satisfies the step.
		doc = b.page(inc)
		if _, state := clockRow(t, doc, "regulators"); !strings.HasPrefix(state, "due in") {
			t.Errorf("regulators' clock after the message: %q, want still due in …", state)
		}
		if got := text(queryOne(t, doc, "[data-testid=regulator-steps] tr[data-step=initial] [data-testid=step-state]")); got != "not yet" {
			t.Errorf("initial step before the call: %q", got)
		}
		now := c.clock.Now().In(c.deps.Location)
		// With seconds, as a datetime-local input may send them (the
		// second before now: never on the minute exactly).
		callAt := now.Add(-time.Second).Truncate(time.Second)
		call := url.Values{"step": {"initial"}, "called_by": {"Ada Commander"}, "whom": {"Central Bank, duty officer J. Obi"},
			"at": {callAt.Format("2006-01-02T15:04:05")}, "reference": {"CBN-2026-0042"}, "notes": {"Read the notice."}}

		// Refused: each problem next to its field, nothing stored.
		for _, bad := range []struct{ field, value, want string }{
			{"whom", "  ", "must not be empty"},
			{"at", now.Add(2 * time.Hour).Format("2006-01-02T15:04"), "in the future"},
			{"at", "yesterday", "date and time"},
			{"step", "final", "the next step is the initial notification"},
		} {
			form := url.Values{}
			for k, v := range call {
				form[k] = v
			}
			form.Set(bad.field, bad.value)
			r := b.post(inc+"/regulator", form)
			if r.Code != http.StatusUnprocessableEntity {
				t.Fatalf("%s=%q: %d, want 422", bad.field, bad.value, r.Code)
			}
			got := text(queryOne(t, parseHTML(t, r.Body), "#err-"+bad.field))
			if !strings.Contains(got, bad.want) {
				t.Errorf("%s=%q: error %q, want %q", bad.field, bad.value, got, bad.want)
			}
		}
		if reps, err := c.store.RegulatorReports(context.Background(), []string{id}); err != nil || len(reps) != 0 {
			t.Fatalf("refused calls stored %d reports (%v)", len(reps), err)
		}

		r = b.post(inc+"/regulator", call)
		if r.Code != http.StatusSeeOther {
			t.Fatalf("record the call: %d: %.500s", r.Code, r.Body)
		}
		if reps, err := c.store.RegulatorReports(context.Background(), []string{id}); err != nil || len(reps) != 1 || !reps[0].At.Equal(callAt) {
			t.Errorf("the call is stored as %+v (%v), want made at %s, to the second", reps, err, callAt)
		}
		doc = b.page(inc)
		if got := text(queryOne(t, doc, "[data-testid=regulator-steps] tr[data-step=initial] [data-testid=step-state]")); !strings.Contains(got, "in time") {
			t.Errorf("initial step after the call: %q", got)
		}
		if got := text(queryOne(t, doc, "[data-testid=regulator-steps] tr[data-step=initial]")); !strings.Contains(got, "CBN-2026-0042") ||
			!strings.Contains(got, "J. Obi") {
			t.Errorf("the recorded call shows %q", got)
		}
		// The clock moved on to the intermediate report, 72 hours later.
		if got := text(queryOne(t, doc, "table[data-testid=cadence-board] tr[data-audience=regulators] [data-testid=clock-step]")); !strings.HasPrefix(got, "intermediate report") {
			t.Errorf("regulators' next step: %q", got)
		}
		if got := text(queryOne(t, doc, "[data-testid=regulator-form] h3")); got != "Record the intermediate report" {
			t.Errorf("the form now records %q", got)
		}
		if got := text(queryOne(t, doc, "[data-testid=timeline]")); !strings.Contains(got, "Regulator initial notification made by Ada Commander") {
			t.Errorf("the timeline does not show the call: %.500s", got)
		}
		if got, _ := attr(queryOne(t, doc, "[data-testid=compliance] tr[data-audience=regulators][data-step=initial]"), "data-verdict"); got != herald.VerdictMet {
			t.Errorf("compliance verdict for the initial notification: %q", got)
		}
		// Only the regulators were told: the public page has no new update.
		if in, _ := c.unresolved(id); len(in.IncidentUpdates) != 1 {
			t.Errorf("the public incident has %d updates, want the declaration's alone", len(in.IncidentUpdates))
		}
	})
}

func TestConsoleStaleEdit(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		first, second := c.as(t, herald.RoleCommander), c.as(t, herald.RoleAdmin)
		id := c.declare(first, nil)
		inc := "/console/incidents/" + id
		stale := composerVersion(t, first.page(inc))

		r := second.post(inc+"/updates", url.Values{"version": {composerVersion(t, second.page(inc))},
			"main": {"Engineers are on it."}, "audience": {"engineering"}, "action": {"post"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("the second user's update: %d: %.300s", r.Code, r.Body)
		}

		before := c.stored()
		typed := "We found the cause (typed on an old page)."
		r = first.post(inc+"/updates", url.Values{"version": {stale}, "status": {"identified"}, "impact": {"major"},
			"main": {typed}, "audience": {"public", "engineering"}, "action": {"post"}})
		if r.Code != http.StatusConflict {
			t.Fatalf("a stale update: %d, want 409", r.Code)
		}
		doc := parseHTML(t, r.Body)
		if got := text(queryOne(t, doc, "[data-testid=stale]")); !strings.Contains(got, "Someone else changed this incident") {
			t.Errorf("stale = %q", got)
		}
		if got := text(queryOne(t, doc, "[data-testid=composer-main]")); got != typed {
			t.Errorf("the text typed is lost: %q", got)
		}
		if got := selectedValue(t, doc, "select#status"); got != "identified" {
			t.Errorf("the status chosen is lost: %q", got)
		}
		// The page shows the latest state, including the other update.
		if got := texts(queryAll(t, doc, "[data-testid=timeline] li[data-kind=communication] .body")); !slices.Contains(got, "Told engineering") {
			t.Errorf("the timeline does not show the other user's update: %q", got)
		}
		latest := composerVersion(t, doc)
		if latest == stale {
			t.Error("the composer still carries the stale version")
		}
		c.wantNothingStored(before, "a stale update")
		for _, a := range []string{"public", "engineering"} {
			if slices.Contains(c.told(id, a), typed) {
				t.Errorf("%s was told the stale text", a)
			}
		}

		// The incident page's other forms refuse stale versions too.
		if r := first.post(inc+"/data-loss", url.Values{"version": {stale}, "minutes": {"10"}}); r.Code != http.StatusConflict ||
			len(queryAll(t, parseHTML(t, r.Body), "[data-testid=stale]")) != 1 {
			t.Errorf("a stale data-loss estimate: %d, want 409 with the stale warning", r.Code)
		}
		c.wantNothingStored(before, "a stale data-loss estimate")

		// Submitting again from the refreshed page goes through.
		r = first.post(inc+"/updates", url.Values{"version": {latest}, "status": {"identified"}, "impact": {"major"},
			"main": {typed}, "audience": {"public", "engineering"}, "action": {"post"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("resubmitting: %d: %.300s", r.Code, r.Body)
		}
		if in, _ := c.unresolved(id); in.IncidentUpdates[0].Body != typed {
			t.Errorf("the public update is %q", in.IncidentUpdates[0].Body)
		}
	})
}

func TestConsoleIncidentTools(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		ctx := context.Background()
		cmdr, responder, viewer := c.as(t, herald.RoleCommander), c.as(t, herald.RoleResponder), c.as(t, herald.RoleViewer)
		id := c.declare(cmdr, nil)
		inc := "/console/incidents/" + id

		// Notes: a responder may add one, a viewer may not.
		note := "Load balancer logs show TLS handshake errors."
		if r := responder.post(inc+"/notes", url.Values{"note": {note}}); r.Code != http.StatusSeeOther || r.Header.Get("Location") != inc {
			t.Fatalf("responder's note: %d to %q", r.Code, r.Header.Get("Location"))
		}
		doc := responder.page(inc)
		notes := queryAll(t, doc, "[data-testid=timeline] li[data-kind=note]")
		if len(notes) != 1 || !strings.Contains(text(notes[0]), note) || !strings.Contains(text(notes[0]), c.users[herald.RoleResponder].Name) {
			t.Errorf("notes on the timeline: %q", texts(notes))
		}
		if e := c.newestAudit(id); e.Action != "incident.note" || !strings.Contains(e.After, note) {
			t.Errorf("the note's audit entry: %+v", e)
		}
		if len(queryAll(t, viewer.page(inc), "input#note")) != 0 {
			t.Error("a viewer is offered the note form")
		}
		before := c.stored()
		if r := viewer.post(inc+"/notes", url.Values{"note": {"I should not be able to write this."}}); r.Code != http.StatusForbidden {
			t.Errorf("viewer's note: %d, want 403", r.Code)
		}
		r := responder.post(inc+"/notes", url.Values{"note": {"   "}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(text(queryOne(t, parseHTML(t, r.Body), "#err-note")), "must not be empty") {
			t.Errorf("an empty note: %d", r.Code)
		}
		c.wantNothingStored(before, "refused notes")

		// Roles.
		doc = cmdr.page(inc)
		r = cmdr.post(inc+"/roles", url.Values{"version": {pageVersion(t, doc)}, "seat": {"scribe"},
			"user": {c.users[herald.RoleResponder].ID}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("assign the scribe: %d: %.300s", r.Code, r.Body)
		}
		doc = cmdr.page(inc)
		if got := text(queryOne(t, doc, "[data-testid=seat-scribe]")); got != c.users[herald.RoleResponder].Name {
			t.Errorf("scribe = %q", got)
		}
		r = cmdr.post(inc+"/roles", url.Values{"version": {pageVersion(t, doc)}, "seat": {"commander"},
			"user": {c.users[herald.RoleAdmin].ID}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("hand over command: %d: %.300s", r.Code, r.Body)
		}
		doc = cmdr.page(inc)
		if got := text(queryOne(t, doc, "[data-testid=seat-commander]")); got != c.users[herald.RoleAdmin].Name {
			t.Errorf("commander = %q after the handover", got)
		}
		if got := texts(queryAll(t, doc, "[data-testid=timeline] li[data-kind=role] .body")); !slices.Contains(got, "Incident commander: Test Admin") {
			t.Errorf("role changes on the timeline: %q", got)
		}
		entries, err := c.store.Audit(ctx, id, 5)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(entries, func(e herald.AuditEntry) bool {
			return e.Action == "incident.role" && strings.Contains(e.Before, c.users[herald.RoleCommander].ID) &&
				strings.Contains(e.After, c.users[herald.RoleAdmin].ID)
		}) {
			t.Errorf("no audit entry shows the seat passing from the commander to the admin: %+v", entries)
		}
		before = c.stored()
		for _, bad := range []url.Values{
			{"seat": {"scribe"}, "user": {"nobody"}},
			{"seat": {"janitor"}, "user": {c.users[herald.RoleViewer].ID}},
		} {
			bad.Set("version", pageVersion(t, doc))
			if r := cmdr.post(inc+"/roles", bad); r.Code != http.StatusUnprocessableEntity {
				t.Errorf("assign %v: %d, want 422", bad, r.Code)
			}
		}
		c.wantNothingStored(before, "refused role assignments")

		// Data loss against the RPO.
		for _, bad := range []string{"-5", "ten", "1.5", ""} {
			r := cmdr.post(inc+"/data-loss", url.Values{"version": {pageVersion(t, doc)}, "minutes": {bad}})
			if r.Code != http.StatusUnprocessableEntity {
				t.Errorf("data loss %q: %d, want 422", bad, r.Code)
				continue
			}
			if got := text(queryOne(t, parseHTML(t, r.Body), "#err-minutes")); !strings.Contains(got, "whole number of minutes") {
				t.Errorf("data loss %q: message %q", bad, got)
			}
		}
		c.wantNothingStored(before, "refused data-loss estimates")
		if r := cmdr.post(inc+"/data-loss", url.Values{"version": {pageVersion(t, doc)}, "minutes": {"90"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("data loss 90: %d: %.300s", r.Code, r.Body)
		}
		doc = cmdr.page(inc)
		if got := text(queryOne(t, doc, "[data-testid=rpo]")); !strings.Contains(got, "1h 30m of data at risk") || !strings.Contains(got, "target exceeded") {
			t.Errorf("rpo = %q", got)
		}
		if e := c.newestAudit(id); e.Action != "incident.change" || strings.Contains(e.Before, "data_loss_seconds") ||
			!strings.Contains(e.After, `"data_loss_seconds":5400`) {
			t.Errorf("the estimate's audit entry: %+v", e)
		}

		// A component's status from the incident page.
		portal := c.ids["customer-portal"]
		before = c.stored()
		if r := cmdr.post(inc+"/components", url.Values{"version": {pageVersion(t, doc)}, "component": {portal},
			"status": {"on_fire"}}); r.Code != http.StatusUnprocessableEntity {
			t.Errorf("an unknown status: %d, want 422", r.Code)
		}
		c.wantNothingStored(before, "an unknown component status")
		r = cmdr.post(inc+"/components", url.Values{"version": {pageVersion(t, doc)}, "component": {portal},
			"status": {"degraded_performance"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("set the portal: %d: %.300s", r.Code, r.Body)
		}
		doc = cmdr.page(inc)
		if got := text(queryOne(t, doc, "[data-testid=cstatus-customer-portal]")); !strings.Contains(got, "Degraded performance") {
			t.Errorf("the portal shows %q", got)
		}
		if got := c.componentStatus("customer-portal"); got != "degraded_performance" {
			t.Errorf("components.json: the portal is %s", got)
		}
		entries, err = c.store.Audit(ctx, id, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(entries, func(e herald.AuditEntry) bool {
			return e.Action == "component.status" && e.EntityID == portal && e.Before == `{"status":"operational"}` &&
				e.After == `{"status":"degraded_performance"}`
		}) {
			t.Errorf("no audit entry shows the component's status before and after: %+v", entries)
		}

		// Every write above is in the audit log, and only an admin reads it.
		entries, err = c.store.Audit(ctx, id, 100)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, e := range entries {
			count[e.Action]++
			if e.After == "" {
				t.Errorf("audit entry %s has no after", e.Action)
			}
			if e.Action == "incident.change" && e.Before == "" {
				t.Errorf("a change has no before: %+v", e)
			}
		}
		for action, n := range map[string]int{"incident.declare": 1, "incident.note": 1, "incident.role": 3, "component.status": 1} {
			if count[action] != n {
				t.Errorf("%d audit entries %s, want %d (all: %v)", count[action], action, n, count)
			}
		}
		if count["incident.change"] < 4 { // two seats, the estimate, the component
			t.Errorf("%d audit entries incident.change, want at least 4", count["incident.change"])
		}
		for _, role := range herald.Roles {
			r := c.as(t, role).get("/console/audit")
			if role != herald.RoleAdmin {
				if r.Code != http.StatusForbidden {
					t.Errorf("%s reads the audit log: %d, want 403", role, r.Code)
				}
				continue
			}
			if r.Code != http.StatusOK {
				t.Fatalf("admin: audit log %d", r.Code)
			}
			rows := texts(queryAll(t, parseHTML(t, r.Body), "table[data-testid=audit] tbody tr"))
			if !slices.ContainsFunc(rows, func(s string) bool { return strings.Contains(s, "incident.note") && strings.Contains(s, note) }) {
				t.Errorf("the audit page does not show the note: %q", rows)
			}
		}
	})
}

// TestConsoleFlashOnce: a one-off message is shown once, whichever page
// the browser goes to next.
func TestConsoleFlashOnce(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleAdmin)
		c.declare(b, nil) // leaves "Incident declared …" for the next page
		for _, p := range []string{"/console/incidents/new", "/console/users", "/console/maintenance/new"} {
			doc := b.page(p)
			if n := len(queryAll(t, doc, "[data-testid=flash]")); n != 1 {
				t.Fatalf("%s: %d flashes, want the declaration's", p, n)
			}
			if n := len(queryAll(t, b.page("/console"), "[data-testid=flash]")); n != 0 {
				t.Errorf("the flash shown on %s is shown again", p)
			}
			c.declare(b, url.Values{"name": {"Another for " + p}})
		}
	})
}

func TestConsoleRegulatorsRequired(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleCommander)
		// A major incident: not marked; the page offers to mark it.
		id := c.declare(b, url.Values{"impact": {"major"}})
		inc := "/console/incidents/" + id
		doc := b.page(inc)
		if _, state := clockRow(t, doc, "regulators"); state != "not required" {
			t.Fatalf("regulators of a major incident: %q, want not required", state)
		}
		form := queryOne(t, doc, "form[data-testid=regulator-flag]")
		version, _ := attr(queryOne(t, form, "input[name=version]"), "value")

		// Marked later: the clock starts at the marking, not the declaration.
		markFrom := c.clock.Now().Add(30 * time.Minute)
		c.clock.Set(markFrom)
		r := b.post(inc+"/regulator-flag", url.Values{"version": {version}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("mark: %d: %.300s", r.Code, r.Body)
		}
		in, err := c.store.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !in.NotifyRegulators || in.RegulatorsAt == nil || in.RegulatorsAt.Before(markFrom) {
			t.Fatalf("after marking: notify %v at %v, want true from %v", in.NotifyRegulators, in.RegulatorsAt, markFrom)
		}
		doc = b.page(inc)
		if _, state := clockRow(t, doc, "regulators"); !strings.HasPrefix(state, "due in 3h 59m") && state != "due in 4h 00m" {
			t.Errorf("regulators after marking: %q, want due in 4h 00m (from the marking)", state)
		}
		if got := text(queryOne(t, doc, "[data-testid=timeline]")); !strings.Contains(got, "Marked as needing regulator notification (marked in the console)") {
			t.Errorf("the timeline does not say so: %.300s", got)
		}
		queryOne(t, doc, "form[data-testid=regulator-form]")

		// Twice: refused with the reason, nothing changed.
		before := c.stored()
		r = b.post(inc+"/regulator-flag", url.Values{"version": {pageVersion(t, doc)}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("mark again: %d, want 422", r.Code)
		}
		if got := text(parseHTML(t, r.Body)); !strings.Contains(got, "already marked as needing regulator notification") {
			t.Errorf("mark again does not say why: %.300s", got)
		}
		c.wantNothingStored(before, "marking twice")

		// Raised to critical through the composer: the plan requires the
		// regulators, in the same write.
		id2 := c.declare(b, url.Values{"name": {"Disbursements delayed"}, "impact": {"minor"}})
		inc2 := "/console/incidents/" + id2
		doc = b.page(inc2)
		r = b.post(inc2+"/updates", url.Values{"version": {composerVersion(t, doc)}, "main": {"It is worse than we thought."},
			"status": {"identified"}, "impact": {"critical"}, "audience": {"public"}, "action": {"post"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("raise to critical: %d: %.300s", r.Code, r.Body)
		}
		in, err = c.store.Incident(context.Background(), id2)
		if err != nil {
			t.Fatal(err)
		}
		if !in.NotifyRegulators || in.RegulatorsAt == nil {
			t.Errorf("raised to critical: notify %v at %v, want marked", in.NotifyRegulators, in.RegulatorsAt)
		}
		if got := text(queryOne(t, b.page(inc2), "[data-testid=timeline]")); !strings.Contains(got, "Critical impact requires it under the plan") {
			t.Errorf("the timeline does not say why the regulators are owed: %.400s", got)
		}
	})
}
