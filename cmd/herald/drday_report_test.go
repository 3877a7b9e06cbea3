package main

// The DR day's end: the post-incident report as a user fetches it, the
// compliance computed from the store, and every check.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/kredete/herald"
)

// finish gathers the record, fetches the report, checks everything and
// writes the tables.
func (d *drday) finish(ds []herald.Delivery, began time.Time) {
	t := d.t
	in, told, reports := d.history()
	actions, err := d.st.Actions(context.Background(), d.inc)
	if err != nil {
		t.Fatal(err)
	}
	rows := herald.Compliance(d.plan, in, told, reports, ds, time.Now())

	// The report, as the commander downloads it and as the printable page
	// shows it.
	cmdr := d.users["commander"]
	code, md, hdr := d.get(cmdr, d.incidentPath("/report.md"))
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/markdown") {
		t.Fatalf("report.md: %d %s", code, hdr.Get("Content-Type"))
	}
	code, page, _ := d.get(cmdr, d.incidentPath("/report"))
	if code != http.StatusOK {
		t.Fatalf("the report page: %d", code)
	}

	table := d.table(rows, in)
	crash := d.crashWindow(in, told, ds, rows)
	crashTable := d.crashTable(crash, ds)
	timing := d.timing(ds, in, began)
	failover := d.failoverTable(actions)
	t.Logf("compliance (1 plan minute = %s; resolved at plan minute %.2f)\n%s", d.minute, d.minuteOf(*in.ResolvedAt), table)
	t.Logf("while replica %d was down\n%s", d.crash.victim, crashTable)
	t.Logf("failover actions\n%s", failover)
	t.Logf("timing\n%s", timing)
	if path := os.Getenv("HERALD_DRDAY_REPORT"); path != "" {
		d.write(path, table, crashTable, failover, timing, md)
	}

	d.checkRows(rows, in)
	d.checkReport(md, page, rows, told, actions)
	d.checkActions(actions, ds)
	d.checkDeliveries(ds, told)
}

// table renders the compliance rows in plan terms.
func (d *drday) table(rows []herald.ComplianceRow, in herald.Incident) string {
	var b strings.Builder
	b.WriteString("| Audience | Promised | Messages | Longest gap (plan min) | Late | Reminders | Holding updates | Verdict |\n")
	b.WriteString("|---|---|---:|---|---:|---:|---:|---|\n")
	for _, r := range rows {
		orig, _ := d.orig.AudienceByKey(r.Audience.Key)
		promised := orig.Cadence.String()
		gap := fmt.Sprintf("%.1f", d.planMinutes(r.LongestGap))
		switch {
		case r.Step != herald.StepUpdate && r.Due != nil:
			promised = fmt.Sprintf("%s by plan minute %.0f", herald.StepLabel(r.Step), d.minuteOf(*r.Due))
			switch r.Step {
			case herald.StepInitial:
				promised += fmt.Sprintf(" (classified at %.0f + 4 h)", d.minuteOf(in.Classified()))
			case herald.StepIntermediate:
				promised += " (initial + 72 h)"
			}
			gap = "—"
			if r.Done != nil {
				promised += fmt.Sprintf("; made at plan minute %.0f", d.minuteOf(*r.Done))
				gap = "— (in time)"
				if r.LongestGap > 0 {
					gap = fmt.Sprintf("%.1f late", d.planMinutes(r.LongestGap))
				}
			}
		case orig.Cadence.Kind == herald.RealTime:
			promised = "Real-time (every update, as it happens)"
			gap = fmt.Sprintf("— (slowest delivery %.2f s real)", r.LongestGap.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %d | %d | %d | %s |\n", r.Audience.Name, promised, r.Messages, gap, r.Late,
			r.Reminders, r.Holdings, r.Verdict)
	}
	for _, r := range rows {
		for _, l := range r.Lapses {
			told := "nothing before the end"
			if l.Told != nil {
				told = fmt.Sprintf("given at plan minute %.1f", d.minuteOf(*l.Told))
			}
			esc := ""
			if l.Escalated {
				esc = ", escalated"
			}
			fmt.Fprintf(&b, "\nLate: %s, the update due at plan minute %.1f: %s, %.1f plan minutes late; %d reminders%s.\n",
				r.Audience.Name, d.minuteOf(l.Due), told, d.planMinutes(l.Late), l.Reminders, esc)
		}
	}
	return b.String()
}

func (d *drday) crashTable(rows []crashRow, ds []herald.Delivery) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Replica %d killed (SIGKILL) at plan minute %.1f with %d vendor request(s) in flight and %d of the incident's "+
		"deliveries not final; restarted, ready at plan minute %.1f.\n\n", d.crash.victim, d.minuteOf(d.crash.killedAt),
		d.crash.inflight, len(d.crash.notFinal), d.minuteOf(d.crash.readyAt))
	for _, dl := range ds {
		if dl.Channel == herald.ChannelSlack && dl.ProviderID == d.crash.held {
			fmt.Fprintf(&b, "The reply whose answer Slack held when its replica died (%s): %s after %d attempts, %s (%.1f plan "+
				"minutes) after the kill, by replica %d, found at Slack and recorded rather than posted again.\n\n", d.crash.held,
				dl.State, dl.Attempts, dl.SentAt.Sub(d.crash.killedAt).Round(time.Millisecond),
				d.planMinutes(dl.SentAt.Sub(d.crash.killedAt)), d.sender(dl))
		}
	}
	b.WriteString("| Plan minute | Due | What happened |\n|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %.1f | %s | %s |\n", d.minuteOf(r.at), r.what, r.how)
	}
	return b.String()
}

// timing measures, in real and plan time, what the run took: none of it
// is a pass mark.
func (d *drday) timing(ds []herald.Delivery, in herald.Incident, began time.Time) string {
	var b strings.Builder
	row := func(what string, real time.Duration) {
		fmt.Fprintf(&b, "| %s | %s | %.1f |\n", what, real.Round(time.Millisecond), d.planMinutes(real))
	}
	b.WriteString("| Measured | Real | Plan minutes |\n|---|---:|---:|\n")
	var lag, lagAt float64
	for i, l := range d.lag {
		if l > lag {
			lag, lagAt = l, d.lagAt[i]
		}
	}
	row(fmt.Sprintf("latest scripted action (at plan minute %.0f), after its time", lagAt), time.Duration(lag*float64(d.minute)))
	row("kill → the replica restarted and ready (20 plan minutes of it the script's wait)", d.crash.readyAt.Sub(d.crash.killedAt))
	// The deliveries pending at the kill: when each was finally sent.
	var slowest time.Duration
	var taken []string
	for _, p := range d.crash.notFinal {
		for _, dl := range ds {
			if dl.ID == p.ID && dl.SentAt != nil {
				slowest = max(slowest, dl.SentAt.Sub(d.crash.killedAt))
			}
		}
	}
	for _, dl := range ds {
		if dl.Attempts > 1 {
			taken = append(taken, fmt.Sprintf("%s %s → %s (%d attempts)", dl.Kind, dl.Channel, dl.Recipient, dl.Attempts))
		}
	}
	row(fmt.Sprintf("kill → the last of the %d deliveries pending at the kill sent", len(d.crash.notFinal)), slowest)
	var eng, remind time.Duration
	for _, dl := range ds {
		if dl.Audience == "engineering" && dl.SentAt != nil && dl.Kind != herald.KindReminder {
			eng = max(eng, dl.SentAt.Sub(dl.CreatedAt))
		}
		if at, _, ok := d.reminderAt(dl); ok {
			remind = max(remind, dl.CreatedAt.Sub(at))
		}
	}
	row("engineering thread: slowest delivery, queued → sent", eng)
	row("reminders: latest queued after the step's time", remind)
	row("the whole test (build, start, four plan hours, settling, report)", time.Since(began))
	var skipped []string
	for _, dl := range ds {
		if dl.Kind == herald.KindReminder && dl.State == herald.DeliverySkipped {
			at, kind, _ := d.reminderAt(dl)
			skipped = append(skipped, fmt.Sprintf("%s %s %s due %.1f, queued %.1f, skipped %.1f", dl.Audience, kind, dl.Channel,
				d.minuteOf(at), d.minuteOf(dl.CreatedAt), d.minuteOf(dl.UpdatedAt)))
		}
	}
	sort.Strings(skipped)
	sort.Strings(taken)
	fmt.Fprintf(&b, "\nDeliveries attempted more than once (an attempt interrupted by the kill is retried by a running replica, "+
		"which first asks Slack or Twilio whether it got through): %d", len(taken))
	if len(taken) > 0 {
		fmt.Fprintf(&b, ": %s", strings.Join(taken, "; "))
	}
	fmt.Fprintf(&b, ".\n\nReminder deliveries skipped because their obligation was met before they went out (plan minutes): %d",
		len(skipped))
	if len(skipped) > 0 {
		fmt.Fprintf(&b, ": %s", strings.Join(skipped, "; "))
	}
	b.WriteString(".\n")
	return b.String()
}

// failoverTable shows the actions' steps against their windows, in plan
// minutes from the action's start.
func (d *drday) failoverTable(actions []herald.Action) string {
	var b strings.Builder
	b.WriteString("| Action | Step | Window (plan min from start) | Done at | On time |\n|---|---|---|---:|---|\n")
	for _, a := range actions {
		who := fmt.Sprintf("%s: requested by %s at plan minute %.1f", a.Name, a.RequestedBy, d.minuteOf(a.RequestedAt))
		if a.DecidedAt != nil {
			who += fmt.Sprintf(", approved by %s at %.1f", a.DecidedBy, d.minuteOf(*a.DecidedAt))
		}
		if a.StartedAt != nil {
			who += fmt.Sprintf(", started by %s at %.1f", a.StartedBy, d.minuteOf(*a.StartedAt))
		}
		for i, st := range a.Steps {
			name := ""
			if i == 0 {
				name = who + "; " + string(a.State)
			}
			window, done, onTime := "—", "—", "—"
			if st.WindowEnd > 0 {
				window = fmt.Sprintf("%.0f–%.0f", d.planMinutes(st.WindowStart), d.planMinutes(st.WindowEnd))
			}
			if st.FinishedAt != nil && a.StartedAt != nil {
				done = fmt.Sprintf("%.1f", d.planMinutes(st.FinishedAt.Sub(*a.StartedAt)))
			}
			if _, ok := a.Due(st); ok {
				onTime = "yes"
				if a.Late(st, time.Now()) {
					onTime = "late"
					if st.LateReported {
						onTime += ", reported to the commander"
					}
				}
			}
			fmt.Fprintf(&b, "| %s | %d. %s | %s | %s | %s |\n", name, st.Position, st.Name, window, done, onTime)
		}
	}
	return b.String()
}

// write saves the run's tables and the report for scripts/drday.sh.
func (d *drday) write(path, table, crash, failover, timing, md string) {
	var b strings.Builder
	fmt.Fprintf(&b, "# A simulated DR day\n\nTestDRDay, %s: Kredete's plan (config/default.yaml) with one plan minute lasting %s, "+
		"three herald processes on one PostgreSQL database, the loss of af-south-1 scripted through the console.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), d.minute)
	fmt.Fprintf(&b, "## Compliance with the plan (herald.Compliance, from the store)\n\n%s\n", table)
	fmt.Fprintf(&b, "## While replica %d was down\n\n%s\n", d.crash.victim, crash)
	fmt.Fprintf(&b, "## Failover actions\n\n%s\n", failover)
	fmt.Fprintf(&b, "## Timing (measured, not pass marks)\n\n%s\n", timing)
	b.WriteString("## The post-incident report, as the console exports it\n\nIts times are the real clock's: the four plan " +
		"hours took about a minute.\n\n")
	b.WriteString(strings.ReplaceAll(md, "\n#", "\n##"))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		d.t.Errorf("write %s: %v", path, err)
	}
}

// checkRows: every obligation met or escalated; the one missed public
// deadline late, named with its due time and escalated.
func (d *drday) checkRows(rows []herald.ComplianceRow, in herald.Incident) {
	t := d.t
	by := map[string][]herald.ComplianceRow{}
	for _, r := range rows {
		by[r.Audience.Key] = append(by[r.Audience.Key], r)
		switch {
		case r.Verdict == herald.VerdictMet || r.Verdict == herald.VerdictEscalated:
		case r.Verdict == herald.VerdictOpen && r.Step == herald.StepIntermediate:
			// due 72 plan hours after the initial call: after the run
		default:
			t.Errorf("%s %s: verdict %q, want met or escalated", r.Audience.Name, r.Step, r.Verdict)
		}
	}
	// The public update due 15 minutes after the one at plan minute 52.
	var at52 time.Time
	for _, u := range in.Updates {
		if m := d.minuteOf(u.CreatedAt); m > 50 && m < 60 {
			at52 = u.CreatedAt
		}
	}
	// The deliberate one is there, reminded and escalated. Another lapse
	// means the script (the commander) came late, on a machine too busy
	// for its schedule: the plan's judgement stands (the verdict above
	// requires it reminded), and it is said.
	pub := by["public"]
	if len(pub) != 1 || pub[0].Verdict != herald.VerdictEscalated || len(pub[0].Lapses) == 0 {
		t.Fatalf("public row: %+v, want escalated, with the update due at plan minute 67 late", pub)
	}
	want := at52.Add(15 * d.minute)
	found := false
	for _, l := range pub[0].Lapses {
		if !l.Due.Equal(want) {
			t.Logf("NOTE: a public update due at plan minute %.1f came %.1f plan minutes late besides the deliberate one "+
				"(the script's own lag: the machine was busy); %d reminders, escalated %v", d.minuteOf(l.Due), d.planMinutes(l.Late),
				l.Reminders, l.Escalated)
			continue
		}
		found = true
		if l.Told == nil || !l.Escalated || l.Reminders < 3 {
			t.Errorf("the missed public update due at plan minute %.2f: given %v, %d reminders, escalated %v; want given at "+
				"75, reminded (before, at due) and escalated to the deputy and the communications lead", d.minuteOf(l.Due), l.Told,
				l.Reminders, l.Escalated)
		}
	}
	if !found {
		t.Errorf("public lapses %+v: none due at plan minute %.2f (the update at %.2f + 15), the deadline missed on purpose",
			pub[0].Lapses, d.minuteOf(want), d.minuteOf(at52))
	}
	if ex := by["executives"]; len(ex) != 1 || ex[0].Verdict != herald.VerdictMet || ex[0].Holdings < 3 {
		t.Errorf("executives row: %+v, want met, with holding updates at about 130, 185 and 215", ex)
	}
	if eng := by["engineering"]; len(eng) != 1 || eng[0].Verdict != herald.VerdictMet || eng[0].Late != 0 {
		t.Errorf("engineering row: %+v, want met", eng)
	}
	reg := by["regulators"]
	if len(reg) != 2 || reg[0].Step != herald.StepInitial || reg[0].Verdict != herald.VerdictMet ||
		reg[1].Step != herald.StepIntermediate || reg[1].Verdict != herald.VerdictOpen {
		t.Errorf("regulator rows: %+v, want the initial notification met and the intermediate report open", reg)
	} else if want := in.Classified().Add(4 * 60 * d.minute); !reg[0].Due.Equal(want) || in.RegulatorsAt == nil {
		t.Errorf("regulators' initial notification due at plan minute %.2f, want %.2f (classified at %.2f, + 4 h)",
			d.minuteOf(*reg[0].Due), d.minuteOf(want), d.minuteOf(in.Classified()))
	}
}

// checkReport compares the report, Markdown and page, with the compliance
// computed here, and looks for what the day did in it.
func (d *drday) checkReport(md, page string, rows []herald.ComplianceRow, told []herald.Communication, actions []herald.Action) {
	t := d.t
	// The Markdown table: one line per row, same verdict.
	var mdRows []string
	inTable := false
	for line := range strings.Lines(md) {
		line = strings.TrimSpace(line)
		switch {
		case line == "## Compliance with the communication plan":
			inTable = true
		case inTable && strings.HasPrefix(line, "## "):
			inTable = false
		case inTable && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| Audience"):
			cells := strings.Split(strings.Trim(line, "| "), " | ")
			mdRows = append(mdRows, cells[0]+" → "+cells[len(cells)-1])
		}
	}
	var want []string
	for _, r := range rows {
		name := r.Audience.Name
		if r.Step != herald.StepUpdate {
			name += ", " + r.Step
		}
		want = append(want, name+" → "+r.Verdict)
	}
	if !slices.Equal(mdRows, want) {
		t.Errorf("the Markdown report's compliance rows %q, computed from the store %q", mdRows, want)
	}
	lapses := herald.Report{Compliance: rows, Location: time.UTC}.Lapses()
	for _, l := range lapses {
		if !strings.Contains(md, "\n- "+l+"\n") {
			t.Errorf("the Markdown report does not say %q", l)
		}
	}
	// The page: each compliance row's verdict, and the lapses.
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var pageRows, pageLapses []string
	walkHTML(doc, func(n *html.Node, under map[string]bool) {
		if n.Data == "tr" && under["report-compliance"] && attrOf(n, "data-audience") != "" {
			a, _ := d.plan.AudienceByKey(attrOf(n, "data-audience"))
			name := a.Name
			if s := attrOf(n, "data-step"); s != herald.StepUpdate {
				name += ", " + s
			}
			pageRows = append(pageRows, name+" → "+attrOf(n, "data-verdict"))
		}
		if n.Data == "li" && under["report-lapses"] {
			pageLapses = append(pageLapses, textOf(n))
		}
	})
	if !slices.Equal(pageRows, want) {
		t.Errorf("the report page's compliance rows %q, computed from the store %q", pageRows, want)
	}
	if !slices.Equal(pageLapses, lapses) || len(lapses) == 0 {
		t.Errorf("the report page's late updates %q, computed from the store %q (want the public update missed on purpose)",
			pageLapses, lapses)
	}
	// Who was told what: every holding update, once.
	holdings := 0
	for _, c := range told {
		if c.Author == herald.EngineActor {
			holdings++
		}
	}
	if n := strings.Count(md, "**Executive Team** (Herald (automatic)):"); n != holdings {
		t.Errorf("the report lists %d holding updates to the executives, the store has %d", n, holdings)
	}
	for _, s := range []string{"| Status | Resolved |", "### Primary region failure — Completed", "### Database failover — Completed",
		"- Approved by Naledi Mokoena", "- Started by Thabo Nkosi", "(reference ICT-2026-0412)", "| Deputy | Kwame Mensah |",
		"| Communications lead | Lindiwe Dube |", "- **RTO:** "} {
		if !strings.Contains(md, s) {
			t.Errorf("the Markdown report lacks %q", s)
		}
	}
	// A failover stage finished after its window is marked late (and must
	// have been reported to the commander: checkActions); none other is.
	late := 0
	for _, a := range actions {
		for _, st := range a.Steps {
			if a.Late(st, time.Now()) {
				late++
			}
		}
	}
	if n := strings.Count(md, "| **late** |"); n != late {
		t.Errorf("the report marks %d failover steps late; %d finished after their window", n, late)
	}
}

// walkHTML calls f for every element with the data-testid values of its
// ancestors.
func walkHTML(n *html.Node, f func(n *html.Node, under map[string]bool)) {
	var walk func(n *html.Node, under map[string]bool)
	walk = func(n *html.Node, under map[string]bool) {
		if n.Type == html.ElementNode {
			f(n, under)
			if id := attrOf(n, "data-testid"); id != "" {
				m := map[string]bool{id: true}
				for k := range under {
					m[k] = true
				}
				under = m
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, under)
		}
	}
	walk(n, map[string]bool{})
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// checkActions: the region failover followed to the end, each stage in
// its window or reported late to the commander; the database runbook
// approved by the VP, started by the DBA after the lag check, done.
func (d *drday) checkActions(actions []herald.Action, ds []herald.Delivery) {
	t := d.t
	if len(actions) != 2 {
		t.Fatalf("%d failover actions, want the region failover and the database runbook", len(actions))
	}
	for _, a := range actions {
		if a.State != herald.ActionCompleted {
			t.Errorf("%s is %s, want completed", a.Name, a.State)
		}
		for _, st := range a.Steps {
			if st.State != herald.StepDone {
				t.Errorf("%s step %d is %s", a.Name, st.Position, st.State)
			}
			if a.Late(st, time.Now()) && !st.LateReported {
				t.Errorf("%s step %d (%s) finished late and the commander was not told", a.Name, st.Position, st.Name)
			}
		}
		if a.Kind == herald.ProcedureRunbook && (a.DecidedBy.Name != "Naledi Mokoena" || a.StartedBy.Name != "Thabo Nkosi" ||
			a.DecidedAt == nil || a.StartedAt == nil || a.StartedAt.Before(*a.DecidedAt)) {
			t.Errorf("the runbook: decided by %q at %v, started by %q at %v; want the VP's approval, then the DBA's start",
				a.DecidedBy, a.DecidedAt, a.StartedBy, a.StartedAt)
		}
	}
}

// checkDeliveries: every delivery sent, each message at its vendor once
// (no duplicates across replicas, nothing lost across the crash).
func (d *drday) checkDeliveries(ds []herald.Delivery, told []herald.Communication) {
	t := d.t
	byID := map[string]herald.Delivery{}
	for _, dl := range ds {
		byID[dl.ID] = dl
		switch {
		case dl.State == herald.DeliveryFailed || dl.Kind == herald.KindFailure:
			t.Errorf("failed: %s %s → %s: %s (%d attempts)", dl.Kind, dl.Channel, dl.Recipient, dl.LastError, dl.Attempts)
		case dl.State == herald.DeliverySkipped && dl.Kind != herald.KindEdit && dl.Kind != herald.KindReminder:
			// An edit is skipped when a later one supersedes it; a reminder
			// when its obligation was met before it went out.
			t.Errorf("skipped: %s %s → %s: %s", dl.Kind, dl.Channel, dl.Recipient, dl.LastError)
		case dl.State == herald.DeliverySent && dl.ProviderID == "":
			t.Errorf("sent without a vendor id: %s %s → %s", dl.Kind, dl.Channel, dl.Recipient)
		}
	}
	sentOn := func(ch herald.Channel) map[string]herald.Delivery {
		m := map[string]herald.Delivery{}
		for _, dl := range ds {
			if dl.Channel == ch && dl.State == herald.DeliverySent && dl.Kind != herald.KindEdit {
				m[dl.ProviderID] = dl
			}
		}
		return m
	}

	// Slack: each message names its delivery in its metadata; each sent
	// delivery is there once, with the ts recorded.
	channels := []string{d.slackCh}
	for _, u := range d.users {
		if dm := d.slack.DMChannel(u.slackID); dm != "" {
			channels = append(channels, dm)
		}
	}
	for _, id := range d.contacts {
		if dm := d.slack.DMChannel(id); dm != "" {
			channels = append(channels, dm)
		}
	}
	slackSent, seen := sentOn(herald.ChannelSlack), map[string]int{}
	for _, ch := range channels {
		for _, m := range d.slack.Messages(ch) {
			var meta struct {
				Payload struct {
					DeliveryID string `json:"delivery_id"`
				} `json:"event_payload"`
			}
			_ = json.Unmarshal([]byte(m.Metadata), &meta)
			id := meta.Payload.DeliveryID
			if dl, ok := byID[id]; !ok || dl.ProviderID != m.TS {
				t.Errorf("Slack message %s in %s (%.80q) is no sent delivery's", m.TS, ch, m.Text)
			}
			seen[id]++
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("delivery %s (%s) reached Slack %d times", id, byID[id].Kind, n)
		}
	}
	if len(seen) != len(slackSent) {
		t.Errorf("%d Slack deliveries sent, %d reached Slack", len(slackSent), len(seen))
	}
	// The engineering thread: one parent, each reply in it, in the order
	// written; every message to engineering has its reply.
	var parents, replies []herald.Delivery
	for _, dl := range ds {
		switch {
		case dl.Audience == "engineering" && dl.Kind == herald.KindThread:
			parents = append(parents, dl)
		case dl.Audience == "engineering" && dl.Kind == herald.KindReply:
			replies = append(replies, dl)
		}
	}
	slices.SortFunc(replies, func(a, b herald.Delivery) int { return int(a.Seq - b.Seq) })
	var inThread []string
	for _, m := range d.slack.Messages(d.slackCh) {
		if m.ThreadTS != "" {
			inThread = append(inThread, m.TS)
		}
	}
	if len(parents) != 1 || len(replies) != len(inThread) {
		t.Errorf("%d thread parents (want 1), %d replies written, %d in the thread", len(parents), len(replies), len(inThread))
	} else {
		for i, r := range replies {
			if r.ProviderID != inThread[i] {
				t.Errorf("reply %d (#%d) has ts %s, the thread's reply %d is %s: out of order", i, r.Seq, r.ProviderID, i, inThread[i])
				break
			}
		}
	}
	hasReply := map[string]bool{}
	for _, r := range replies {
		hasReply[r.CommunicationID] = true
	}
	for _, c := range told {
		if c.Audience == "engineering" && !hasReply[c.ID] {
			t.Errorf("the message to engineering at plan minute %.1f (%.60q) has no reply in the thread", d.minuteOf(c.CreatedAt), c.Body)
		}
	}

	// SMS: each text at Twilio is one sent delivery's.
	smsSent := sentOn(herald.ChannelSMS)
	texts := d.twilio.Messages()
	for _, m := range texts {
		if dl, ok := smsSent[m.SID]; !ok || dl.Recipient != m.To {
			t.Errorf("a text to %s (%.60q, %s) is no sent delivery's", m.To, m.Body, m.SID)
		}
	}
	if len(texts) != len(smsSent) {
		t.Errorf("%d SMS deliveries sent, %d texts at Twilio", len(smsSent), len(texts))
	}
	// Email: the distinct Message-IDs are the sent deliveries'; a copy
	// (the same Message-ID again) only of a delivery whose attempt was
	// interrupted, as email cannot be asked whether it got through.
	mailSent := sentOn(herald.ChannelEmail)
	copies := map[string]int{}
	for _, m := range d.allMail() {
		id := m.Header.Get("Message-Id")
		if dl, ok := mailSent[id]; !ok || !slices.Equal(m.To, []string{dl.Recipient}) {
			t.Errorf("an email to %v (%q) is no sent delivery's", m.To, m.Subject)
		}
		copies[id]++
	}
	for id, n := range copies {
		if n > 1 && mailSent[id].Attempts < 2 {
			t.Errorf("an email arrived %d times (%s) though its delivery was attempted once", n, id)
		}
	}
	if len(copies) != len(mailSent) {
		t.Errorf("%d email deliveries sent, %d distinct emails received", len(mailSent), len(copies))
	}
	// Each message to the executives reached their address.
	mailed := map[string]bool{}
	for _, dl := range ds {
		if dl.Audience == "executives" && dl.Channel == herald.ChannelEmail && dl.State == herald.DeliverySent {
			mailed[dl.CommunicationID] = true
		}
	}
	for _, c := range told {
		if c.Audience == "executives" && !mailed[c.ID] {
			t.Errorf("the message to the executives at plan minute %.1f was not mailed", d.minuteOf(c.CreatedAt))
		}
	}

	// The missed public update reached the deputy and the communications
	// lead as an escalation, by Slack and by SMS.
	for _, key := range []string{"deputy", "lead"} {
		u := d.users[key]
		var bySlack, bySMS int
		for _, m := range d.slack.Messages(d.slack.DMChannel(u.slackID)) {
			if strings.Contains(m.Text, "Escalation") && strings.Contains(m.Text, "Partners and clients") {
				bySlack++
			}
		}
		for _, m := range texts {
			if m.To == u.phone && strings.Contains(m.Body, "Escalation") && strings.Contains(m.Body, "Partners and clients") {
				bySMS++
			}
		}
		if bySlack == 0 || bySMS == 0 {
			t.Errorf("%s got %d escalations by Slack and %d by SMS, want at least one of each", u.name, bySlack, bySMS)
		}
	}
	// The regulators' reminder an hour before the initial notification
	// was due (the call came before the one at 30 minutes).
	regSent := 0
	for _, dl := range ds {
		if dl.Audience == "regulators" && dl.Kind == herald.KindReminder && dl.State == herald.DeliverySent {
			regSent++
		}
	}
	if regSent == 0 {
		t.Errorf("no regulator reminder was sent before the call at plan minute 215")
	}
}
