package engine_test

// Issue 4: "A simulated four-hour SEV1 on an accelerated plan: every
// obligation met or escalated, shown in a compliance table (promised vs
// actual gaps per audience)."
//
// TestSEV1 runs Kredete's plan (config/default.yaml) with every duration
// scaled so that one plan minute lasts planMinute of real time, against the
// real store (SQLite and PostgreSQL), the real engine.Run loop, the River
// queue and the real adapters pointed at the local vendor servers, wired as
// cmd/herald wires them. A scripted SEV1 (the loss of AWS af-south-1, as in
// ../shared/seed/disaster-recovery.md) runs in real time: the commander
// posts public updates mostly on time but misses one deadline, never writes
// to the executives, the incident is classified for regulators at plan
// minute 20, the initial regulator call is made in time, and the incident is
// resolved at plan minute 240. The compliance table is computed from the
// store with herald.Compliance, logged, and written to $HERALD_SEV1_REPORT
// when set.
//
//	go test -count=1 -run TestSEV1 -v ./comms/engine/

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// planMinute is how long one minute of the plan lasts in the simulation:
// the four hours take 60 s. Every duration of the plan is scaled by the
// same factor, so their ratios stay. The engine's clocks would keep up with
// a faster scale (its reminders are queued within a few milliseconds), but
// two things do not scale: herald.Compliance's grace is at least one second
// (4 plan minutes here, 8 at 125 ms, where the missed 15-minute public
// deadline below is no longer judged late), and the obligations' keys are
// whole seconds (distinct due times must be a second apart: 4 plan minutes
// here). Slack and the queue do not scale either: the engineering thread's
// latency is real seconds whatever planMinute is.
const planMinute = 250 * time.Millisecond

// sev1Length is the incident's length in plan minutes.
const sev1Length = 240

// scaled maps a plan duration to simulation time (exact for whole
// milliseconds; 720h does not overflow).
func scaled(d time.Duration) time.Duration {
	return d / time.Millisecond * planMinute / 60_000
}

// planMinutes says a simulation duration in plan minutes.
func planMinutes(d time.Duration) float64 { return float64(d) / float64(planMinute) }

// accelerate scales every duration of the plan's communication rules.
func accelerate(p *herald.Plan) {
	p.Objectives.RTO, p.Objectives.RPO = scaled(p.Objectives.RTO), scaled(p.Objectives.RPO)
	for i := range p.Audiences {
		a := &p.Audiences[i]
		a.Cadence.Interval = scaled(a.Cadence.Interval)
		rp := &a.ReminderPolicy
		before := make([]time.Duration, len(rp.Before))
		for j, d := range rp.Before {
			before[j] = scaled(d)
		}
		rp.Before, rp.Every, rp.EscalateAfter = before, scaled(rp.Every), scaled(rp.EscalateAfter)
		if a.ByImpact != nil {
			m := make(map[herald.Impact]herald.ImpactOverride, len(a.ByImpact))
			for k, o := range a.ByImpact {
				if o.Cadence != nil {
					c := *o.Cadence
					c.Interval = scaled(c.Interval)
					o.Cadence = &c
				}
				m[k] = o
			}
			a.ByImpact = m
		}
		if a.Regulatory != nil {
			rc := *a.Regulatory
			rc.AfterClassification, rc.AfterAwareness = scaled(rc.AfterClassification), scaled(rc.AfterAwareness)
			rc.Intermediate, rc.Final = scaled(rc.Intermediate), scaled(rc.Final)
			a.Regulatory = &rc
			// The script classifies the incident at minute 20, as a
			// commander would after assessing it, rather than at the first
			// critical update.
			a.RequiredFor = nil
		}
	}
}

// The deputy and the communications lead (the commander is the harness's).
const (
	deputyEmail = "kwame@kredete.example"
	deputyPhone = "+27820000011"
	deputyName  = "Kwame Mensah"
	leadEmail   = "lindiwe@kredete.example"
	leadPhone   = "+27820000012"
	leadName    = "Lindiwe Dube"
)

// sev1 is one run of the simulation on one database.
type sev1 struct {
	*env
	orig    herald.Plan // the plan as configured, for the table's words
	t0      time.Time   // plan minute 0: the declaration
	id      string
	changed func()
	deputy  herald.User
	lead    herald.User
	slackID map[string]string // email → the fake Slack's user id
	lag     []float64         // how late each scripted action started, plan minutes
}

// at is real time at plan minute m.
func (s *sev1) at(m float64) time.Time {
	return s.t0.Add(time.Duration(m * float64(planMinute)))
}

// minute is the plan minute of a real time.
func (s *sev1) minute(t time.Time) float64 { return planMinutes(t.Sub(s.t0)) }

// until waits for plan minute m: the simulation's own schedule.
func (s *sev1) until(m float64) {
	d := time.Until(s.at(m))
	if d > 0 {
		t := time.NewTimer(d)
		<-t.C
	}
	s.lag = append(s.lag, s.minute(time.Now())-m)
}

func (s *sev1) compose(c herald.Composition) {
	s.t.Helper()
	if _, err := s.st.Compose(s.ctx, s.id, 0, c, s.plan, bossName); err != nil {
		s.t.Fatalf("plan minute %.0f: compose: %v", s.minute(time.Now()), err)
	}
}

// public is an update on the status page, also told to engineering.
func (s *sev1) public(status herald.Status, text string, comps ...herald.ComponentTarget) {
	s.t.Helper()
	s.compose(herald.Composition{Status: status, Main: text, Audiences: []string{"public", "engineering"}, Components: comps})
}

// engineering is a message to the engineering thread only.
func (s *sev1) engineering(text string) {
	s.t.Helper()
	s.compose(herald.Composition{Main: text, Audiences: []string{"engineering"}})
}

func (s *sev1) target(key string, status herald.ComponentStatus) herald.ComponentTarget {
	return herald.ComponentTarget{ComponentID: s.component(key).ID, Status: status}
}

// flagRegulators classifies the incident as needing regulator notification
// now, as the console's button does.
func (s *sev1) flagRegulators() {
	s.t.Helper()
	if _, err := s.st.FlagRegulators(s.ctx, s.id, 0, "classified as a major ICT-related incident (DORA)", bossName); err != nil {
		s.t.Fatalf("flag regulators: %v", err)
	}
	s.changed()
}

// sev1Tables collects each database's table for HERALD_SEV1_REPORT.
type sev1Tables struct {
	mu     sync.Mutex
	tables map[string]string
}

func TestSEV1(t *testing.T) {
	tables := &sev1Tables{tables: map[string]string{}}
	t.Cleanup(func() {
		path := os.Getenv("HERALD_SEV1_REPORT")
		if path == "" {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# Simulated four-hour SEV1 (1 plan minute = %s)\n", planMinute)
		for _, d := range storetest.Dialects {
			if table, ok := tables.tables[d]; ok {
				fmt.Fprintf(&b, "\n## %s\n\n%s", d, table)
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("write %s: %v", path, err)
		}
	})
	forEachDialect(t, func(t *testing.T, dialect string) {
		table := runSEV1(t, dialect)
		tables.mu.Lock()
		tables.tables[dialect] = table
		tables.mu.Unlock()
	})
}

func runSEV1(t *testing.T, dialect string) string {
	orig := testPlan(t)
	e := newEnv(t, dialect, envOptions{plan: accelerate})
	s := &sev1{env: e, orig: orig, slackID: map[string]string{bossEmail: e.bossDM}}

	var err error
	s.deputy, err = e.st.CreateUser(e.ctx, herald.NewUser{Email: deputyEmail, Name: deputyName, Phone: deputyPhone,
		Role: herald.RoleCommander, Password: "correct horse battery"}, "x", "test")
	if err != nil {
		t.Fatal(err)
	}
	s.lead, err = e.st.CreateUser(e.ctx, herald.NewUser{Email: leadEmail, Name: leadName, Phone: leadPhone,
		Role: herald.RoleResponder, Password: "correct horse battery"}, "x", "test")
	if err != nil {
		t.Fatal(err)
	}
	s.slackID[deputyEmail] = e.slack.AddUser(deputyEmail, deputyName)
	s.slackID[leadEmail] = e.slack.AddUser(leadEmail, leadName)
	// The regulators' reminders go to the plan's compliance contacts too,
	// by Slack among other channels: the compliance desk is a member of the
	// workspace. (A contact who is not fails its Slack reminder and the
	// commander is told of the failure.)
	if ra, ok := e.plan.RegulatorAudience(); ok {
		for _, c := range ra.Recipients.Contacts {
			s.slackID[c.Email] = e.slack.AddUser(c.Email, c.Name)
		}
	}

	// The engine as cmd/herald runs it: the delivery workers on River with
	// the production poll, the clocks in Run, woken by the store's Watch.
	changes := make(chan struct{}, 1)
	s.changed = func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	}
	eng := engine.New(engine.Options{Plan: e.plan, Store: e.st, Channels: e.chans, Logger: e.log.With("dialect", dialect),
		Location: time.UTC, Changes: changes})
	q, err := e.st.StartQueue(context.Background(), eng.Deliver, store.QueueOptions{PollInterval: productionPoll(dialect),
		Logger: e.log.With("component", "queue")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { _ = eng.Run(ctx) })
	bg.Go(func() { e.st.Watch(ctx, 2*time.Second, e.log, s.changed) })
	queueStopped := false
	t.Cleanup(func() {
		if !queueStopped {
			stopQueue(t, q)
		}
		cancel()
		bg.Wait()
	})

	// Plan minute 0: the region fails; the commander declares a SEV1.
	in, err := e.st.DeclareIncident(e.ctx, herald.Declaration{
		Name:   "af-south-1 region outage: API, credit origination and portal down",
		Impact: herald.ImpactCritical,
		Body: "We are investigating a loss of service in our primary hosting region. The API Platform, Credit Origination " +
			"and the Customer Portal are unavailable; partner integrations are degraded. Next update within 15 minutes.",
		Components: []herald.ComponentTarget{
			s.target("api-platform", herald.MajorOutage), s.target("credit-origination", herald.MajorOutage),
			s.target("customer-portal", herald.MajorOutage), s.target("partner-integrations", herald.PartialOutage),
		}}, e.boss.ID, []string{"public", "engineering"}, bossName)
	if err != nil {
		t.Fatal(err)
	}
	s.id, s.t0 = in.ID, in.CreatedAt

	// The script, in plan minutes. The commander posts to the public page
	// every 12-14 minutes except once: nothing between 52 and 75, so the
	// update due at 67 is missed (reminders at 62 and 67, the escalation to
	// the deputy and the communications lead at 72). Nobody writes to the
	// executives. The regulators are flagged at 20 and called at 215.
	type action struct {
		at float64
		do func()
	}
	public := func(at float64, status herald.Status, text string, comps ...herald.ComponentTarget) action {
		return action{at, func() { s.public(status, text, comps...) }}
	}
	script := []action{
		{1, func() {
			for _, r := range []struct {
				seat herald.IncidentRole
				user herald.User
			}{{herald.SeatDeputy, s.deputy}, {herald.SeatCommsLead, s.lead}} {
				if _, err := e.st.AssignRole(e.ctx, s.id, 0, r.seat, r.user.ID, bossName); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{2, func() {
			s.engineering("Detection: Route 53 health checks failed 3 times in a row for af-south-1; PagerDuty paged the on-call. " +
				"Automatic DNS failover to eu-west-1 is under way.")
		}},
		{5, func() { s.engineering("Traffic redirect done: Route 53 routes to eu-west-1 (TTL 60 s).") }},
		public(12, herald.Identified, "We have identified the cause: our primary hosting region is unavailable. Traffic is moving "+
			"to our standby region. Next update within 15 minutes."),
		{14, func() {
			s.engineering("Database promotion: the RDS read replica in eu-west-1 is being promoted; connection strings follow " +
				"through Parameter Store.")
		}},
		{20, s.flagRegulators},
		public(25, herald.Identified, "Our standby region is taking traffic. The database is being promoted; loan "+
			"applications remain unavailable. Next update within 15 minutes."),
		{30, func() {
			s.engineering("RDS promotion complete (replication lag at failover 40 ms). Scaling up Kubernetes workloads.")
		}},
		public(38, herald.Identified, "The API Platform answers again from our standby region with reduced capacity.",
			s.target("api-platform", herald.PartialOutage)),
		{45, func() { s.engineering("Service activation: workloads scaled, cache warming at 60%.") }},
		public(52, herald.Identified, "Credit Origination is partly back: applications are accepted, disbursements are queued.",
			s.target("credit-origination", herald.PartialOutage)),
		// 67: the public update falls due and the commander misses it.
		public(75, herald.Identified, "Sorry for the delay. The Customer Portal is partly available; we are restoring the "+
			"remaining services. Next update within 15 minutes.", s.target("customer-portal", herald.PartialOutage)),
		public(88, herald.Identified, "Restoration continues in our standby region. Next update within 15 minutes."),
		{95, func() {
			s.engineering("Partner bank connections re-established from eu-west-1 IP ranges; two bureaus pending allow-lists.")
		}},
		public(101, herald.Monitoring, "A fix is in place: every service runs from our standby region. We are watching error "+
			"rates closely.", s.target("api-platform", herald.DegradedPerformance),
			s.target("credit-origination", herald.DegradedPerformance)),
		public(114, herald.Monitoring, "Error rates are falling. Queued disbursements are being processed."),
		public(127, herald.Monitoring, "Queued disbursements are processed. We are still monitoring."),
		{133, func() { s.engineering("Backlog drained; p99 latency 420 ms against 300 ms normally (cold caches).") }},
		public(140, herald.Monitoring, "Performance is close to normal. We are still monitoring.",
			s.target("customer-portal", herald.DegradedPerformance), s.target("partner-integrations", herald.DegradedPerformance)),
		public(153, herald.Monitoring, "All services respond normally from our standby region. We are still monitoring."),
		public(166, herald.Monitoring, "No errors for 30 minutes. We are still monitoring."),
		public(179, herald.Monitoring, "We are verifying data consistency of the last hour before the outage."),
		{185, func() {
			s.engineering("RPO check: 12 minutes of writes replayed from the Kafka backlog; checksums match.")
		}},
		public(192, herald.Monitoring, "Data consistency verified. We are still monitoring."),
		public(205, herald.Monitoring, "Services are stable. We plan to close the incident within the hour."),
		{215, func() {
			if _, err := e.st.RecordRegulatorReport(e.ctx, herald.RegulatorReport{IncidentID: s.id, Step: herald.StepInitial,
				CalledBy: bossName, Whom: "Prudential Authority, ICT incident desk (duty officer)", At: time.Now(),
				Reference: "ICT-2026-0412", Notes: "Initial notification by phone: af-south-1 outage, failover to eu-west-1."},
				e.plan, bossName); err != nil {
				t.Fatalf("record the regulator call: %v", err)
			}
		}},
		public(218, herald.Monitoring, "Services are stable. We plan to close the incident shortly."),
		public(231, herald.Monitoring, "Services are stable. Final checks under way."),
		public(sev1Length, herald.Resolved, "This incident has been resolved. Every service runs normally from our standby "+
			"region. We apologise for the disruption; a post-incident report will follow."),
	}
	for _, a := range script {
		s.until(a.at)
		a.do()
	}
	resolvedAt := time.Now()

	// Wait for every delivery to be final, and for no new one to appear
	// (a wake that began before the resolution may still queue a step).
	var ds []herald.Delivery
	last, stable := -1, 0
	eventuallyWithin(t, 60*time.Second, "every delivery final and no new ones", func() (bool, string) {
		ds = e.deliveries(s.id)
		for _, d := range ds {
			if !d.State.Final() {
				last, stable = -1, 0
				return false, describe(filter(ds, func(d herald.Delivery) bool { return !d.State.Final() }))
			}
		}
		if len(ds) == last {
			stable++
		} else {
			last, stable = len(ds), 0
		}
		return stable >= 10 && time.Since(resolvedAt) > 2*productionPoll(dialect), fmt.Sprintf("%d deliveries", len(ds))
	})
	stopQueue(t, q)
	queueStopped = true
	settled := time.Now()

	stored, err := e.st.Incident(e.ctx, s.id)
	if err != nil {
		t.Fatal(err)
	}
	told, err := e.st.Communications(e.ctx, []string{s.id})
	if err != nil {
		t.Fatal(err)
	}
	reports, err := e.st.RegulatorReports(e.ctx, []string{s.id})
	if err != nil {
		t.Fatal(err)
	}
	ds = e.deliveries(s.id)
	rows := herald.Compliance(e.plan, stored, told, reports, ds, time.Now())
	table := s.table(rows, ds)
	t.Logf("%s: compliance table (1 plan minute = %s; resolved at plan minute %.2f; deliveries settled %s later)\n%s",
		dialect, planMinute, s.minute(*stored.ResolvedAt), settled.Sub(resolvedAt).Round(time.Millisecond), table)
	lateness := s.lateness(ds, told)
	t.Logf("%s: timing\n%s", dialect, lateness)

	s.checkRows(rows, stored)
	s.checkDeliveries(ds, told)
	return table + "\n" + lateness
}

// eventuallyWithin polls cond every 50 ms until it holds or the time is up.
func eventuallyWithin(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last saw: %s", limit, what, saw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// table renders the compliance rows in plan minutes.
func (s *sev1) table(rows []herald.ComplianceRow, ds []herald.Delivery) string {
	var b strings.Builder
	b.WriteString("| Audience | Promised | Messages | Longest gap (plan min) | Late | Reminders | Holding updates | Verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		orig, _ := s.orig.AudienceByKey(r.Audience.Key)
		promised := orig.Cadence.String()
		gap := fmt.Sprintf("%.1f", planMinutes(r.LongestGap))
		switch {
		case r.Step != herald.StepUpdate && r.Due != nil:
			promised = fmt.Sprintf("%s by plan minute %.0f", herald.StepLabel(r.Step), s.minute(*r.Due))
			switch r.Step {
			case herald.StepInitial:
				promised += " (classification + 4 h)"
			case herald.StepIntermediate:
				promised += " (initial + 72 h)"
			}
			if r.Done != nil {
				promised += fmt.Sprintf("; made at plan minute %.0f", s.minute(*r.Done))
				gap = "— (in time)"
				if r.LongestGap > 0 {
					gap = fmt.Sprintf("%.1f late", planMinutes(r.LongestGap))
				}
			} else {
				gap = "—"
			}
		case orig.Cadence.Kind == herald.RealTime:
			// A real-time row's gap is the slowest delivery: vendor and
			// queue latency, which the simulation does not scale.
			promised = "Real-time (every update, as it happens)"
			gap = fmt.Sprintf("— (slowest delivery %.2f s real)", r.LongestGap.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %d | %d | %d | %s |\n", r.Audience.Name, promised, r.Messages, gap, r.Late,
			r.Reminders, r.Holdings, r.Verdict)
	}
	return b.String()
}

// reminderAt is when the plan scheduled a reminder delivery: its step's
// kind and number end its key, before the channel and the recipient
// (…/audience/step/due/kind/n/channel/to).
func (s *sev1) reminderAt(d herald.Delivery) (time.Time, string, bool) {
	parts := strings.Split(d.Key, "/")
	if len(parts) < 8 || d.DueAt == nil {
		return time.Time{}, "", false
	}
	a, ok := s.plan.AudienceByKey(d.Audience)
	if !ok {
		return time.Time{}, "", false
	}
	kind := herald.ReminderKind(parts[len(parts)-4])
	n, err := strconv.Atoi(parts[len(parts)-3])
	if err != nil {
		return time.Time{}, "", false
	}
	p := a.ReminderPolicy
	switch kind {
	case herald.RemindBefore:
		if n < len(p.Before) {
			return d.DueAt.Add(-p.Before[n]), string(kind), true
		}
	case herald.RemindDue:
		return *d.DueAt, string(kind), true
	case herald.RemindEscalate:
		return d.DueAt.Add(p.EscalateAfter), string(kind), true
	case herald.RemindOverdue:
		return d.DueAt.Add(time.Duration(n) * p.Every), string(kind), true
	}
	return time.Time{}, "", false
}

// lateness measures how late the engine acted: each reminder step from its
// scheduled time to its deliveries being queued and sent, each holding
// update from its due time to its record, and the script's own lag.
func (s *sev1) lateness(ds []herald.Delivery, told []herald.Communication) string {
	type stat struct {
		n         int
		sum, most time.Duration
	}
	add := func(st *stat, d time.Duration) {
		st.n++
		st.sum += d
		st.most = max(st.most, d)
	}
	queued, sent := map[string]*stat{}, map[string]*stat{}
	for _, d := range ds {
		if d.Kind != herald.KindReminder {
			continue
		}
		at, kind, ok := s.reminderAt(d)
		if !ok {
			s.t.Errorf("cannot tell when reminder %s was due", d.Key)
			continue
		}
		k := d.Audience + " " + kind
		if queued[k] == nil {
			queued[k], sent[k] = &stat{}, &stat{}
		}
		add(queued[k], d.CreatedAt.Sub(at))
		if d.SentAt != nil {
			add(sent[k], d.SentAt.Sub(at))
		}
	}
	var thread, holdingSent stat // queued → sent
	for _, d := range ds {
		if d.SentAt == nil {
			continue
		}
		switch {
		case d.Audience == "engineering":
			add(&thread, d.SentAt.Sub(d.CreatedAt))
		case d.Kind == herald.KindHolding:
			add(&holdingSent, d.SentAt.Sub(d.CreatedAt))
		}
	}
	var holding stat
	var prev *time.Time
	interval := scaled(30 * time.Minute)
	for _, c := range told {
		if c.Audience != "executives" {
			continue
		}
		from := s.t0
		if prev != nil {
			from = *prev
		}
		if c.Author == herald.EngineActor {
			add(&holding, c.CreatedAt.Sub(from.Add(interval)))
		}
		at := c.CreatedAt
		prev = &at
	}
	var b strings.Builder
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	row := func(what string, st stat) {
		if st.n == 0 {
			return
		}
		mean := st.sum / time.Duration(st.n)
		plan := fmt.Sprintf("%.1f plan s", planMinutes(st.most)*60)
		if st.most >= planMinute {
			plan = fmt.Sprintf("%.1f plan min", planMinutes(st.most))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", what, st.n, ms(mean), ms(st.most), plan)
	}
	b.WriteString("| Measured (from its time to it happening) | Count | Mean (real) | Max (real) | Max (in plan time) |\n|---|---|---|---|---|\n")
	keys := make([]string, 0, len(queued))
	for k := range queued {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row("reminder "+k+": queued", *queued[k])
		row("reminder "+k+": sent", *sent[k])
	}
	row("executives holding update recorded", holding)
	row("executives holding update: queued → sent", holdingSent)
	row("engineering thread (parent, replies, edits): queued → sent", thread)
	var lag stat
	for _, l := range s.lag {
		add(&lag, time.Duration(l*float64(planMinute)))
	}
	row("scripted action started", lag)
	return b.String()
}

// checkRows asserts the compliance table.
func (s *sev1) checkRows(rows []herald.ComplianceRow, in herald.Incident) {
	t := s.t
	byKey := map[string][]herald.ComplianceRow{}
	for _, r := range rows {
		byKey[r.Audience.Key] = append(byKey[r.Audience.Key], r)
		switch {
		case r.Verdict == herald.VerdictMet || r.Verdict == herald.VerdictEscalated:
		case r.Verdict == herald.VerdictOpen && r.Step == herald.StepIntermediate:
			// due 72 plan hours after the initial call: after the run
		default:
			t.Errorf("%s %s: verdict %q, want met or escalated", r.Audience.Name, r.Step, r.Verdict)
		}
	}
	if pub := byKey["public"]; len(pub) != 1 || pub[0].Verdict != herald.VerdictEscalated || pub[0].Late < 1 || pub[0].Reminders < 1 {
		t.Errorf("public row: %+v, want escalated with late ≥ 1 and reminders ≥ 1", pub)
	}
	interval := scaled(30 * time.Minute)
	if ex := byKey["executives"]; len(ex) != 1 || ex[0].Holdings < 7 || ex[0].Verdict != herald.VerdictMet {
		t.Errorf("executives row: %+v, want met with ≥ 7 holding updates", ex)
	} else if limit := interval + scaled(5*time.Minute); ex[0].LongestGap >= limit {
		// The verdict above is the plan's judgement (each message on time,
		// within its grace). The gap's bound is the plan's next step: a
		// holding update later than that would have been overtaken by the
		// overdue reminder. The gap itself, to the millisecond, is a
		// measure (logged below), not a pass mark: under the full suite's
		// load on 2 cores it moved past 30 min + the 18 s grace (75 ms).
		t.Errorf("executives' longest gap %.2f plan minutes (%s), want < %.2f (30 min + the 5-minute step)",
			planMinutes(ex[0].LongestGap), ex[0].LongestGap, planMinutes(limit))
	} else {
		t.Logf("executives' longest gap %.2f plan minutes (%s)", planMinutes(ex[0].LongestGap), ex[0].LongestGap)
	}
	if eng := byKey["engineering"]; len(eng) != 1 || eng[0].Verdict != herald.VerdictMet || eng[0].Late != 0 {
		t.Errorf("engineering row: %+v, want met", eng)
	}
	reg := byKey["regulators"]
	if len(reg) != 2 || reg[0].Step != herald.StepInitial || reg[0].Verdict != herald.VerdictMet ||
		reg[1].Step != herald.StepIntermediate || reg[1].Verdict != herald.VerdictOpen {
		t.Errorf("regulator rows: %+v, want the initial notification met and the intermediate report open", reg)
	} else if want := in.Classified().Add(scaled(4 * time.Hour)); !reg[0].Due.Equal(want) {
		// Due 4 h after the classification (scripted at plan minute 20,
		// started when the machine got to it): exact, in the plan's terms.
		t.Errorf("regulators' initial notification due at plan minute %.2f, want %.2f (classified at %.2f, + 4 h)",
			s.minute(*reg[0].Due), s.minute(want), s.minute(in.Classified()))
	}
}

// checkDeliveries asserts what reached the vendor fakes.
func (s *sev1) checkDeliveries(ds []herald.Delivery, told []herald.Communication) {
	t := s.t
	byID := map[string]herald.Delivery{}
	for _, d := range ds {
		byID[d.ID] = d
		if d.State == herald.DeliveryFailed || d.Kind == herald.KindFailure {
			t.Errorf("delivery failed: %s", describe([]herald.Delivery{d}))
		}
	}

	// The engineering thread: one parent, edited in place, a reply per
	// event in order, nothing failed.
	eng := filter(ds, func(d herald.Delivery) bool { return d.Audience == "engineering" })
	parents := filter(eng, ofKind(herald.KindThread))
	replies := filter(eng, func(d herald.Delivery) bool { return d.Kind == herald.KindReply && d.State == herald.DeliverySent })
	edits := filter(eng, func(d herald.Delivery) bool { return d.Kind == herald.KindEdit && d.State == herald.DeliverySent })
	events, err := s.st.Timeline(s.ctx, s.id, "")
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, ev := range events {
		if ev.Kind != "communication" && ev.Kind != "declared" {
			want++ // a component change, a public update, a role, a note, the regulator call
		}
	}
	for _, c := range told {
		if c.Audience == "engineering" {
			want++
		}
	}
	var top []string
	var inThread []string
	var parentEdits int
	for _, m := range s.slack.Messages(s.slackCh) {
		if m.ThreadTS == "" {
			top = append(top, m.TS)
			parentEdits = m.Edits
		} else {
			inThread = append(inThread, m.TS)
		}
	}
	switch {
	case len(parents) != 1 || parents[0].State != herald.DeliverySent || len(top) != 1 || top[0] != parents[0].ProviderID:
		t.Errorf("thread parents: %d queued, %d in the channel %v, want one: %s", len(parents), len(top), top, describe(parents))
	case parentEdits == 0 || parentEdits != len(edits):
		t.Errorf("the parent was edited %d times for %d edit deliveries sent; want at least one, each once", parentEdits, len(edits))
	case len(replies) != want || len(inThread) != want:
		t.Errorf("%d reply deliveries sent, %d replies in the thread, want %d (one per event)", len(replies), len(inThread), want)
	default:
		for i, d := range replies { // oldest first, by seq
			if d.ProviderID != inThread[i] {
				t.Errorf("reply %d: delivery #%d has ts %s, the thread's reply %d is %s (out of order)", i, d.Seq, d.ProviderID, i, inThread[i])
				break
			}
			if m, _ := s.slack.Message(s.slackCh, d.ProviderID); m.ThreadTS != top[0] {
				t.Errorf("reply %s is not in the incident's thread", d.ProviderID)
			}
		}
	}

	// Nothing delivered twice. Slack: every message carries its delivery's
	// id. SMS and email: each message at the fake is one sent delivery's
	// (Twilio SID, Message-ID). Messages with the same recipient and text
	// must come from distinct deliveries (the reminders' texts name due
	// times to the minute, which the simulation passes through in seconds).
	sentOn := func(ch herald.Channel) map[string]herald.Delivery {
		m := map[string]herald.Delivery{}
		for _, d := range ds {
			if d.Channel == ch && d.State == herald.DeliverySent && d.Kind != herald.KindEdit {
				m[d.ProviderID] = d
			}
		}
		return m
	}
	channels := []string{s.slackCh}
	for _, id := range s.slackID {
		if dm := s.slack.DMChannel(id); dm != "" {
			channels = append(channels, dm)
		}
	}
	slackSent, slackSeen := sentOn(herald.ChannelSlack), map[string]int{}
	for _, ch := range channels {
		for _, m := range s.slack.Messages(ch) {
			var meta struct {
				Payload struct {
					DeliveryID string `json:"delivery_id"`
				} `json:"event_payload"`
			}
			_ = json.Unmarshal([]byte(m.Metadata), &meta)
			id := meta.Payload.DeliveryID
			if d, ok := byID[id]; !ok || d.ProviderID != m.TS {
				t.Errorf("Slack message %s in %s (%q) is no sent delivery's (metadata %s)", m.TS, ch, m.Text, m.Metadata)
			}
			slackSeen[id]++
		}
	}
	for id, n := range slackSeen {
		if n > 1 {
			t.Errorf("delivery %s reached Slack %d times", id, n)
		}
	}
	if len(slackSeen) != len(slackSent) {
		t.Errorf("%d Slack deliveries sent, %d reached Slack", len(slackSent), len(slackSeen))
	}

	same := map[string][]string{} // recipient + text → delivery ids
	smsSent := sentOn(herald.ChannelSMS)
	texts := s.twilio.Messages()
	for _, m := range texts {
		d, ok := smsSent[m.SID]
		if !ok || d.Recipient != m.To {
			t.Errorf("a text to %s (%q, %s) is no sent delivery's", m.To, m.Body, m.SID)
			continue
		}
		same["sms "+m.To+" "+m.Body] = append(same["sms "+m.To+" "+m.Body], d.ID)
	}
	if len(texts) != len(smsSent) {
		t.Errorf("%d SMS deliveries sent, %d texts at the fake", len(smsSent), len(texts))
	}
	mailSent := sentOn(herald.ChannelEmail)
	mails := s.smtp.Messages()
	for _, m := range mails {
		d, ok := mailSent[m.Header.Get("Message-Id")]
		if !ok || !slices.Equal(m.To, []string{d.Recipient}) {
			t.Errorf("an email to %v (%q) is no sent delivery's", m.To, m.Subject)
			continue
		}
		body, _ := m.Part("text/plain")
		k := "email " + d.Recipient + " " + m.Subject + " " + body
		same[k] = append(same[k], d.ID)
	}
	if len(mails) != len(mailSent) {
		t.Errorf("%d email deliveries sent, %d emails at the fake", len(mailSent), len(mails))
	}
	for k, ids := range same {
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("delivered twice: %s", k)
			}
			seen[id] = true
		}
	}

	// The missed public update reached the deputy and the communications
	// lead as an escalation, by Slack and by SMS.
	for _, p := range []struct{ email, phone, name string }{{deputyEmail, deputyPhone, deputyName}, {leadEmail, leadPhone, leadName}} {
		var slackEsc, smsEsc int
		if dm := s.slack.DMChannel(s.slackID[p.email]); dm != "" {
			for _, m := range s.slack.Messages(dm) {
				if strings.Contains(m.Text, "Escalation") && strings.Contains(m.Text, "Partners and clients") {
					slackEsc++
				}
			}
		}
		for _, m := range texts {
			if m.To == p.phone && strings.Contains(m.Body, "Escalation") && strings.Contains(m.Body, "Partners and clients") {
				smsEsc++
			}
		}
		if slackEsc == 0 || smsEsc == 0 {
			t.Errorf("%s got %d escalations on Slack and %d by SMS, want at least one of each", p.name, slackEsc, smsEsc)
		}
	}

	// The regulators' reminders (60 and 30 plan minutes before the initial
	// notification was due) that came before the call went out.
	var regSent int
	for _, d := range ds {
		if d.Audience == "regulators" && d.Kind == herald.KindReminder {
			if d.State != herald.DeliverySent {
				t.Errorf("regulator reminder not sent: %s", describe([]herald.Delivery{d}))
			} else {
				regSent++
			}
		}
	}
	if regSent == 0 {
		t.Errorf("no regulator reminder was sent before the call at plan minute 215")
	}

	// The engine kept up, in the plan's own terms: a reminder "before due"
	// was queued before the obligation fell due, and no reminder so late
	// that the next step of its obligation was already due (the plan's
	// steps are at least 5 minutes apart: before 5m, every 5m, escalate
	// after 5m). How late each one was, to the millisecond, is the timing
	// table above: a measure, not a pass mark. A tighter bound (one plan
	// minute, 250 ms here) failed under the full suite's load on 2 cores,
	// which is the machine's scheduling, not the engine's promise.
	for _, d := range ds {
		if d.Kind != herald.KindReminder {
			continue
		}
		at, kind, ok := s.reminderAt(d)
		if !ok {
			continue
		}
		if kind == string(herald.RemindBefore) && d.DueAt != nil && !d.CreatedAt.Before(*d.DueAt) {
			t.Errorf("%s reminder before due was queued at or after the due time (%s late)", d.Audience,
				d.CreatedAt.Sub(*d.DueAt).Round(time.Millisecond))
		}
		if late := d.CreatedAt.Sub(at); late >= scaled(5*time.Minute) {
			t.Errorf("%s %s reminder queued %.1f plan minutes after its time: its obligation's next step was due first", d.Audience,
				kind, planMinutes(late))
		}
	}
}
