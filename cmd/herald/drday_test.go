package main

// Issue 8's DR day: "a scripted four-hour SEV1 on an accelerated clock with
// a replica crash in the middle: every obligation of the plan met or
// escalated on time; the post-incident report shows it."
//
// Three herald processes (the cluster of replicas_test.go: the binary
// built once, a fresh PostgreSQL database, local Slack, Twilio and SMTP
// fakes, each replica reaching them through its own labelled proxy) run
// Kredete's plan, config/default.yaml, written out with every clock of an
// incident divided by the same factor (drday_plan_test.go): one plan
// minute lasts drdayMinute, so the four hours take a minute. Nothing in
// Herald knows the clock is accelerated.
//
// The loss of AWS af-south-1 (../shared/seed/disaster-recovery.md) is
// scripted through the console as its users would run it, each request to
// the next running replica (a load balancer): the commander declares and
// assigns the deputy and the communications lead, follows the automatic
// region failover's stages, requests the database failover runbook, which
// the VP of Engineering approves and a DBA executes after entering the
// replication lag; public updates every 12-14 minutes except one deadline
// deliberately missed (nothing between minutes 52 and 75); updates to the
// executives now and then, the engine's holding updates in between; the
// incident classified for regulators at minute 21 and the call recorded
// at 215; service restored at 97, resolved at 240.
//
// At minute 120, with reminders and a holding update due within minutes,
// the replica posting a reply to the engineering thread is killed with
// SIGKILL while Slack holds the answer (the message is at Slack, not yet
// recorded: replicas_test.go's hard window). It is restarted at minute 140:
// down for 20 plan minutes (5 s at the default scale, about a kubelet's
// first restart back-off), so that obligations fall due while it is gone
// (the survivors must keep them) and its return, which recomputes every
// clock, must send nothing again.
//
// In the end the post-incident report is fetched through the console
// (HTML and Markdown) and compared with herald.Compliance computed from
// the store; every obligation must be met, or late and escalated (the
// missed public update, named with its due time), and every message at
// the vendors exactly once. The compliance table, what fell due while the
// replica was down and the timings are logged, and written with the
// report to $HERALD_DRDAY_REPORT when set (scripts/drday.sh).
//
//	go test -count=1 -run '^TestDRDay$' -v ./cmd/herald/

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/comms/sms/twiliotest"
	"github.com/kredete/herald/config"
)

// drdayMinute is how long one plan minute lasts by default: the four hours
// take 60 s. herald.Compliance's grace is at least one second (4 plan
// minutes here) and obligation keys are whole seconds, which do not scale:
// below 250 ms the missed deadline (8 plan minutes late) would fall within
// the grace. HERALD_DRDAY_PLAN_MINUTE sets a slower clock (e.g. 1s: four
// hours in four minutes).
const drdayMinute = 250 * time.Millisecond

// The script's times, in plan minutes.
const (
	drdayKill    = 120
	drdayRestart = 140
	drdayLength  = 240
)

// The people of the DR day (the admin is the cluster's).
var drdayPeople = []drUser{
	{key: "commander", email: "amara@kredete.example", name: "Amara Okafor", phone: "+27820000010", role: herald.RoleCommander},
	{key: "deputy", email: "kwame@kredete.example", name: "Kwame Mensah", phone: "+27820000011", role: herald.RoleCommander},
	{key: "lead", email: "lindiwe@kredete.example", name: "Lindiwe Dube", phone: "+27820000012", role: herald.RoleComms},
	{key: "dba", email: "thabo@kredete.example", name: "Thabo Nkosi", phone: "+27820000013", role: herald.RoleDBA},
	{key: "vp", email: "naledi@kredete.example", name: "Naledi Mokoena", phone: "+27820000014", role: herald.RoleApprover},
}

// drUser is one person with a console session of their own.
type drUser struct {
	key, email, name, phone string
	role                    herald.Role
	password                string
	id                      string
	slackID                 string
	client                  *http.Client
}

// drday is one run.
type drday struct {
	*cluster
	minute   time.Duration // one plan minute in real time
	orig     herald.Plan   // the plan as configured, for the table's words
	plan     herald.Plan   // the scaled plan, as herald loaded it
	users    map[string]*drUser
	admin    *drUser
	t0       time.Time // plan minute 0: the declaration
	inc      string
	lag      []float64 // how late each scripted action started, plan minutes
	lagAt    []float64 // and when it was due
	mu       sync.Mutex
	down     [replicas]bool
	next     int
	crash    drCrash
	sentBy   map[string]int    // a vendor's message id (Slack ts, Twilio SID) → the replica that sent it
	actions  map[string]string // procedure → the action's id
	contacts []string          // the compliance contacts' Slack ids
	holds    *holds            // replicas_test's: while the kill is armed
}

// drCrash is what the kill hit.
type drCrash struct {
	victim   int
	pid      int
	inflight int32  // vendor requests in flight (all replicas)
	held     string // the Slack ts of the victim's reply whose answer was held
	killedAt time.Time
	readyAt  time.Time
	notFinal []herald.Delivery // the incident's deliveries not final at the kill
	upcoming []string          // the plan's next steps at the kill
}

func TestDRDay(t *testing.T) {
	began := time.Now()
	minute := drdayMinute
	if v := os.Getenv("HERALD_DRDAY_PLAN_MINUTE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < drdayMinute {
			t.Fatalf("HERALD_DRDAY_PLAN_MINUTE=%q: want a duration of at least %s (the compliance grace and obligation keys are "+
				"whole seconds, which do not scale)", v, drdayMinute)
		}
		minute = d
	}
	bin := buildHerald(t)
	d := &drday{cluster: newCluster(t, bin), minute: minute, users: map[string]*drUser{}, sentBy: map[string]int{},
		actions: map[string]string{}}
	d.writePlan()
	d.wireVendors()
	d.startAll()
	d.setUpPeople()

	d.declare()
	script := d.script()
	for _, s := range script {
		d.until(s.at)
		s.do()
	}
	resolvedAt := time.Now()
	ds := d.settle(resolvedAt)
	d.finish(ds, began)
}

// writePlan writes the scaled default plan where the cluster's replicas
// read it, and loads both plans.
func (d *drday) writePlan() {
	t := d.t
	var err error
	if d.orig, err = config.ParsePlan(config.DefaultPlan, "default.yaml"); err != nil {
		t.Fatal(err)
	}
	b, err := scalePlanYAML(config.DefaultPlan, planScale(d.minute))
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("# config/default.yaml with every clock of an incident scaled for TestDRDay:\n"+
		"# one plan minute lasts %s (the comments keep the original durations).\n", d.minute)
	if err := os.WriteFile(d.cluster.plan, append([]byte(head), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	if d.plan, err = config.LoadPlan(d.cluster.plan); err != nil {
		t.Fatalf("the scaled plan does not load: %v", err)
	}
}

// wireVendors gives the vendors a latency (as a real one has), notes which
// replica sent each message, and lets the kill hold a Slack answer.
func (d *drday) wireVendors() {
	d.slack.SetLatency(50 * time.Millisecond)
	d.slack.SetPostHook(func(m slacktest.Message, r *http.Request) {
		h := d.noteSender(m.TS, r)
		if h != nil {
			// The first thread reply while the kill is armed: its sender is
			// the victim, and Slack holds the answer (the message is
			// stored) until the sender is dead.
			h.hold("slack", replicaOf(r), m.TS, m.ThreadTS != "")
		}
	})
	d.twilio.SetLatency(50 * time.Millisecond)
	d.twilio.SetCreateHook(func(m twiliotest.Message, r *http.Request) { d.noteSender(m.SID, r) })
	for _, s := range d.smtp {
		s.SetLatency(20 * time.Millisecond)
	}
}

// noteSender notes which replica sent a message, and returns the kill's
// holds while it is armed.
func (d *drday) noteSender(id string, r *http.Request) *holds {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sentBy[id] = replicaOf(r)
	return d.holds
}

// setUpPeople adds the incident's people through the admin's console and
// makes them members of the Slack workspace, with the plan's compliance
// contacts (they are reminded of the regulators' deadline by Slack too).
func (d *drday) setUpPeople() {
	d.admin = &drUser{key: "admin", email: adminEmail, name: "Admin", password: adminPassword}
	for _, p := range drdayPeople {
		u := p
		u.password = "correct horse battery " + u.key
		d.post(d.admin, "/console/users", url.Values{"email": {u.email}, "name": {u.name}, "phone": {u.phone},
			"role": {string(u.role)}, "password": {u.password}}, "/console/users")
		u.slackID = d.slack.AddUser(u.email, u.name)
		d.users[u.key] = &u
	}
	// Everyone signs in before the incident (a password hash costs a
	// replica tens of milliseconds of processor, plan minutes here).
	for _, u := range d.users {
		d.session(u)
	}
	users, err := d.st.Users(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	for _, u := range users {
		for _, p := range d.users {
			if p.email == u.Email {
				p.id = u.ID
			}
		}
	}
	if ra, ok := d.plan.RegulatorAudience(); ok {
		for _, c := range ra.Recipients.Contacts {
			d.contacts = append(d.contacts, d.slack.AddUser(c.Email, c.Name))
		}
	}
}

// at is real time at plan minute m; minute says a real time in plan
// minutes.
func (d *drday) at(m float64) time.Time { return d.t0.Add(time.Duration(m * float64(d.minute))) }
func (d *drday) minuteOf(t time.Time) float64 {
	return float64(t.Sub(d.t0)) / float64(d.minute)
}
func (d *drday) planMinutes(dur time.Duration) float64 { return float64(dur) / float64(d.minute) }

// until waits for plan minute m: the script's own schedule, as sev1_test's.
func (d *drday) until(m float64) {
	if w := time.Until(d.at(m)); w > 0 {
		tm := time.NewTimer(w)
		<-tm.C
	}
	d.lag, d.lagAt = append(d.lag, d.minuteOf(time.Now())-m), append(d.lagAt, m)
}

// base is the next running replica's address: requests are spread over
// the replicas as a load balancer would, skipping one that is down.
func (d *drday) base() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for range replicas {
		i := d.next % replicas
		d.next++
		if !d.down[i] {
			return fmt.Sprintf("http://127.0.0.1:%d", d.ports[i])
		}
	}
	d.t.Fatal("no replica is running")
	return ""
}

// session signs u in on first use (sessions are in the database: any
// replica knows them; cookies are per host, not per port).
func (d *drday) session(u *drUser) *http.Client {
	if u.client != nil {
		return u.client
	}
	jar, _ := cookiejar.New(nil)
	u.client = &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := u.client.PostForm(d.base()+"/console/sign-in", url.Values{"email": {u.email}, "password": {u.password}})
	if err != nil {
		d.t.Fatalf("%s signs in: %v", u.name, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		d.t.Fatalf("%s signs in: %d %.300s", u.name, resp.StatusCode, b)
	}
	return u.client
}

// post submits a console form as u and expects the redirect of a success
// to a page whose path starts with wantPath; it returns the Location.
func (d *drday) post(u *drUser, path string, form url.Values, wantPath string) string {
	d.t.Helper()
	c := d.session(u)
	resp, err := c.PostForm(d.base()+path, form)
	if err != nil {
		d.t.Fatalf("plan minute %.1f: %s POST %s: %v", d.minuteOf(time.Now()), u.name, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, wantPath) {
		d.t.Fatalf("plan minute %.1f: %s POST %s: %d %s, want a redirect to %s; the page says: %s", d.minuteOf(time.Now()), u.name,
			path, resp.StatusCode, loc, wantPath, pageErrors(string(b)))
	}
	return loc
}

// get fetches a console page as u.
func (d *drday) get(u *drUser, path string) (int, string, http.Header) {
	d.t.Helper()
	resp, err := d.session(u).Get(d.base() + path)
	if err != nil {
		d.t.Fatalf("%s GET %s: %v", u.name, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatalf("%s GET %s: %v", u.name, path, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// pageErrors picks the field errors out of a refused form's page, for the
// failure message.
func pageErrors(page string) string {
	var out []string
	for _, part := range strings.Split(page, `id="err-`)[1:] {
		if i := strings.Index(part, "<"); i > 0 {
			if j := strings.Index(part, ">"); j >= 0 && j < i {
				out = append(out, part[:strings.Index(part, `"`)]+": "+part[j+1:i])
			}
		}
	}
	if len(out) == 0 {
		return fmt.Sprintf("%.300s", page)
	}
	return strings.Join(out, "; ")
}

func (d *drday) incidentPath(suffix string) string { return "/console/incidents/" + d.inc + suffix }

// Plan minute 0: af-south-1 fails; the commander declares. The first alarms
// show a major incident; its full extent (critical) is known at minute 25.
func (d *drday) declare() {
	form := url.Values{"name": {"af-south-1 region outage: API, credit origination and portal down"}, "impact": {"major"},
		"body": {"We are investigating a loss of service in our primary hosting region. The API Platform, Credit Origination " +
			"and the Customer Portal are unavailable; partner integrations are degraded. Next update within 15 minutes."},
		"commander": {d.users["commander"].id}}
	for key, status := range map[string]string{"api-platform": "major_outage", "credit-origination": "major_outage",
		"customer-portal": "major_outage", "partner-integrations": "partial_outage"} {
		form.Set("component_"+d.componentID(key), status)
	}
	loc := d.post(d.users["commander"], "/console/incidents", form, "/console/incidents/")
	d.inc = strings.TrimPrefix(loc, "/console/incidents/")
	in, err := d.st.Incident(context.Background(), d.inc)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t0 = in.CreatedAt
}

// compose posts through the console's composer: status (public updates
// only), impact (only to change it), the text and the audiences ticked.
func (d *drday) compose(status, impact, text string, audiences ...string) {
	d.post(d.users["commander"], d.incidentPath("/updates"), url.Values{"status": {status}, "impact": {impact},
		"main": {text}, "audience": audiences, "action": {"post"}}, d.incidentPath(""))
}

// public is an update on the status page, told to engineering too.
func (d *drday) public(status, text string) { d.compose(status, "", text, "public", "engineering") }

func (d *drday) engineering(text string) { d.compose("", "", text, "engineering") }

func (d *drday) executives(text string) { d.compose("", "", text, "executives") }

func (d *drday) component(key, status string) {
	d.post(d.users["commander"], d.incidentPath("/components"), url.Values{"component": {d.componentID(key)},
		"status": {status}}, d.incidentPath(""))
}

// action requests a procedure of the failover catalogue and returns the
// new action's id.
func (d *drday) action(procedure, reason string) string {
	d.post(d.users["commander"], d.incidentPath("/actions"), url.Values{"procedure": {procedure}, "reason": {reason}},
		d.incidentPath(""))
	as, err := d.st.Actions(context.Background(), d.inc)
	if err != nil {
		d.t.Fatal(err)
	}
	for _, a := range as {
		if string(a.Kind)+":"+a.Key == procedure {
			d.actions[procedure] = a.ID
			return a.ID
		}
	}
	d.t.Fatalf("no action %s after requesting it", procedure)
	return ""
}

// step marks step pos of an action done, as u.
func (d *drday) step(u *drUser, procedure string, pos int, note string) {
	d.post(u, fmt.Sprintf("/console/actions/%s/steps/%d", d.actions[procedure], pos), url.Values{"state": {"done"},
		"note": {note}}, d.incidentPath(""))
}

// localNow is now as a datetime-local value in the page's zone, to the
// second.
func (d *drday) localNow() string {
	loc, err := time.LoadLocation(d.plan.Page.TimeZone)
	if err != nil {
		d.t.Fatal(err)
	}
	return time.Now().In(loc).Format("2006-01-02T15:04:05")
}

type drStep struct {
	at float64
	do func()
}

// script is the incident after the declaration, in plan minutes.
func (d *drday) script() []drStep {
	cmdr, dba, vp := d.users["commander"], d.users["dba"], d.users["vp"]
	region, runbook := "region:primary-region", "runbook:database-failover"
	say := func(at float64, f func(string), text string) drStep { return drStep{at, func() { f(text) }} }
	pub := func(at float64, status, text string) drStep { return drStep{at, func() { d.public(status, text) }} }
	regionStep := func(at float64, pos int, note string) drStep {
		return drStep{at, func() { d.step(cmdr, region, pos, note) }}
	}
	dbaStep := func(at float64, pos int, note string) drStep {
		return drStep{at, func() { d.step(dba, runbook, pos, note) }}
	}
	return []drStep{
		{1, func() {
			for _, r := range []struct{ seat, user string }{{"deputy", "deputy"}, {"communications_lead", "lead"}} {
				d.post(cmdr, d.incidentPath("/roles"), url.Values{"seat": {r.seat}, "user": {d.users[r.user].id}}, d.incidentPath(""))
			}
		}},
		say(3, d.engineering, "Detection: Route 53 health checks failed 3 times in a row for af-south-1; PagerDuty paged the on-call."),
		{4, func() {
			d.action(region, "af-south-1 is down: Route 53 fails over to eu-west-1 automatically; following its stages.")
		}},
		regionStep(5, 1, "Health checks failed 3 times; PagerDuty alert received."),
		regionStep(6.5, 2, "Route 53 routes to eu-west-1 (TTL 60 s)."),
		say(8, d.executives, "af-south-1, our primary region, is down. Failover to eu-west-1 is under way; the API, credit "+
			"origination and the portal are unavailable. RTO target 4 hours. Next update within 30 minutes."),
		{9.5, func() {
			d.action(runbook, "The automatic RDS promotion stalled: promote the eu-west-1 standby by hand.")
		}},
		{11, func() {
			d.post(vp, "/console/actions/"+d.actions[runbook]+"/decide", url.Values{"decision": {"approve"},
				"note": {"Approved: promote eu-west-1 if the lag is under 100 ms."}}, d.incidentPath(""))
		}},
		pub(12, "identified", "We have identified the cause: our primary hosting region is unavailable. Traffic is moving to "+
			"our standby region. Next update within 15 minutes."),
		regionStep(13.5, 3, "RDS read replica promoted; connection strings updated."),
		{15, func() {
			d.post(dba, "/console/actions/"+d.actions[runbook]+"/execute", url.Values{"replication_lag_ms": {"40"}}, d.incidentPath(""))
		}},
		dbaStep(16.5, 1, "kredete-primary unreachable."),
		dbaStep(18, 2, "Standby lag 40 ms."),
		dbaStep(19.5, 3, "Failover initiated to kredete-standby."),
		{21, func() { d.post(cmdr, d.incidentPath("/regulator-flag"), url.Values{}, d.incidentPath("")) }},
		dbaStep(22.5, 4, "credit-origination points at the standby."),
		dbaStep(24, 5, "pg_is_in_recovery() = false."),
		{25, func() {
			d.compose("identified", "critical", "Our whole primary region is lost; our standby region is taking traffic. Loan "+
				"applications remain unavailable. Next update within 15 minutes.", "public", "engineering")
		}},
		dbaStep(26.5, 6, "API tier restarted."),
		regionStep(28, 4, "Workloads scaled up; cache warming."),
		say(30, d.engineering, "RDS promotion complete (lag at failover 40 ms). Scaling up Kubernetes workloads."),
		say(32, d.executives, "The database runs in eu-west-1 since minute 22; services come back one by one. Next update "+
			"within 30 minutes."),
		{37, func() { d.component("api-platform", "partial_outage") }},
		{38, func() {
			d.public("identified", "The API Platform answers again from our standby region with reduced capacity.")
		}},
		say(45, d.engineering, "Service activation: workloads scaled, cache warming at 60%."),
		{51, func() { d.component("credit-origination", "partial_outage") }},
		{52, func() {
			d.public("identified", "Credit Origination is partly back: applications are accepted, disbursements are queued.")
		}},
		say(59, d.executives, "API partly back, applications accepted, disbursements queued. Next update within 30 minutes."),
		// 67: the public update falls due and the commander misses it
		// (reminded at 62 and 67, escalated to the deputy and the
		// communications lead at 72).
		{74, func() { d.component("customer-portal", "partial_outage") }},
		{75, func() {
			d.public("identified", "Sorry for the delay. The Customer Portal is partly available; we are restoring the remaining "+
				"services. Next update within 15 minutes.")
		}},
		say(86, d.executives, "Portal partly back. Restoration continues; no data loss found so far."),
		pub(88, "identified", "Restoration continues in our standby region. Next update within 15 minutes."),
		say(95, d.engineering, "Partner bank connections re-established from eu-west-1 ranges; two bureaus pending allow-lists."),
		{97, func() {
			d.post(cmdr, d.incidentPath("/restored"), url.Values{"restored_at": {d.localNow()}}, d.incidentPath(""))
		}},
		{98, func() { d.component("api-platform", "degraded_performance") }},
		{99, func() { d.component("credit-origination", "degraded_performance") }},
		say(100, d.executives, "Every service runs from eu-west-1; we restore the last partner connections."),
		pub(101, "monitoring", "A fix is in place: every service runs from our standby region. We are watching error rates closely."),
		pub(114, "monitoring", "Error rates are falling. Queued disbursements are being processed."),
		// 120: a message to engineering; the replica posting its reply
		// is killed while Slack holds the answer. Due while it is down:
		// the public update's reminder (124),
		// the executives' reminder (125) and holding update (130), the
		// next public reminder (137).
		{drdayKill, d.kill},
		pub(127, "monitoring", "Queued disbursements are processed. We are still monitoring."),
		{drdayRestart, func() {
			d.public("monitoring", "Performance is close to normal. We are still monitoring.")
			d.restart()
		}},
		pub(153, "monitoring", "All services respond normally from our standby region. We are still monitoring."),
		say(155, d.executives, "Stable on eu-west-1 for 30 minutes; monitoring. Next update within 30 minutes."),
		pub(166, "monitoring", "No errors for 30 minutes. We are still monitoring."),
		pub(179, "monitoring", "We are verifying data consistency of the last hour before the outage."),
		say(185, d.engineering, "RPO check: 12 minutes of writes replayed from the Kafka backlog; checksums match."),
		pub(192, "monitoring", "Data consistency verified. We are still monitoring."),
		pub(205, "monitoring", "Services are stable. We plan to close the incident within the hour."),
		{215, func() {
			d.post(cmdr, d.incidentPath("/regulator"), url.Values{"step": {"initial"}, "called_by": {cmdr.name},
				"whom": {"Prudential Authority, ICT incident desk (duty officer)"}, "at": {d.localNow()},
				"reference": {"ICT-2026-0412"}, "notes": {"Initial notification by phone: af-south-1 outage, failover to eu-west-1."}},
				d.incidentPath(""))
		}},
		pub(218, "monitoring", "Services are stable. We plan to close the incident shortly."),
		pub(231, "monitoring", "Services are stable. Final checks under way."),
		{drdayLength, func() {
			d.compose("resolved", "", "This incident has been resolved. Every service runs normally from our standby region. "+
				"We apologise for the disruption; a post-incident report will follow.", "public", "engineering", "executives")
		}},
	}
}
