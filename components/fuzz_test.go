package components_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
	"github.com/kredete/herald/components/componentstest"
)

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

// consoleIncident is an incident's console page, as an admin sees it (every
// panel and form shown), with name, text and person in every place that
// shows user text, and link as PagerDuty's link to its incident.
func consoleIncident(name, text, person, link string) components.IncidentConsoleView {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	due := at.Add(30 * time.Minute)
	site := components.Site{Name: name, URL: "https://status.example.com", Location: time.UTC,
		Assets: components.Assets{CSS: "/static/herald.css", HTMX: "/static/htmx.js", SSE: "/static/sse.js"}}
	aud := herald.Audience{Key: "executives", Name: name, Description: text, Channels: []herald.Channel{herald.ChannelEmail},
		Cadence: herald.Cadence{Kind: herald.Every, Interval: 30 * time.Minute}}
	regs := herald.Audience{Key: "regulators", Name: name, Description: text, Channels: []herald.Channel{herald.ChannelPhone},
		Cadence: herald.Cadence{Kind: herald.Deadline, Interval: 4 * time.Hour}, Conditional: true}
	in := herald.Incident{ID: "inc42", Kind: herald.KindIncident, Name: name, Status: herald.Identified, Impact: herald.ImpactMajor,
		CreatedAt: at, StartedAt: at, UpdatedAt: at, Version: 3, NotifyRegulators: true, Triage: text, DataLossSource: person,
		ComponentIDs: []string{"cmp_api"}, PagerDutyResolvedAt: &at,
		Updates: []herald.Update{{ID: "u1", Status: herald.Identified, Body: text, CreatedAt: at, DisplayAt: at,
			Changes: []herald.ComponentChange{{ComponentID: "cmp_api", Name: name, Old: herald.Operational, New: herald.MajorOutage}}}}}
	user := herald.User{ID: "usr1", Email: "ada@example.com", Name: person, Role: herald.RoleAdmin}
	report := herald.RegulatorReport{Step: "initial", CalledBy: person, Whom: name, Reference: text, Notes: text, At: at}
	delivery := herald.Delivery{ID: "dlv1", Audience: "executives", Channel: herald.ChannelEmail, Kind: herald.KindReminder,
		Recipient: person, Subject: name, Body: text, State: herald.DeliveryFailed, Attempts: 3, ProviderID: text,
		ProviderStatus: "undelivered", LastError: text, CreatedAt: at}
	proc := herald.Procedure{Kind: herald.ProcedureRunbook, Key: "database-failover", Name: name, Description: text,
		Warning: text, Precondition: text, ApproverRole: herald.RoleApprover}
	action := herald.Action{ID: "act1", IncidentID: in.ID, Kind: proc.Kind, Key: proc.Key, Name: name, State: herald.ActionRunning,
		Reason: text, RequestedBy: herald.Actor{Name: person}, RequestedAt: at, DecidedBy: herald.Actor{Name: person}, DecidedAt: &at,
		DecisionNote: text, StartedBy: herald.Actor{Name: person}, StartedAt: &at, Precondition: text,
		AutomationURL: link, AutomationState: "failed", AutomationError: text,
		Steps: []herald.ActionStep{{Position: 1, Name: name, Detail: text, State: herald.StepDone, Actor: person, Note: text,
			FinishedAt: &at}, {Position: 2, Name: text, State: herald.StepRunning}}}
	loss := 5 * time.Minute
	return components.IncidentConsoleView{
		Console: components.Console{Site: site, JS: "/static/console.js", User: user, Title: name, Flash: text, Banner: text,
			Obligations: []components.ObligationItem{{IncidentID: in.ID, IncidentName: name, What: text, Due: due, Overdue: true}}},
		Incident:    in,
		Components:  []herald.Component{{ID: "cmp_api", Key: "api", Name: name, Description: text, Status: herald.MajorOutage}},
		Assignments: map[herald.IncidentRole]herald.Assignment{herald.SeatCommander: {Role: herald.SeatCommander, UserName: person}},
		Users:       []herald.User{user},
		Clocks: []herald.Clock{{Audience: aud, Applies: true, Cadence: aud.Cadence, LastTold: &at, NextDue: &due, Overdue: true,
			Obligation: &herald.Obligation{Step: "update", Due: due}, Missed: 1},
			{Audience: regs, Applies: true, Cadence: regs.Cadence, Steps: []herald.StepRecord{{Step: "initial", Due: due, Done: &report}}}},
		Timeline:   []herald.TimelineEvent{{Kind: "note", Actor: person, Summary: text, At: at}},
		Objectives: herald.Objectives{RTO: 4 * time.Hour, RPO: time.Hour},
		DataLoss:   &loss,
		Composer: components.ComposerView{IncidentID: in.ID, Version: 3, Status: string(herald.Identified), Impact: string(herald.ImpactMajor),
			Main: text, Statuses: []herald.Status{herald.Identified, herald.Resolved}, NextUpdate: text,
			Errors:    map[string]string{"main": text, "text_executives": text},
			Templates: []herald.Template{{Status: herald.Identified, Body: text}},
			Previews: []components.AudiencePreview{{Audience: aud, Text: text, OwnText: true, Ticked: true, Applies: true, SMS: true,
				SMSChars: 100, SMSParts: 1}}},
		Now:           at,
		Audit:         []herald.AuditEntry{{At: at, Actor: person, Action: text, Before: text, After: text}},
		Stale:         text,
		Errors:        map[string]string{"restored_at": text, "minutes": text, "note": text, "regulators": text, "called_by": text},
		Deliveries:    []herald.Delivery{delivery},
		DeliveryTotal: 2,
		Failed:        1,
		Compliance: []herald.ComplianceRow{{Audience: aud, Step: "update", Promised: text, Messages: 2, Late: 1, Done: &at, Due: &due,
			Verdict: text}},
		Reports:       []herald.RegulatorReport{report},
		Regulators:    &regs,
		RegulatorForm: components.RegulatorForm{Step: "initial", CalledBy: person, Whom: name, At: "2026-11-25T09:00", Reference: text, Notes: text},
		Actions:       []components.ActionView{{Action: action, Procedure: proc, Automation: []herald.Delivery{delivery}}},
		Procedures:    []herald.Procedure{proc},
		ActionForm:    components.ActionForm{Procedure: proc.Key, Reason: text},
		PagerDuty: []herald.PagerDutyLink{{IncidentID: in.ID, PDIncidentID: text, ServiceName: name, HTMLURL: link, Direction: "in",
			Status: text}},
		PagerDutyPaged: []herald.Delivery{{ID: "dlv2", Channel: herald.ChannelPagerDuty, Kind: herald.KindPageTrigger, Subject: name,
			Body: text, State: herald.DeliveryFailed, LastError: text}},
	}
}

// FuzzConsolePages renders the console's incident page and incident list
// with fuzzed user text (names, texts, people, a PagerDuty link) and
// checks that the markup is what it is with plain text in the same
// places: no user text became a tag, an attribute or a script URL.
func FuzzConsolePages(f *testing.F) {
	f.Add("Card payments failing", "We are investigating.\nNext update soon.", "Ada Lovelace", "https://kredete.pagerduty.com/incidents/Q1")
	f.Add("<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "</textarea><b>", "javascript:alert(1)")
	f.Add("</title><svg/onload=alert(1)>", "<!-- x --> <![CDATA[ ]]> &amp; &#x3C;", "' autofocus onfocus='alert(1)", " JaVaScRiPt:alert(1)")
	f.Add("\x00\r\n\u2028", "{{.}} ${x} {% x %}", "", "data:text/html,<script>alert(1)</script>")
	f.Fuzz(func(t *testing.T, name, text, person, link string) {
		got := consoleIncident(name, text, person, link)
		p := componentstest.Plain(name, text, person, link)
		want := consoleIncident(p[0], p[1], p[2], p[3])
		componentstest.SameShape(t, "incident page", render(t, components.IncidentConsole(got)), render(t, components.IncidentConsole(want)))

		list := func(v components.IncidentConsoleView) components.IncidentListView {
			row := components.IncidentRow{Incident: v.Incident, Commander: v.Console.User.Name, Components: v.Components[0].Name, Clocks: v.Clocks}
			return components.IncidentListView{Console: v.Console, Active: []components.IncidentRow{row}, Query: v.Incident.Name, Now: v.Now,
				Objectives: v.Objectives}
		}
		componentstest.SameShape(t, "incident list", render(t, components.IncidentList(list(got))), render(t, components.IncidentList(list(want))))
	})
}
