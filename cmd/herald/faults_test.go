package main

// The fault tests of issue 8: PostgreSQL restarted (and crashed) in the
// middle of an incident, Slack answering 429 and 500 for minutes, the mail
// relay down (refusing connections, or answering 4xx) for minutes. Each
// runs Herald as separate processes on the cluster of replicas_test.go (the
// herald binary, PostgreSQL, the local Slack, Twilio and SMTP fakes) through
// an incident: a declaration, then updates to engineering (Slack),
// executives (email and SMS) and the public page (and so the status-page
// subscribers, by email and SMS), some before the fault, some during it,
// one after. Each ends with every message at its vendor exactly once, in
// order where Herald promises order, and nothing lost; the public page is
// served throughout.
//
// The outages last HERALD_TEST_SLACK_OUTAGE and HERALD_TEST_SMTP_OUTAGE:
// 30 s and 40 s in `go test ./...` (past the engine's first retries, 1, 2,
// 4, 8, 16 s), the five and ten minutes with scripts/faults.sh.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// The incident's audiences in the fault tests.
const (
	faultExecutives = 10  // executives, each by email and SMS
	faultMailSubs   = 100 // status-page subscribers by email
	faultTextSubs   = 20  // and by SMS
)

// faultEnv is what every fault test's replicas run with: the queue's
// production timing (nothing is killed here, so nothing waits for a
// rescue), and the engine's default retries.
var faultEnv = []string{
	"HERALD_QUEUE_JOB_TIMEOUT=60s",
	"HERALD_QUEUE_RESCUE_AFTER=2m",
}

// TestFaults runs each fault on its own cluster, side by side.
func TestFaults(t *testing.T) {
	bin := buildHerald(t)
	slackOutage := outageLength(t, "HERALD_TEST_SLACK_OUTAGE", 30*time.Second)
	smtpOutage := outageLength(t, "HERALD_TEST_SMTP_OUTAGE", 40*time.Second)
	t.Run("postgres restarted", func(t *testing.T) {
		t.Parallel()
		postgresRestarted(t, bin, "fast")
	})
	t.Run("postgres crashed", func(t *testing.T) {
		t.Parallel()
		postgresRestarted(t, bin, "immediate")
	})
	t.Run("slack 429 and 500", func(t *testing.T) {
		t.Parallel()
		slackFailing(t, bin, slackOutage)
	})
	t.Run("smtp refusing connections", func(t *testing.T) {
		t.Parallel()
		smtpDown(t, bin, smtpOutage, false)
	})
	t.Run("smtp answering 4xx", func(t *testing.T) {
		t.Parallel()
		smtpDown(t, bin, smtpOutage, true)
	})
}

// outageLength reads an outage's length from the environment.
func outageLength(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s: %q is not a positive duration such as 5m", name, v)
	}
	return d
}

// faultRun is one fault test's incident and what it expects.
type faultRun struct {
	t        *testing.T
	c        *cluster
	running  int // replicas started: 0..running-1
	inc      string
	updates  []string // the texts composed after the declaration, in order
	mailSubs map[string]bool
	textSubs map[string]bool
	// cut is set when the mail relay went away with connections open:
	// what it had accepted by then and how many connections it cut.
	cut *mailCut
}

// mailCut is the state of the mail relays when they went down. A message
// whose DATA a relay accepted just before it cut the connection, before
// its "250" reached Herald, cannot be known as sent: Herald sends it again
// with the same Message-ID (RFC 5321's duplicate problem, section 4.1.1.4;
// receivers and mail clients fold such copies). So one copy of a message
// already received at the cut is allowed, at most one per cut connection;
// any other copy is a duplicate Herald made.
type mailCut struct {
	before map[string]map[string]int // address → Message-ID → copies received by the cut
	conns  int                       // connections open when the relays went down
}

// newFaultRun makes the cluster (on dbURL, "" for a fresh database on the
// shared server), with the fault plan and env, and stores the subscribers;
// the replicas are not started yet.
func newFaultRun(t *testing.T, bin, dbURL string, env ...string) *faultRun {
	t.Helper()
	if dbURL == "" {
		dbURL = storetest.URL(t, store.Postgres)
	}
	c := newClusterOn(t, bin, dbURL, faultExecutives)
	c.extraEnv = append(slices.Clone(faultEnv), env...)
	r := &faultRun{t: t, c: c, mailSubs: map[string]bool{}, textSubs: map[string]bool{}}
	ctx := context.Background()
	if err := c.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	plan, err := config.LoadPlan(c.plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.st.SyncComponents(ctx, plan.Groups, plan.Components); err != nil {
		t.Fatal(err)
	}
	var rows []herald.CSVSubscriber
	for i := range faultMailSubs {
		a := fmt.Sprintf("client%03d@clients.example", i)
		r.mailSubs[a] = true
		rows = append(rows, herald.CSVSubscriber{Channel: string(herald.SubscriberEmail), Address: a})
	}
	for i := range faultTextSubs {
		p := fmt.Sprintf("+2783100%04d", i)
		r.textSubs[p] = true
		rows = append(rows, herald.CSVSubscriber{Channel: string(herald.SubscriberSMS), Address: p})
	}
	if res, err := c.st.ImportSubscribers(ctx, rows, "faults-test"); err != nil || res.Imported != len(rows) {
		t.Fatalf("import %d subscribers: imported %d, skipped %v, error %v", len(rows), res.Imported, res.Skipped, err)
	}
	return r
}

// start starts n replicas, the first alone (it creates the admin).
func (r *faultRun) start(n int) {
	r.t.Helper()
	r.c.start(0)
	r.c.waitReady(0)
	for i := 1; i < n; i++ {
		r.c.start(i)
	}
	for i := 1; i < n; i++ {
		r.c.waitReady(i)
	}
	r.running = n
}

// declare declares the incident through replica 0's admin API.
func (r *faultRun) declare() {
	r.inc = r.c.declare(0)
}

// post composes an update to engineering, the executives and the public
// page from replica i's console.
func (r *faultRun) post(i int, text string) {
	r.t.Helper()
	c := r.c
	base := fmt.Sprintf("http://127.0.0.1:%d", c.ports[i])
	if u, _ := url.Parse(base); len(c.session.Jar.Cookies(u)) == 0 {
		resp, err := c.session.PostForm(base+"/console/sign-in", url.Values{"email": {adminEmail}, "password": {adminPassword}})
		if err != nil {
			r.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			r.t.Fatalf("sign in: %d", resp.StatusCode)
		}
	}
	form := url.Values{"main": {text}, "audience": {"engineering", "executives", "public"}}
	resp, err := c.session.PostForm(base+"/console/incidents/"+r.inc+"/updates", form)
	if err != nil {
		r.t.Fatalf("post %q on replica %d: %v", text, i, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(b), "Not saved") {
		// Right after the database's return the replica's monitor may
		// still be reconnecting (on a loaded machine a fresh connection
		// outlasts its 2 s check): the form comes back "Not saved", as
		// to a commander, who sends it again once the replica has the
		// database back. Nothing was stored, so nothing can be doubled.
		r.t.Logf("post %q on replica %d: Not saved while its monitor reconnects; sending again once it is back", text, i)
		eventually(r.t, 30*time.Second, fmt.Sprintf("replica %d's database monitor back", i), func() (bool, string) {
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				return false, err.Error()
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK && !strings.Contains(string(body), "degraded"), string(body)
		})
		if resp, err = c.session.PostForm(base+"/console/incidents/"+r.inc+"/updates", form); err != nil {
			r.t.Fatalf("post %q on replica %d: %v", text, i, err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/incidents/"+r.inc {
		r.t.Fatalf("post %q on replica %d: %d %s\n%s", text, i, resp.StatusCode, resp.Header.Get("Location"), b)
	}
	r.updates = append(r.updates, text)
}

// planDeliveries are the incident's deliveries to the plan's audiences
// (not subscribers), oldest first.
func (r *faultRun) planDeliveries() []herald.Delivery {
	r.t.Helper()
	ds, err := r.c.st.Deliveries(context.Background(), r.inc, 100000)
	if err != nil {
		r.t.Fatal(err)
	}
	slices.SortFunc(ds, func(a, b herald.Delivery) int { return int(a.Seq - b.Seq) })
	return ds
}

// waitSent waits until every delivery of the update text on a channel in
// chans is sent: the channels the fault does not touch.
func (r *faultRun) waitSent(text string, within time.Duration, chans ...herald.Channel) {
	r.t.Helper()
	eventually(r.t, within, fmt.Sprintf("the %v deliveries of %q sent", chans, text), func() (bool, string) {
		var n, sent int
		for _, d := range r.planDeliveries() {
			if slices.Contains(chans, d.Channel) && strings.Contains(d.Body, text) {
				n++
				if d.State == herald.DeliverySent {
					sent++
				}
			}
		}
		return n > 0 && n == sent, fmt.Sprintf("%d of %d sent", sent, n)
	})
}

// waitPublic waits until every running replica's public page of the
// incident shows text.
func (r *faultRun) waitPublic(text string, within time.Duration) {
	r.t.Helper()
	for i := range r.running {
		u := fmt.Sprintf("http://127.0.0.1:%d/incidents/%s", r.c.ports[i], r.inc)
		eventually(r.t, within, fmt.Sprintf("replica %d's public page showing %q", i, text), func() (bool, string) {
			resp, err := http.Get(u)
			if err != nil {
				return false, err.Error()
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK && strings.Contains(string(b), text), resp.Status
		})
	}
}

// waitAll waits until every delivery is final: the plan's (one Slack post
// and an email and a text per executive for each update, the thread's
// parent) and the subscribers' (an email each for the declaration and each
// update, a text each for the declaration), the fan-outs done. It returns
// the plan's deliveries and the subscribers'.
func (r *faultRun) waitAll(within time.Duration) (plan, subs []herald.Delivery) {
	r.t.Helper()
	u := len(r.updates)
	r.c.waitFinal(r.inc, 1+u*(1+2*faultExecutives), within)
	subs = waitSubscribersFinal(r.t, r.c, r.inc, (1+u)*faultMailSubs+faultTextSubs, within)
	return r.planDeliveries(), subs
}

// faultResult is what a fault test measured, for its report.
type faultResult struct {
	messages    map[herald.Channel]int // at the vendors
	copies      int                    // emails received more than once (same Message-ID)
	cutCopies   int                    // of those, accepted as the relay cut their connection (see mailCut)
	maxAttempts map[herald.Channel]int
	retried     int           // deliveries that took more than one attempt
	cpu         time.Duration // the replicas' processor time, from their start
}

// check asserts the promise on every delivery of the incident, and returns
// what it counted.
func (r *faultRun) check(plan, subs []herald.Delivery) faultResult {
	t := r.t
	t.Helper()
	res := faultResult{messages: map[herald.Channel]int{}, maxAttempts: map[herald.Channel]int{}}
	for _, d := range append(slices.Clone(plan), subs...) {
		res.maxAttempts[d.Channel] = max(res.maxAttempts[d.Channel], d.Attempts)
		if d.Attempts > 1 {
			res.retried++
		}
		switch {
		case d.State == herald.DeliveryFailed:
			t.Errorf("failed: %s %s → %s: %s (attempts %d)", d.Channel, d.Kind, d.Recipient, d.LastError, d.Attempts)
		case d.State == herald.DeliverySkipped && d.Kind != herald.KindEdit:
			t.Errorf("skipped: %s %s → %s: %s", d.Channel, d.Kind, d.Recipient, d.LastError)
		case d.State == herald.DeliverySent && d.ProviderID == "":
			t.Errorf("sent without a vendor id: %s %s → %s", d.Channel, d.Kind, d.Recipient)
		}
	}
	for i := range r.running {
		res.cpu += processCPU(r.c.procs[i].pid)
	}
	r.checkSlack(plan, &res)
	r.checkTexts(plan, subs, &res)
	r.checkMail(plan, subs, &res)
	return res
}

// checkSlack: each delivery that posts is in the channel exactly once, as
// recorded, the replies in the incident's thread, and in the order they
// were written (Herald sends a thread's messages in order).
func (r *faultRun) checkSlack(plan []herald.Delivery, res *faultResult) {
	t := r.t
	c := r.c
	byID := map[string]herald.Delivery{}
	var posts []herald.Delivery
	for _, d := range plan {
		if d.Channel == herald.ChannelSlack && d.Kind != herald.KindEdit {
			byID[d.ID] = d
			posts = append(posts, d)
		}
	}
	for _, text := range r.updates {
		if !slices.ContainsFunc(posts, func(d herald.Delivery) bool { return d.Kind == herald.KindReply && strings.Contains(d.Body, text) }) {
			t.Errorf("no Slack reply tells the update %q", text)
		}
	}
	seen := map[string]int{}
	var order []int64
	parent := ""
	for _, m := range c.slack.Messages(c.slackCh) {
		var meta struct {
			EventPayload struct {
				DeliveryID string `json:"delivery_id"`
			} `json:"event_payload"`
		}
		if err := json.Unmarshal([]byte(m.Metadata), &meta); err != nil || meta.EventPayload.DeliveryID == "" {
			t.Errorf("a Slack message without Herald's metadata: %+v", m)
			continue
		}
		id := meta.EventPayload.DeliveryID
		seen[id]++
		d, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("a Slack message of no posting delivery of the incident: %s", id)
			continue
		case d.ProviderID != m.TS:
			t.Errorf("Slack delivery %s recorded ts %s; the channel has it at %s", id, d.ProviderID, m.TS)
		}
		if d.Kind == herald.KindThread {
			parent = m.TS
		} else if m.ThreadTS == "" || m.ThreadTS != parent {
			t.Errorf("Slack reply %s outside the incident's thread %q: %+v", id, parent, m)
		}
		order = append(order, d.Seq)
	}
	for _, d := range posts {
		if seen[d.ID] != 1 {
			t.Errorf("Slack %s delivery %s is in the channel %d times, want once", d.Kind, d.ID, seen[d.ID])
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("the Slack thread's messages arrived in the order %v of their writing, want it increasing", order)
	}
	res.messages[herald.ChannelSlack] = len(c.slack.Messages(c.slackCh))
}

// checkTexts: each phone (executive or subscriber) received exactly the
// texts recorded for it, in the order they were written.
func (r *faultRun) checkTexts(plan, subs []herald.Delivery, res *faultResult) {
	t := r.t
	got := map[string][]string{}
	for _, m := range r.c.twilio.Messages() {
		got[m.To] = append(got[m.To], m.SID)
	}
	want := map[string][]string{}
	for _, d := range append(slices.Clone(plan), subs...) { // plan, then subscribers: each in order of writing
		if d.Channel == herald.ChannelSMS {
			want[d.Recipient] = append(want[d.Recipient], d.ProviderID)
		}
	}
	for _, p := range r.c.phones {
		if len(want[p]) != len(r.updates) {
			t.Errorf("%s has %d SMS deliveries, want one per update (%d)", p, len(want[p]), len(r.updates))
		}
	}
	for p := range r.textSubs {
		if len(want[p]) != 1 {
			t.Errorf("subscriber %s has %d SMS deliveries, want 1 (the declaration)", p, len(want[p]))
		}
	}
	for p, sids := range got {
		if !slices.Equal(sids, want[p]) {
			t.Errorf("%s received texts %v; its deliveries recorded %v, in that order", p, sids, want[p])
		}
	}
	if len(got) != len(want) {
		t.Errorf("texts went to %d numbers, deliveries to %d", len(got), len(want))
	}
	res.messages[herald.ChannelSMS] = len(r.c.twilio.Messages())
}

// checkMail: each address (executive or subscriber) received each email
// recorded for it exactly once (counted by Message-ID) and nothing else;
// each subscriber one per update and the declaration, each executive one
// per update.
func (r *faultRun) checkMail(plan, subs []herald.Delivery, res *faultResult) {
	t := r.t
	want := map[string]map[string]bool{}
	for _, d := range append(slices.Clone(plan), subs...) {
		if d.Channel != herald.ChannelEmail {
			continue
		}
		if want[d.Recipient] == nil {
			want[d.Recipient] = map[string]bool{}
		}
		want[d.Recipient][d.ProviderID] = true
	}
	for _, a := range r.c.emails {
		if len(want[a]) != len(r.updates) {
			t.Errorf("%s has %d email deliveries, want one per update (%d)", a, len(want[a]), len(r.updates))
		}
	}
	for a := range r.mailSubs {
		if len(want[a]) != 1+len(r.updates) {
			t.Errorf("subscriber %s has %d email deliveries, want %d (the declaration and each update)", a, len(want[a]), 1+len(r.updates))
		}
	}
	got := mailsByAddress(t, r.c)
	defer func() {
		if r.cut != nil && res.cutCopies > r.cut.conns {
			t.Errorf("%d emails arrived again after the relay went down, more than the %d connections it cut", res.cutCopies, r.cut.conns)
		}
	}()
	for a, ids := range got {
		for id, n := range ids {
			if !want[a][id] {
				t.Errorf("%s received %s, which no delivery recorded", a, id)
			}
			if n == 2 && r.cut != nil && r.cut.before[a][id] == 1 {
				res.cutCopies++
				t.Logf("%s received %s again after the relay cut the connection it was accepted on", a, id)
			} else if n > 1 {
				t.Errorf("%s received %s %d times, want once", a, id, n)
				res.copies += n - 1
			}
		}
		for id := range want[a] {
			if ids[id] == 0 {
				t.Errorf("%s never received %s, recorded as sent", a, id)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("emails went to %d addresses, deliveries to %d", len(got), len(want))
	}
	res.messages[herald.ChannelEmail] = len(r.c.allMail())
}

// report logs a result line that scripts/faults.sh collects.
func (r *faultRun) report(fault string, outage, drain time.Duration, res faultResult) {
	total := 0
	for _, n := range res.messages {
		total += n
	}
	r.t.Logf("fault result | %s | outage %s | drained %s after recovery | %d messages (Slack %d, SMS %d, email %d) | "+
		"%d copies (+%d at the cut) | %d deliveries retried, most attempts: Slack %d, SMS %d, email %d | replicas' CPU %s",
		fault, outage.Round(time.Second), drain.Round(100*time.Millisecond), total, res.messages[herald.ChannelSlack],
		res.messages[herald.ChannelSMS], res.messages[herald.ChannelEmail], res.copies, res.cutCopies, res.retried,
		res.maxAttempts[herald.ChannelSlack], res.maxAttempts[herald.ChannelSMS], res.maxAttempts[herald.ChannelEmail],
		res.cpu.Round(100*time.Millisecond))
}

// processCPU is the processor time a running process has used (user and
// system, /proc/PID/stat), 0 when it cannot be read.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command, which is in parentheses and may hold
	// spaces: utime and stime are the 12th and 13th, in clock ticks
	// (100 a second on Linux).
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// pageWatch requests the public page and the summary of every running
// replica, one after the other, until stopped, and counts what failed: the
// page serves from memory, whatever the database and the vendors do.
type pageWatch struct {
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	requests int
	failures []string
}

func (r *faultRun) watchPages() *pageWatch {
	w := &pageWatch{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	var urls []string
	for i := range r.running {
		base := fmt.Sprintf("http://127.0.0.1:%d", r.c.ports[i])
		urls = append(urls, base+"/", base+"/api/v2/summary.json", base+"/incidents/"+r.inc)
	}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			u := urls[n%len(urls)]
			resp, err := client.Get(u)
			problem := ""
			if err != nil {
				problem = err.Error()
			} else {
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					problem = resp.Status
				}
			}
			w.mu.Lock()
			w.requests++
			if problem != "" {
				w.failures = append(w.failures, fmt.Sprintf("%s %s: %s", time.Now().Format("15:04:05.000"), u, problem))
			}
			w.mu.Unlock()
		}
	}()
	r.t.Cleanup(w.end)
	return w
}

// end stops the watch (once).
func (w *pageWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// check stops the watch and asserts that every request was answered.
func (w *pageWatch) check(t *testing.T) int {
	t.Helper()
	w.end()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.requests == 0 {
		t.Error("the public pages were never requested")
	}
	if len(w.failures) > 0 {
		t.Errorf("%d of %d public page requests failed during the fault, e.g. %v", len(w.failures), w.requests,
			w.failures[:min(5, len(w.failures))])
	}
	return w.requests
}
