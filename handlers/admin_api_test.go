package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// apiError is the admin API's error body.
type apiError struct {
	Error struct {
		Status  int               `json:"status"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func decodeError(t *testing.T, r response) apiError {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error response is %q, want JSON: %s", ct, r.Body)
	}
	var e apiError
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.Body, err)
	}
	if e.Error.Status != r.Code || e.Error.Message == "" {
		t.Errorf("error body %s does not match status %d", r.Body, r.Code)
	}
	return e
}

// wantError checks an admin API failure: status, a JSON body whose message
// contains each of says.
func wantError(t *testing.T, r response, status int, says ...string) apiError {
	t.Helper()
	if r.Code != status {
		t.Fatalf("got %d, want %d: %s", r.Code, status, r.Body)
	}
	e := decodeError(t, r)
	for _, s := range says {
		if !strings.Contains(e.Error.Message, s) {
			t.Errorf("message %q does not say %q", e.Error.Message, s)
		}
	}
	return e
}

// written decodes a 201 or 200 from the admin API: an incident or a
// scheduled maintenance.
func written(t *testing.T, r response, status int) apiIncident {
	t.Helper()
	if r.Code != status {
		t.Fatalf("got %d, want %d: %s", r.Code, status, r.Body)
	}
	var body struct {
		Incident    *apiIncident `json:"incident"`
		Maintenance *apiIncident `json:"scheduled_maintenance"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("%s: %v", r.Body, err)
	}
	in := body.Incident
	if in == nil {
		in = body.Maintenance
	}
	if in == nil || in.ID == "" {
		t.Fatalf("no incident in %s", r.Body)
	}
	if loc := r.Header.Get("Location"); loc != "/incidents/"+in.ID {
		t.Errorf("Location = %q, want /incidents/%s", loc, in.ID)
	}
	return *in
}

// unchanged is what "nothing was stored" looks like from outside: the
// version in the database and the public documents, rebuilt from the
// database, are as they were.
type unchanged struct {
	version int64
	docs    map[string][]byte
}

func (e *env) state() unchanged {
	e.t.Helper()
	ctx := context.Background()
	if err := e.public.Refresh(ctx); err != nil {
		e.t.Fatal(err)
	}
	v, _, err := e.store.Version(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	u := unchanged{version: v, docs: map[string][]byte{}}
	for _, p := range []string{"/api/v2/summary.json", "/api/v2/incidents.json", "/api/v2/scheduled-maintenances.json"} {
		u.docs[p] = e.getOK(p).Body
	}
	return u
}

func (e *env) wantUnchanged(before unchanged, what string) {
	e.t.Helper()
	after := e.state()
	if after.version != before.version {
		e.t.Errorf("%s: the page version moved from %d to %d: something was stored", what, before.version, after.version)
	}
	for p, b := range before.docs {
		if !bytes.Equal(b, after.docs[p]) {
			e.t.Errorf("%s: %s changed:\nbefore %s\nafter  %s", what, p, b, after.docs[p])
		}
	}
}

func (e *env) declare(v map[string]any) apiIncident {
	e.t.Helper()
	return written(e.t, e.admin(http.MethodPost, "/admin/api/incidents", v), http.StatusCreated)
}

func (e *env) update(id string, v map[string]any) apiIncident {
	e.t.Helper()
	return written(e.t, e.admin(http.MethodPost, "/admin/api/incidents/"+id+"/updates", v), http.StatusCreated)
}

func TestAdminAuth(t *testing.T) {
	e := newEnv(t, envOptions{token: adminToken})
	before := e.state()
	body := `{"name":"x","body":"y"}`
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Bearer " + adminToken + "x",
		"bearer " + adminToken, "Basic " + adminToken, adminToken} {
		r := e.do(http.MethodPost, "/admin/api/incidents", strings.NewReader(body), "Authorization", auth, "Content-Type", "application/json")
		wantError(t, r, http.StatusUnauthorized, "token")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: WWW-Authenticate %q", auth, r.Header.Get("WWW-Authenticate"))
		}
		if strings.Contains(string(r.Body), adminToken) {
			t.Errorf("the error echoes the token: %s", r.Body)
		}
	}
	for _, p := range []string{"/admin/api/incidents/abc", "/admin/api/nothing"} {
		wantError(t, e.get(p), http.StatusUnauthorized)
	}
	e.wantUnchanged(before, "refused requests")

	off := newEnv(t, envOptions{token: ""})
	before = off.state()
	for _, auth := range []string{"", "Bearer ", "Bearer anything"} {
		r := off.do(http.MethodPost, "/admin/api/incidents", strings.NewReader(body), "Authorization", auth, "Content-Type", "application/json")
		wantError(t, r, http.StatusForbidden, "disabled")
	}
	off.wantUnchanged(before, "admin API disabled")
}

func TestCrossSiteFormPost(t *testing.T) {
	e := newEnv(t, envOptions{token: adminToken})
	before := e.state()
	form := "name=pwned&body=pwned"
	for _, c := range []struct {
		path    string
		headers []string
	}{
		{"/admin/api/incidents", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{"/admin/api/incidents", []string{"Sec-Fetch-Site", "same-site", "Origin", "https://evil.status.kredete.com"}},
		// An older browser without Fetch metadata: the Origin gives it away.
		{"/admin/api/incidents", []string{"Origin", "https://evil.example"}},
		{"/", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
	} {
		h := append([]string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer " + adminToken}, c.headers...)
		r := e.do(http.MethodPost, c.path, strings.NewReader(form), h...)
		if r.Code != http.StatusForbidden {
			t.Errorf("cross-site POST %s %q = %d, want 403", c.path, c.headers, r.Code)
		}
	}
	e.wantUnchanged(before, "cross-site posts")

	// Same-origin and non-browser clients pass.
	same := e.do(http.MethodPost, "/admin/api/incidents",
		strings.NewReader(`{"name":"Same origin","body":"Posted from the console."}`),
		"Content-Type", "application/json", "Authorization", "Bearer "+adminToken,
		"Sec-Fetch-Site", "same-origin", "Origin", "http://example.com")
	written(t, same, http.StatusCreated)
}

func TestIncidentLifecycle(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		in := e.declare(map[string]any{
			"name": "Elevated API error rates", "impact": "major", "body": "We are investigating elevated error rates.",
			"components": []map[string]string{{"id": "api-platform", "status": "partial_outage"}, {"id": e.ids["credit-origination"], "status": "degraded_performance"}},
		})
		if in.Status != "investigating" || in.Impact != "major" || len(in.IncidentUpdates) != 1 {
			t.Errorf("declared %+v", in)
		}
		var comps []string
		for _, c := range in.Components {
			comps = append(comps, c.ID)
		}
		if want := []string{e.ids["api-platform"], e.ids["credit-origination"]}; !slices.Equal(comps, want) {
			t.Errorf("components %q, want %q (named by key and by id)", comps, want)
		}
		if ac := in.IncidentUpdates[0].AffectedComponents; len(ac) != 2 || ac[0].OldStatus != "operational" || ac[0].NewStatus != "partial_outage" {
			t.Errorf("affected_components = %+v", ac)
		}

		// Read your write: the public side shows it at once.
		doc := parseHTML(t, e.getOK("/").Body)
		if got := text(queryOne(t, doc, "[data-testid=banner]")); !strings.Contains(got, "Partial System Outage") {
			t.Errorf("banner = %q", got)
		}
		card := queryOne(t, doc, "[data-testid=active-incidents] article[data-incident="+in.ID+"]")
		if got := text(queryOne(t, card, "h3")); got != "Elevated API error rates" {
			t.Errorf("card title %q", got)
		}
		row := queryOne(t, doc, "[data-testid=component][data-component="+e.ids["api-platform"]+"]")
		if got := text(queryOne(t, row, "[data-testid=component-status]")); !strings.Contains(got, "Partial outage") {
			t.Errorf("API Platform shows %q", got)
		}
		if got := incidentIDs(e.apiDoc("/api/v2/incidents/unresolved.json").Incidents); !slices.Equal(got, []string{in.ID}) {
			t.Errorf("unresolved.json = %q, want [%s]", got, in.ID)
		}
		s := e.apiDoc("/api/v2/summary.json")
		if s.Status.Indicator != "major" || !slices.Equal(incidentIDs(s.Incidents), []string{in.ID}) {
			t.Errorf("summary: indicator %q, incidents %q", s.Status.Indicator, incidentIDs(s.Incidents))
		}
		page := parseHTML(t, e.getOK("/incidents/"+in.ID).Body)
		if got := text(queryOne(t, page, "main#content article[data-testid=incident] h3")); got != "Elevated API error rates" {
			t.Errorf("incident page title %q", got)
		}
		if got := text(queryOne(t, page, "[data-testid=affected]")); !strings.Contains(got, "API Platform, Credit Origination") {
			t.Errorf("affected = %q", got)
		}
		if got := written(t, e.admin(http.MethodGet, "/admin/api/incidents/"+in.ID, nil), http.StatusOK); got.ID != in.ID {
			t.Errorf("GET admin incident = %+v", got)
		}

		// Forward through the transitions.
		in = e.update(in.ID, map[string]any{"status": "identified", "body": "A failed database node; failing over."})
		if in.Status != "identified" || len(in.IncidentUpdates) != 2 || in.IncidentUpdates[0].Status != "identified" {
			t.Errorf("after identified: %+v", in)
		}
		before := e.state()
		wantError(t, e.admin(http.MethodPost, "/admin/api/incidents/"+in.ID+"/updates",
			map[string]any{"status": "investigating", "body": "Back to square one."}), http.StatusConflict, "backwards")
		wantError(t, e.admin(http.MethodPost, "/admin/api/incidents/"+in.ID+"/updates",
			map[string]any{"status": "postmortem", "body": "Too early."}), http.StatusConflict)
		e.wantUnchanged(before, "refused transitions")

		in = e.update(in.ID, map[string]any{"status": "monitoring", "body": "A fix is deployed; monitoring."})
		if in.MonitoringAt == nil || in.ResolvedAt != nil {
			t.Errorf("monitoring: monitoring_at %v, resolved_at %v", in.MonitoringAt, in.ResolvedAt)
		}
		in = e.update(in.ID, map[string]any{"status": "resolved", "body": "Resolved."})
		if in.Status != "resolved" || in.ResolvedAt == nil || len(in.IncidentUpdates) != 4 {
			t.Errorf("resolved: %+v", in)
		}
		// Resolving frees the components.
		for _, k := range []string{"api-platform", "credit-origination"} {
			if s := e.componentStatus(k); s != "operational" {
				t.Errorf("%s is %s after resolution, want operational", k, s)
			}
		}
		if got := e.apiDoc("/api/v2/incidents/unresolved.json").Incidents; len(got) != 0 {
			t.Errorf("unresolved.json still lists %q", incidentIDs(got))
		}
		all := e.apiDoc("/api/v2/incidents.json").Incidents
		if len(all) != 1 || all[0].Status != "resolved" || len(all[0].IncidentUpdates) != 4 {
			t.Errorf("incidents.json = %+v", all)
		}
		doc = parseHTML(t, e.getOK("/").Body)
		if got := text(queryOne(t, doc, "[data-testid=banner]")); !strings.Contains(got, "All Systems Operational") {
			t.Errorf("banner after resolution = %q", got)
		}
		if n := len(queryAll(t, doc, "[data-testid=active-incidents]")); n != 0 {
			t.Error("the resolved incident is still on the front page")
		}

		// A resolved incident takes only a postmortem; anything else is a
		// conflict until it is reopened.
		before = e.state()
		wantError(t, e.admin(http.MethodPost, "/admin/api/incidents/"+in.ID+"/updates",
			map[string]any{"status": "identified", "body": "Again?"}), http.StatusConflict, "reopen")
		e.wantUnchanged(before, "update on a resolved incident")
		in = e.update(in.ID, map[string]any{"status": "postmortem", "body": "The postmortem is published."})
		if in.Status != "postmortem" {
			t.Errorf("postmortem: %s", in.Status)
		}
		in = written(t, e.admin(http.MethodPost, "/admin/api/incidents/"+in.ID+"/reopen", map[string]any{"body": "It is back."}), http.StatusCreated)
		if in.Status != "investigating" || in.ResolvedAt != nil {
			t.Errorf("reopened: %s, resolved_at %v", in.Status, in.ResolvedAt)
		}
		if got := incidentIDs(e.apiDoc("/api/v2/incidents/unresolved.json").Incidents); !slices.Equal(got, []string{in.ID}) {
			t.Errorf("after reopening, unresolved.json = %q", got)
		}

		wantError(t, e.admin(http.MethodPost, "/admin/api/incidents/nosuchincident/updates",
			map[string]any{"status": "identified", "body": "x"}), http.StatusNotFound)
		wantError(t, e.admin(http.MethodGet, "/admin/api/incidents/nosuchincident", nil), http.StatusNotFound)
	})
}

func TestAdminValidation(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		in := e.declare(map[string]any{"name": "Slow credit decisions", "body": "Investigating.",
			"components": []map[string]string{{"id": "credit-origination", "status": "degraded_performance"}}})
		path := "/admin/api/incidents/" + in.ID + "/updates"
		post := func(e *env, body []byte, headers ...string) response {
			h := append([]string{"Authorization", "Bearer " + adminToken, "Content-Type", "application/json"}, headers...)
			return e.do(http.MethodPost, path, bytes.NewReader(body), h...)
		}
		big := strings.Repeat("a", 70<<10)
		for _, c := range []struct {
			name   string
			body   []byte
			ctype  string
			status int
			says   []string
			field  string
		}{
			{"invalid status", []byte(`{"status":"fixed","body":"x"}`), "", 422,
				[]string{`"fixed"`, "investigating, identified, monitoring, resolved, postmortem"}, "status"},
			{"invalid impact", []byte(`{"status":"identified","impact":"huge","body":"x"}`), "", 422,
				[]string{"none, minor, major, critical"}, "impact"},
			{"empty body text", []byte(`{"status":"identified","body":"   "}`), "", 422, []string{"body"}, "body"},
			{"unknown component", []byte(`{"status":"identified","body":"x","components":[{"id":"mainframe","status":"major_outage"}]}`), "", 422,
				[]string{"mainframe"}, "components[0]"},
			{"invalid component status", []byte(`{"status":"identified","body":"x","components":[{"id":"api-platform","status":"down"}]}`), "", 422,
				[]string{"operational, degraded_performance, partial_outage, major_outage, under_maintenance"}, "components[0].status"},
			{"body over 64 KiB", []byte(`{"status":"identified","body":"` + big + `"}`), "", 413, []string{"65536"}, ""},
			{"padding over 64 KiB", []byte(`{"status":"identified","body":"x"}` + strings.Repeat(" ", 70<<10)), "", 413, []string{"65536"}, ""},
			{"unknown field", []byte(`{"status":"identified","body":"x","colour":"red"}`), "", 400, []string{`"colour"`}, ""},
			{"wrong type", []byte(`{"status":3,"body":"x"}`), "", 400, []string{`"status"`, "string"}, ""},
			{"not JSON", []byte(`status=identified`), "", 400, []string{"not valid JSON"}, ""},
			{"empty", nil, "", 400, []string{"empty"}, ""},
			{"two objects", []byte(`{"status":"identified","body":"x"}{"status":"resolved","body":"y"}`), "", 400, []string{"one JSON object"}, ""},
			{"text/plain", []byte(`{"status":"identified","body":"x"}`), "text/plain", 415, []string{"application/json"}, ""},
			{"form", []byte(`status=identified&body=x`), "application/x-www-form-urlencoded", 415, []string{"application/json"}, ""},
			{"no content type", []byte(`{"status":"identified","body":"x"}`), "-", 415, []string{"application/json"}, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := e.on(t)
				before := e.state()
				var r response
				switch c.ctype {
				case "":
					r = post(e, c.body)
				case "-":
					r = e.do(http.MethodPost, path, bytes.NewReader(c.body), "Authorization", "Bearer "+adminToken)
				default:
					r = post(e, c.body, "Content-Type", c.ctype)
				}
				ae := wantError(t, r, c.status, c.says...)
				if c.field != "" {
					if _, ok := ae.Error.Fields[c.field]; !ok {
						t.Errorf("fields = %v, want %s", ae.Error.Fields, c.field)
					}
				}
				e.wantUnchanged(before, c.name)
			})
		}
		// application/json with a charset is still JSON.
		written(t, post(e, []byte(`{"status":"identified","body":"Found it."}`), "Content-Type", "application/json; charset=utf-8"), http.StatusCreated)

		before := e.state()
		for name, v := range map[string]map[string]any{
			"no name":              {"body": "x"},
			"bad kind":             {"kind": "outage", "name": "x", "body": "x"},
			"closed at birth":      {"name": "x", "body": "x", "status": "resolved"},
			"maintenance, no time": {"kind": "maintenance", "name": "x", "body": "x"},
			"maintenance, backwards window": {"kind": "maintenance", "name": "x", "body": "x",
				"scheduled_for": start.Add(48 * time.Hour), "scheduled_until": start.Add(47 * time.Hour)},
			"unknown component": {"name": "x", "body": "x", "components": []map[string]string{{"id": "nope"}}},
			"name too long":     {"name": strings.Repeat("n", 201), "body": "x"},
		} {
			t.Run(name, func(t *testing.T) {
				e := e.on(t)
				wantError(t, e.admin(http.MethodPost, "/admin/api/incidents", v), http.StatusUnprocessableEntity)
			})
		}
		e.wantUnchanged(before, "invalid declarations")
	})
}

func TestEscaping(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		const hostile = `<script>alert(1)</script> <b>x</b>`
		in := e.declare(map[string]any{"name": hostile, "body": hostile + " & more",
			"components": []map[string]string{{"id": "customer-portal", "status": "major_outage"}}})
		for _, p := range []string{"/", "/incidents/" + in.ID} {
			raw := string(e.getOK(p).Body)
			if strings.Contains(raw, "<script>alert") || strings.Contains(raw, "<b>x</b>") {
				t.Errorf("%s carries the markup unescaped", p)
			}
			if !strings.Contains(raw, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("%s does not show the escaped title", p)
			}
			doc := parseHTML(t, []byte(raw))
			card := queryOne(t, doc, "article[data-incident="+in.ID+"]")
			if got := text(queryOne(t, card, "h3")); got != hostile {
				t.Errorf("%s: the title reads %q, want the text %q", p, got, hostile)
			}
			if got := text(queryOne(t, card, "[data-testid=update] .body")); got != hostile+" & more" {
				t.Errorf("%s: the update reads %q", p, got)
			}
			if n := len(queryAll(t, card, "script")) + len(queryAll(t, card, "b")); n != 0 {
				t.Errorf("%s: the incident card holds %d injected elements", p, n)
			}
		}
		// JSON carries the text as it was typed, with < escaped.
		raw := string(e.getOK("/api/v2/incidents/unresolved.json").Body)
		if strings.Contains(raw, "<script") {
			t.Error("unresolved.json has a raw <script")
		}
		if got := e.apiDoc("/api/v2/incidents/unresolved.json").Incidents[0].Name; got != hostile {
			t.Errorf("API name = %q", got)
		}
		// Feeds: the title is text, and the HTML description shows the
		// markup as text when a reader renders it.
		for _, p := range []string{"/history.atom", "/history.rss"} {
			if raw := string(e.getOK(p).Body); strings.Contains(raw, "<script") || strings.Contains(raw, "<b>") {
				t.Errorf("%s has raw markup", p)
			}
		}
		af, rf := e.feeds()
		if len(af.Entries) != 1 || af.Entries[0].Title != hostile {
			t.Fatalf("atom entries %+v", af.Entries)
		}
		html := af.Entries[0].Summary + af.Entries[0].Content
		if len(rf.Channel.Items) != 1 || rf.Channel.Items[0].Title != hostile {
			t.Fatalf("rss items %+v", rf.Channel.Items)
		}
		for _, h := range []string{html, rf.Channel.Items[0].Description} {
			if strings.Contains(h, "<script") || strings.Contains(h, "<b>x") || !strings.Contains(h, "&lt;script&gt;") {
				t.Errorf("feed HTML %q would render the markup", h)
			}
			if got := renderedText(t, h); !strings.Contains(got, hostile+" & more") {
				t.Errorf("feed HTML reads %q, want the update as typed", got)
			}
		}
	})
}

// heading is the text of the first heading within n.
func heading(n *html.Node) string {
	if n.Type == html.ElementNode && len(n.Data) == 2 && n.Data[0] == 'h' && n.Data[1] >= '1' && n.Data[1] <= '6' {
		return text(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if h := heading(c); h != "" {
			return h
		}
	}
	return ""
}

// renderedText is what a feed reader shows for an HTML description.
func renderedText(t *testing.T, h string) string {
	t.Helper()
	return text(parseFragment(t, []byte(h)))
}

func TestHistory(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		// An old incident (beyond the snapshot's year), one in October and
		// one in November, both resolved, and one still open.
		e.clock.Set(time.Date(2025, 6, 3, 9, 0, 0, 0, time.UTC))
		old := e.declare(map[string]any{"name": "An old outage", "body": "Investigating."})
		e.update(old.ID, map[string]any{"status": "resolved", "body": "Resolved."})
		e.clock.Set(time.Date(2026, 10, 15, 9, 0, 0, 0, time.UTC))
		oct := e.declare(map[string]any{"name": "October outage", "body": "Investigating.",
			"components": []map[string]string{{"id": "api-platform", "status": "major_outage"}}})
		e.update(oct.ID, map[string]any{"status": "resolved", "body": "Resolved."})
		e.clock.Set(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
		nov := e.declare(map[string]any{"name": "November blip", "body": "Investigating."})
		e.update(nov.ID, map[string]any{"status": "resolved", "body": "Resolved."})
		open := e.declare(map[string]any{"name": "Still open", "body": "Investigating."})

		doc := parseHTML(t, e.getOK("/history").Body)
		months := queryAll(t, doc, "main#content section[data-testid=month]")
		if len(months) != 3 {
			t.Fatalf("%d months on the first page, want 3", len(months))
		}
		if got := []string{heading(months[0]), heading(months[1]), heading(months[2])}; !slices.Equal(got, []string{"November 2026", "October 2026", "September 2026"}) {
			t.Errorf("months %q", got)
		}
		links := func(n *html.Node) []string {
			var out []string
			for _, a := range queryAll(t, n, "a") {
				href, _ := attr(a, "href")
				out = append(out, href)
			}
			return out
		}
		if got := links(months[0]); !slices.Equal(got, []string{"/incidents/" + nov.ID}) {
			t.Errorf("November links %q, want only the November incident (the open one is on the front page)", got)
		}
		if got := links(months[1]); !slices.Equal(got, []string{"/incidents/" + oct.ID}) {
			t.Errorf("October links %q", got)
		}
		if got := text(months[2]); !strings.Contains(got, "No incidents") {
			t.Errorf("September reads %q", got)
		}
		if !strings.Contains(text(months[1]), "October outage") {
			t.Errorf("October reads %q", text(months[1]))
		}
		queryOne(t, doc, `nav.pager a[href="/history?page=2"]`)

		last := parseHTML(t, e.getOK("/history?page=4").Body)
		if n := len(queryAll(t, last, "section[data-testid=month]")); n != 3 {
			t.Errorf("page 4 has %d months", n)
		}
		if n := len(queryAll(t, last, `nav.pager a[href="/history?page=5"]`)); n != 0 {
			t.Error("the last page links to an older one")
		}
		for _, q := range []string{"abc", "0", "-1", "1.5", "%00"} {
			if r := e.get("/history?page=" + q); r.Code != http.StatusBadRequest {
				t.Errorf("/history?page=%s = %d, want 400", q, r.Code)
			}
		}
		if r := e.get("/history?page=5"); r.Code != http.StatusNotFound {
			t.Errorf("/history?page=5 = %d, want 404", r.Code)
		}

		// The old incident is not in the snapshot but its page still works.
		oldPage := parseHTML(t, e.getOK("/incidents/"+old.ID).Body)
		if got := text(queryOne(t, oldPage, "article[data-testid=incident] h3")); got != "An old outage" {
			t.Errorf("old incident page: %q", got)
		}

		af, rf := e.feeds()
		var atomTitles, rssTitles []string
		for _, en := range af.Entries {
			atomTitles = append(atomTitles, en.Title)
			if len(en.Links) == 0 || !strings.HasPrefix(en.Links[0].Href, e.plan.Page.URL+"/incidents/") {
				t.Errorf("atom entry %q links %+v", en.Title, en.Links)
			}
		}
		for _, it := range rf.Channel.Items {
			rssTitles = append(rssTitles, it.Title)
		}
		for _, want := range []string{"October outage", "November blip", "Still open"} {
			if !slices.Contains(atomTitles, want) || !slices.Contains(rssTitles, want) {
				t.Errorf("feeds lack %q: atom %q, rss %q", want, atomTitles, rssTitles)
			}
		}
		front := parseHTML(t, e.getOK("/").Body)
		queryOne(t, front, "[data-testid=active-incidents] article[data-incident="+open.ID+"]")
	})
}

func TestMaintenance(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		from := start.Add(48 * time.Hour)
		m := e.declare(map[string]any{"kind": "maintenance", "name": "Partner gateway upgrade",
			"body": "We will upgrade the partner gateway.", "scheduled_for": from, "scheduled_until": from.Add(2 * time.Hour),
			"components": []map[string]string{{"id": "partner-integrations"}}})
		if m.Status != "scheduled" || m.Impact != "maintenance" {
			t.Errorf("declared maintenance: status %q impact %q", m.Status, m.Impact)
		}
		if got := incidentIDs(e.apiDoc("/api/v2/scheduled-maintenances/upcoming.json").ScheduledMaintenances); !slices.Equal(got, []string{m.ID}) {
			t.Errorf("upcoming.json = %q", got)
		}
		if got := e.apiDoc("/api/v2/scheduled-maintenances/active.json").ScheduledMaintenances; len(got) != 0 {
			t.Errorf("active.json = %q before it starts", incidentIDs(got))
		}
		if got := e.apiDoc("/api/v2/incidents.json").Incidents; len(got) != 0 {
			t.Errorf("a maintenance is listed in incidents.json: %q", incidentIDs(got))
		}
		if s := e.componentStatus("partner-integrations"); s != "operational" {
			t.Errorf("scheduled maintenance already put the component %s", s)
		}
		doc := parseHTML(t, e.getOK("/").Body)
		queryOne(t, doc, "[data-testid=maintenance] article[data-incident="+m.ID+"]")

		// The operator says it has started; the component it names goes
		// under maintenance.
		m = e.update(m.ID, map[string]any{"status": "in_progress", "body": "The upgrade has started.",
			"components": []map[string]string{{"id": "partner-integrations"}}})
		if got := incidentIDs(e.apiDoc("/api/v2/scheduled-maintenances/active.json").ScheduledMaintenances); !slices.Equal(got, []string{m.ID}) {
			t.Errorf("active.json = %q after in_progress", got)
		}
		if got := e.apiDoc("/api/v2/scheduled-maintenances/upcoming.json").ScheduledMaintenances; len(got) != 0 {
			t.Errorf("upcoming.json still lists %q", incidentIDs(got))
		}
		if s := e.componentStatus("partner-integrations"); s != "under_maintenance" {
			t.Errorf("partner-integrations is %s during the maintenance, want under_maintenance", s)
		}
		s := e.apiDoc("/api/v2/summary.json")
		if s.Status.Indicator != "maintenance" || !slices.Equal(incidentIDs(s.ScheduledMaintenances), []string{m.ID}) {
			t.Errorf("summary: indicator %q, maintenances %q", s.Status.Indicator, incidentIDs(s.ScheduledMaintenances))
		}
		doc = parseHTML(t, e.getOK("/").Body)
		if got := text(queryOne(t, doc, "[data-testid=banner]")); !strings.Contains(got, "Service Under Maintenance") {
			t.Errorf("banner = %q", got)
		}

		before := e.state()
		wantError(t, e.admin(http.MethodPost, "/admin/api/incidents/"+m.ID+"/updates",
			map[string]any{"status": "resolved", "body": "x"}), http.StatusUnprocessableEntity, "scheduled, in_progress, verifying, completed")
		e.wantUnchanged(before, "incident status on a maintenance")

		m = e.update(m.ID, map[string]any{"status": "completed", "body": "Done."})
		if s := e.componentStatus("partner-integrations"); s != "operational" {
			t.Errorf("partner-integrations is %s after completion", s)
		}
		if got := e.apiDoc("/api/v2/scheduled-maintenances/active.json").ScheduledMaintenances; len(got) != 0 {
			t.Errorf("active.json = %q after completion", incidentIDs(got))
		}
		all := e.apiDoc("/api/v2/scheduled-maintenances.json").ScheduledMaintenances
		if len(all) != 1 || all[0].Status != "completed" {
			t.Errorf("scheduled-maintenances.json = %+v", all)
		}
	})
}
