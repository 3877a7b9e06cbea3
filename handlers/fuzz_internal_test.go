package handlers

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
	"github.com/kredete/herald/components/componentstest"
	"github.com/kredete/herald/statusapi"
)

// FuzzAutomationReport reads fuzzed automation reports (signature checked
// before, elsewhere). A report read is JSON naming at least one change,
// each as the action and incident expect it (a known step state, a loss
// within bounds); a refusal says which field or that the body is not a
// report. Reading it back from its own JSON gives the same change.
func FuzzAutomationReport(f *testing.F) {
	for _, s := range []string{
		`{"action_id":"act1","step":{"position":1,"state":"done","note":"available"}}`,
		`{"action_id":"act1","step":{"position":2,"state":"failed","note":"lag","at":"2026-11-25T09:16:41+02:00"}}`,
		`{"action_id":"act1","restored_at":"2026-11-25T09:16:41Z","data_loss_seconds":4}`,
		`{"action_id":"act1","step":{"position":1,"state":"finished"}}`,
		`{"action_id":"act1","data_loss_seconds":86400001}`,
		`{"action_id":"act1","data_loss_seconds":-1}`,
		`{"action_id":"act1"}`,
		`{"action_id":"act1","colour":"red"}`,
		`{"action_id":"act1","step":null,"restored_at":"yesterday"}`,
		`{"action_id":"act1","data_loss_seconds":1e3}`,
		`{"action_id":"act1","step":{"position":1,"state":"done"}} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := readAutomationReport(body)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "the body is not a report") && !strings.HasPrefix(msg, "the report is empty") &&
				!strings.HasPrefix(msg, "step.") && !strings.HasPrefix(msg, "restored_at:") && !strings.HasPrefix(msg, "data_loss_seconds:") {
				t.Fatalf("refusal %q names no field", msg)
			}
			return
		}
		if c.Step == nil && c.Restored.IsZero() && c.Loss == nil {
			t.Fatalf("a report of nothing accepted: %s", body)
		}
		if c.Step != nil {
			if _, err := herald.ParseStepState(string(c.Step.State)); err != nil {
				t.Fatalf("step state %q accepted", c.Step.State)
			}
		}
		if c.Loss != nil && (*c.Loss < 0 || *c.Loss > maxLossSeconds*time.Second) {
			t.Fatalf("data loss %v accepted", *c.Loss)
		}
		// The same change, written back as a report, reads the same.
		rep := map[string]any{"action_id": c.ActionID}
		if c.Step != nil {
			step := map[string]any{"position": c.Step.Position, "state": c.Step.State, "note": c.Step.Note}
			if !c.Step.At.IsZero() {
				step["at"] = c.Step.At.Format(time.RFC3339)
			}
			rep["step"] = step
		}
		if !c.Restored.IsZero() {
			rep["restored_at"] = c.Restored.Format(time.RFC3339)
		}
		if c.Loss != nil {
			rep["data_loss_seconds"] = int64(*c.Loss / time.Second)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		again, err := readAutomationReport(b)
		if err != nil {
			t.Fatalf("written back, %s is refused: %v", b, err)
		}
		same := again.ActionID == c.ActionID && again.Restored.Equal(c.Restored) && (again.Step == nil) == (c.Step == nil) &&
			(again.Loss == nil) == (c.Loss == nil) && (c.Loss == nil || *again.Loss == *c.Loss) &&
			(c.Step == nil || again.Step.Position == c.Step.Position && again.Step.State == c.Step.State &&
				again.Step.Note == c.Step.Note && again.Step.At.Equal(c.Step.At))
		if !same && utf8.Valid(body) {
			t.Fatalf("written back as %s, it reads %+v; first %+v", b, again, c)
		}
	})
}

// publicSnapshot assembles the public side (page, API documents, feeds)
// from one component in a group, an open incident, a resolved one and a
// maintenance, with fuzzed text in every name, description and update.
func publicSnapshot(t *testing.T, page, name, text, group string) (*Snapshot, components.IncidentView, components.HistoryView) {
	t.Helper()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	site := components.Site{Name: page, URL: "https://status.example.com", Location: time.UTC,
		Assets: components.Assets{CSS: "/static/herald.css", HTMX: "/static/htmx.js", SSE: "/static/sse.js"}}
	b := &SnapshotBuilder{Site: site, Now: func() time.Time { return now },
		Plan: herald.Plan{Page: herald.Page{ID: "kredete", Name: page, URL: "https://status.example.com", TimeZone: "UTC"},
			Objectives: herald.Objectives{Availability: 0.9999}}}
	groups := []herald.ComponentGroup{{ID: "grp1", Key: "lending", Name: group, Description: text}}
	comps := []herald.Component{
		{ID: "cmp_api", Key: "api", Name: name, Description: text, Status: herald.MajorOutage, GroupID: "grp1", CreatedAt: now, UpdatedAt: now},
		{ID: "cmp_web", Key: "web", Name: group, Description: name, Status: herald.Operational, CreatedAt: now, UpdatedAt: now},
	}
	started, ended := now.Add(-3*time.Hour), now.Add(-2*time.Hour)
	later := now.Add(24 * time.Hour)
	until := later.Add(2 * time.Hour)
	change := []herald.ComponentChange{{ComponentID: "cmp_api", Name: name, Old: herald.Operational, New: herald.MajorOutage}}
	incidents := []herald.Incident{
		{ID: "inc1", Kind: herald.KindIncident, Name: name, Status: herald.Identified, Impact: herald.ImpactMajor, CreatedAt: started,
			StartedAt: started, UpdatedAt: now, ComponentIDs: []string{"cmp_api"},
			Updates: []herald.Update{{ID: "u2", Status: herald.Identified, Body: text, CreatedAt: now, DisplayAt: now, Changes: change},
				{ID: "u1", Status: herald.Investigating, Body: name, CreatedAt: started, DisplayAt: started}}},
		{ID: "inc0", Kind: herald.KindIncident, Name: text, Status: herald.Resolved, Impact: herald.ImpactMinor, CreatedAt: started,
			StartedAt: started, UpdatedAt: ended, ResolvedAt: &ended, ComponentIDs: []string{"cmp_web"},
			Updates: []herald.Update{{ID: "u0", Status: herald.Resolved, Body: group, CreatedAt: ended, DisplayAt: ended}}},
		{ID: "mnt1", Kind: herald.KindMaintenance, Name: group, Status: herald.Scheduled, Impact: herald.ImpactNone, CreatedAt: now,
			StartedAt: later, UpdatedAt: now, ScheduledFor: &later, ScheduledUntil: &until, ComponentIDs: []string{"cmp_web"},
			Updates: []herald.Update{{ID: "m1", Status: herald.Scheduled, Body: text, CreatedAt: now, DisplayAt: now}}},
	}
	history := []herald.StatusChange{{ComponentID: "cmp_api", Status: herald.MajorOutage, At: started, IncidentID: "inc1"}}
	s, err := b.assemble(7, now, now, groups, comps, history, incidents)
	if err != nil {
		t.Fatalf("assemble: %v", err)
	}
	iv := components.IncidentView{Site: site, Incident: incidents[0], Components: s.components}
	hv := components.HistoryView{Site: site, Months: s.months[:3], Page: 1, Older: true}
	return s, iv, hv
}

// feedEntries reads a feed as XML, strictly, and returns each entry's
// title and its HTML text (Atom's summary, RSS's description).
func feedEntries(t *testing.T, what string, doc []byte) (titles, texts []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var inEntry bool
	var field string
	var cur strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return titles, texts
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v\n%s", what, err, doc)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "entry", "item":
				inEntry = true
			case "title", "summary", "description":
				field = el.Name.Local
				cur.Reset()
			}
		case xml.CharData:
			if field != "" {
				cur.Write(el)
			}
		case xml.EndElement:
			switch name := el.Name.Local; {
			case name == "entry" || name == "item":
				inEntry = false
			case inEntry && name == field && name == "title":
				titles = append(titles, cur.String())
				field = ""
			case inEntry && name == field:
				texts = append(texts, cur.String())
				field = ""
			case name == field:
				field = ""
			}
		}
	}
}

// FuzzPublicSnapshot builds the public side with fuzzed user text: the
// status page (whole and as the htmx fragment), an incident's page and the
// history keep the markup they have with plain text; every API document
// is JSON that gives the names and update texts back as written; the Atom
// and RSS feeds are well-formed XML whose entries' HTML keeps its markup
// too.
func FuzzPublicSnapshot(f *testing.F) {
	f.Add("Kredete", "Card payments", "We are investigating.\n\nNext update at 10:00.", "Lending")
	f.Add("<b>Kredete</b>", "<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "]]></summary><x>")
	f.Add("&amp;", "\x00\x01\x1b\uFFFE", "<![CDATA[x]]> <!-- c --> &lt;p&gt;", "\u2028</title>")
	f.Add("K", "\xff\xfe", strings.Repeat("é", 500), "javascript:alert(1)")
	f.Fuzz(func(t *testing.T, page, name, text, group string) {
		s, iv, hv := publicSnapshot(t, page, name, text, group)
		p := componentstest.Plain(page, name, text, group)
		ps, piv, phv := publicSnapshot(t, p[0], p[1], p[2], p[3])

		for _, key := range []string{"/", "/#fragment"} {
			got, _ := s.Entry(key)
			want, _ := ps.Entry(key)
			componentstest.SameShape(t, key, string(got.Body), string(want.Body))
		}
		html := func(v any) string {
			var e *Entry
			var err error
			switch v := v.(type) {
			case components.IncidentView:
				e, err = renderEntry(components.IncidentPage(v), "text/html", time.Time{}, 200)
			case components.HistoryView:
				e, err = renderEntry(components.HistoryPage(v), "text/html", time.Time{}, 200)
			}
			if err != nil {
				t.Fatal(err)
			}
			return string(e.Body)
		}
		componentstest.SameShape(t, "/incidents/inc1", html(iv), html(piv))
		componentstest.SameShape(t, "/history", html(hv), html(phv))

		for key, e := range s.entries {
			if !strings.HasPrefix(key, "/api/") {
				continue
			}
			if !json.Valid(e.Body) {
				t.Fatalf("%s is not JSON:\n%s", key, e.Body)
			}
		}
		summary, _ := s.Entry("/api/v2/summary.json")
		var doc statusapi.Summary
		if err := json.Unmarshal(summary.Body, &doc); err != nil {
			t.Fatalf("summary.json: %v", err)
		}
		if utf8.ValidString(name) && utf8.ValidString(text) && utf8.ValidString(page) && utf8.ValidString(group) {
			names := map[string]string{}
			for _, c := range doc.Components {
				names[c.ID] = c.Name
			}
			if doc.Page.Name != page || names["cmp_api"] != name || names["cmp_web"] != group || doc.Incidents[0].Name != name ||
				doc.Incidents[0].IncidentUpdates[0].Body != text || doc.ScheduledMaintenances[0].Name != group {
				t.Fatalf("summary.json does not give the text back as written:\n%s", summary.Body)
			}
		}

		for _, key := range []string{"/history.atom", "/history.rss"} {
			got, _ := s.Entry(key)
			want, _ := ps.Entry(key)
			titles, texts := feedEntries(t, key, got.Body)
			_, plainTexts := feedEntries(t, key+" (plain)", want.Body)
			if len(texts) != len(plainTexts) || len(titles) != len(texts) {
				t.Fatalf("%s: %d titles and %d entries; with plain text %d entries", key, len(titles), len(texts), len(plainTexts))
			}
			for i := range texts {
				componentstest.SameShape(t, key+" entry "+strconv.Itoa(i), texts[i], plainTexts[i])
			}
		}
	})
}
