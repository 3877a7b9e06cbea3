package main

// The fault test of the subscriber fan-out: two Herald processes tell a
// few thousand status-page subscribers of a new incident, one of them is
// killed with SIGKILL in the middle of it and restarted at once, and in the
// end every subscriber who follows the incident's component has been told
// exactly once, by email, by text or by webhook, and nobody else has.
//
// It reuses the cluster of replicas_test.go (the herald binary built once,
// a fresh PostgreSQL database, the local SMTP, Twilio and Slack fakes, the
// per-replica proxies, the admin API and the console) and runs two of its
// three replicas; the webhook receiver is fanout_webhook_test.go's.

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/email/smtptest"
	"github.com/kredete/herald/comms/sms/twiliotest"
	"github.com/kredete/herald/config"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx", to read the subscriber deliveries
)

const (
	fanoutReplicas    = 2    // of the cluster's three
	fanoutEmailSubs   = 3000 // confirmed email subscribers
	fanoutSMSSubs     = 300  // confirmed SMS subscribers
	fanoutWebhookSubs = 200  // confirmed webhook subscribers
	fanoutPending     = 10   // pending (never confirmed) subscribers per channel
	fanoutUnsubscribe = 10   // confirmed subscribers per channel who then left
)

// The component keys of fanoutPlanYAML; the incident affects the first.
const (
	compAPI       = "api-platform"
	compPayments  = "payments"
	compDashboard = "dashboard"
)

// fanoutEnv tunes the replicas so that the fan-out takes several seconds:
// subscriber messages are capped per process and channel, and a job held
// by a killed process is rescued within the test's time (replicas_test's
// queue timing). Webhooks may post to the loopback address, where the
// test's receiver is (its certificate is added as SSL_CERT_FILE), and are
// not capped: their calls share the texts' priority and the workers, and
// must not hold up the texts, whose last ones meet the first mails where
// the victim is chosen.
var fanoutEnv = []string{
	"HERALD_SUBSCRIBER_EMAIL_RATE=150",
	"HERALD_SUBSCRIBER_SMS_RATE=50",
	"HERALD_SUBSCRIBER_WEBHOOK_RATE=1000",
	"HERALD_SUBSCRIBER_WORKERS=20",
	"HERALD_QUEUE_JOB_TIMEOUT=" + jobTimeout,
	"HERALD_QUEUE_RESCUE_AFTER=" + rescueAfter,
	"HERALD_WEBHOOK_ALLOW=127.0.0.1/32",
}

// The webhook receiver holds each answer fanoutHookLatency, and a slow
// endpoint's (every fanoutSlowHookEvery-th webhook subscriber's) until the
// kill, at most fanoutSlowHold: the webhooks are otherwise over by then,
// and the kill finds posts received and not answered. The hold is within
// jobTimeout, so that only the kill makes a replica post again.
const (
	fanoutHookLatency   = 25 * time.Millisecond
	fanoutSlowHookEvery = 40
	fanoutSlowHold      = 4 * time.Second
)

// fanoutDeclaration is the declaration's text (cluster.declare's).
const fanoutDeclaration = "We are investigating failed card payments."

// fanoutSub is one subscriber the test creates, and what it expects for
// it.
type fanoutSub struct {
	channel herald.SubscriberChannel
	address string
	comps   []string // component keys; none means all components
	state   herald.SubscriberState
}

// told reports whether an incident on api-platform concerns the
// subscriber: confirmed, and following all components or api-platform.
func (s fanoutSub) told() bool {
	if s.state != herald.SubscriberConfirmed {
		return false
	}
	return len(s.comps) == 0 || slices.Contains(s.comps, compAPI)
}

// TestKillDuringSubscriberFanout: 3,000 email, 300 SMS and 200 webhook
// subscribers (following all components, api-platform, or only others), an
// incident on api-platform, and the replica sending subscriber messages
// killed in the middle of the fan-out, then restarted. Every subscriber
// concerned gets exactly one message for the declaration (an email
// interrupted between the mail server's acceptance and its answer may
// arrive twice, with the same Message-ID: email cannot be asked), a webhook
// two (the incident, and api-platform's change of status; a post
// interrupted likewise may arrive twice, with the same Idempotency-Key),
// and then one email and one webhook post for a plain update posted
// afterwards (no text: SMS goes only on creation and resolution).
func TestKillDuringSubscriberFanout(t *testing.T) {
	began := time.Now()
	bin := buildHerald(t)
	c := newCluster(t, bin)
	c.plan = filepath.Join(t.TempDir(), "fanout-plan.yaml")
	if err := os.WriteFile(c.plan, []byte(fanoutPlanYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	hooks := newHookReceiver(t, fanoutHookLatency, fanoutSlowHold)
	c.bin = fanoutBinary(t, bin, append(slices.Clone(fanoutEnv), "SSL_CERT_FILE="+hooks.CertFile))
	subs := seedSubscribers(t, c, hooks)

	var wantMail, wantText, wantHook, notTold = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range subs {
		switch {
		case !s.told():
			notTold[s.address] = true
		case s.channel == herald.SubscriberEmail:
			wantMail[s.address] = true
		case s.channel == herald.SubscriberSMS:
			wantText[s.address] = true
		default:
			wantHook[s.address] = true
		}
	}
	t.Logf("%d subscribers seeded; the incident concerns %d email, %d SMS and %d webhook subscribers, not %d others",
		len(subs), len(wantMail), len(wantText), len(wantHook), len(notTold))

	c.start(0) // it migrates (nothing left to do) and creates the admin
	c.waitReady(0)
	c.start(1)
	c.waitReady(1)

	// Slow vendors, with a window in each where a message is accepted and
	// the answer not yet given: a kill there leaves it sent but not
	// recorded. The hooks also count what each replica got accepted, and
	// the texts whose answer is being held.
	var mails, texts, textsHeld [replicas]atomic.Int32
	c.twilio.SetLatency(30 * time.Millisecond)
	c.twilio.SetCreateHook(func(_ twiliotest.Message, r *http.Request) {
		i := replicaOf(r)
		if i < 0 {
			return
		}
		texts[i].Add(1)
		textsHeld[i].Add(1)
		defer textsHeld[i].Add(-1)
		time.Sleep(150 * time.Millisecond)
	})
	for i, s := range c.smtp {
		s.SetLatency(10 * time.Millisecond)
		s.SetDataHook(func(smtptest.Message) {
			mails[i].Add(1)
			time.Sleep(40 * time.Millisecond)
		})
	}
	sum := func(a *[replicas]atomic.Int32) int {
		n := 0
		for i := range a {
			n += int(a[i].Load())
		}
		return n
	}

	inc := c.declare(0) // api-platform, partial outage: incident_created, email and SMS
	declared := time.Now()

	// The victim: preferably a replica with a text accepted by Twilio and
	// not yet answered while it is sending mail (SMS prioritised, the
	// texts end as the mail starts: both channels are interrupted); else,
	// once a quarter of the mail is out, the replica that sent the most.
	victim, why := -1, ""
	eventually(t, 60*time.Second, "subscriber messages flowing, the fan-out not over", func() (bool, string) {
		m, x := sum(&mails), sum(&texts)
		if m >= len(wantMail) && x >= len(wantText) {
			t.Fatalf("the fan-out was over (%d mails, %d texts) before a replica could be killed", m, x)
		}
		for i := range fanoutReplicas {
			if textsHeld[i].Load() > 0 && mails[i].Load() > 0 {
				victim, why = i, "with texts accepted by Twilio and unanswered, and mail flowing"
				return true, ""
			}
		}
		if m >= len(wantMail)/4 {
			victim, why = 0, "having sent the most mail"
			for i := 1; i < fanoutReplicas; i++ {
				if mails[i].Load() > mails[victim].Load() {
					victim = i
				}
			}
			return true, ""
		}
		return false, fmt.Sprintf("%d of %d mails, %d of %d texts", m, len(wantMail), x, len(wantText))
	})
	held, hooksHeld, slowHeld := textsHeld[victim].Load(), hooks.held.Load(), hooks.heldSlow.Load()
	c.kill(victim)
	hooks.release()
	m, x, w := sum(&mails), sum(&texts), hooks.recv.Count()
	t.Logf("%s after the declaration: killed replica %d (pid %d) %s (%d texts held at Twilio; it had %d mails and %d texts accepted); "+
		"%d of %d mails, %d of %d texts and %d of %d webhook posts at the vendors; the webhook receiver held the answers to %d posts "+
		"(%d to slow endpoints), from either replica", time.Since(declared).Round(10*time.Millisecond), victim, c.procs[victim].pid, why, held,
		mails[victim].Load(), texts[victim].Load(), m, len(wantMail), x, len(wantText), w, 2*len(wantHook), hooksHeld, slowHeld)
	if m >= len(wantMail) && x >= len(wantText) {
		t.Fatalf("the fan-out was over when replica %d was killed", victim)
	}
	c.start(victim)
	c.waitReady(victim)

	ds := waitSubscribersFinal(t, c, inc, len(wantMail)+len(wantText)+2*len(wantHook), 75*time.Second)
	if f, l := hooks.span(); !f.IsZero() {
		t.Logf("the declaration's webhook posts (copies included) arrived from %s to %s after it", f.Sub(declared).Round(10*time.Millisecond),
			l.Sub(declared).Round(10*time.Millisecond))
	}
	first := checkFanout(t, c, ds, wantMail, wantText, notTold)
	checkFanoutRows(t, c, inc, first, map[herald.SubscriberChannel]int{
		herald.SubscriberEmail: len(wantMail), herald.SubscriberSMS: len(wantText), herald.SubscriberWebhook: len(wantHook)})
	// Webhooks: the declaration's update, and api-platform's change of
	// status, which has a fan-out of its own.
	hookDs, _ := webhookDeliveries(ds)
	change := checkHookDeliveries(t, hookDs, wantHook, first)
	checkFanoutRows(t, c, inc, change, map[herald.SubscriberChannel]int{herald.SubscriberWebhook: len(wantHook)})
	expect := hookExpect{incident: inc, api: c.componentID(compAPI), bodies: map[string]string{first: fanoutDeclaration}}
	copies := checkWebhooks(t, hooks, hookDs, hookNotes(t, wantHook, first, change), expect)
	reportFanout(t, c, ds)

	// The cluster goes on: a plain public update reaches the email and
	// webhook subscribers once more (an incident notification; no
	// component changes), and no one by text.
	textsBefore := len(c.twilio.Messages())
	const second = "Payments recover as the fix rolls out. Next update 11:00."
	composePublic(c, 0, inc, second)
	ds = waitSubscribersFinal(t, c, inc, 2*len(wantMail)+len(wantText)+3*len(wantHook), 60*time.Second)
	update := checkSecondUpdate(t, c, ds, first, second, wantMail, notTold)
	checkFanoutRows(t, c, inc, update, map[herald.SubscriberChannel]int{
		herald.SubscriberEmail: len(wantMail), herald.SubscriberWebhook: len(wantHook)})
	if n := len(c.twilio.Messages()); n != textsBefore {
		t.Errorf("%d texts sent for a plain update; SMS subscribers are told only of creation and resolution", n-textsBefore)
	}
	hookDs, _ = webhookDeliveries(ds)
	if ch := checkHookDeliveries(t, hookDs, wantHook, first, update); ch != change {
		t.Errorf("the webhook deliveries tell component change %s, before the update %s", ch, change)
	}
	expect.bodies[update] = second
	copies2 := checkWebhooks(t, hooks, hookDs, hookNotes(t, wantHook, first, change, update), expect)
	if copies2 != copies {
		t.Errorf("%d webhook copies after the second update, %d before: a copy without a kill", copies2, copies)
	}
	checkFanoutsOf(t, c, inc, first, change, update)
	t.Logf("the whole test took %s", time.Since(began).Round(100*time.Millisecond))
}

// checkHookDeliveries asserts the incident's webhook deliveries: for each
// webhook subscriber concerned, one of each of updates (the declaration's,
// then the later ones) and one of a component's change, no other; each
// sent, with the receiver's answer as vendor id (checkDeliveries). It
// returns the change's ref.
func checkHookDeliveries(t *testing.T, ds []herald.Delivery, want map[string]bool, updates ...string) string {
	t.Helper()
	refs := byRef(ds)
	var changes, others []string
	for ref := range refs {
		if _, ok := herald.ParseComponentChangeRef(ref); ok {
			changes = append(changes, ref)
		} else if !slices.Contains(updates, ref) {
			others = append(others, ref)
		}
	}
	if len(changes) != 1 {
		t.Fatalf("the incident's webhook deliveries tell component changes %v; want one, api-platform's", changes)
	}
	if len(others) != 0 {
		t.Errorf("the incident's webhook deliveries tell updates %v besides %v", others, updates)
	}
	for _, u := range updates {
		if len(refs[u]) == 0 {
			t.Errorf("no webhook delivery tells update %s", u)
		}
	}
	for ref, rds := range refs {
		recorded := checkDeliveries(t, rds, ref, map[herald.Channel]map[string]bool{herald.ChannelWebhook: want})
		for addr, id := range recorded[herald.ChannelWebhook] {
			if !strings.HasPrefix(id, "HTTP 2") {
				t.Errorf("webhook delivery of %s to %s recorded %q, want the receiver's 2xx", ref, addr, id)
			}
		}
	}
	return changes[0]
}

// checkFanoutsOf asserts that the incident's fan-outs are those of refs
// and no other (no component change but the declaration's).
func checkFanoutsOf(t *testing.T, c *cluster, inc string, refs ...string) {
	t.Helper()
	fs, err := c.st.Fanouts(context.Background(), inc)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if !slices.Contains(refs, f.UpdateID) {
			t.Errorf("a %s fan-out of %s (%d queued); the incident's fan-outs should tell only %v", f.Channel, f.UpdateID, f.Queued, refs)
		}
	}
}

// componentID is the id of the component with key.
func (c *cluster) componentID(key string) string {
	c.t.Helper()
	comps, err := c.st.Components(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	for _, comp := range comps {
		if comp.Key == key {
			return comp.ID
		}
	}
	c.t.Fatalf("no component %s", key)
	return ""
}

// fanoutBinary writes a script that runs bin with extra environment
// variables and returns its path: the cluster builds each replica's
// environment itself. The script execs bin, so the process the cluster
// starts, watches and kills is Herald itself.
func fanoutBinary(t *testing.T, bin string, env []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s\n", kv)
	}
	fmt.Fprintf(&b, "exec '%s' \"$@\"\n", bin)
	path := filepath.Join(t.TempDir(), "herald-fanout")
	if err := os.WriteFile(path, []byte(b.String()), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// seedSubscribers migrates the fresh database, stores the plan's
// components, and creates the subscribers through the store: confirmed
// email and SMS ones as the CSV import does, confirmed webhooks as the
// sign-up does (Subscribe, then ConfirmSubscriber: each with its own
// secret, registered with the receiver for its path), some of whom then
// leave, and some pending ones who never confirmed.
func seedSubscribers(t *testing.T, c *cluster, hooks *hookReceiver) []fanoutSub {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
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
	// Whom each follows, in turn: all components, api-platform, payments
	// only, dashboard and api-platform, dashboard only.
	following := [][]string{nil, {compAPI}, {compPayments}, {compDashboard, compAPI}, {compDashboard}}
	var subs []fanoutSub
	var rows []herald.CSVSubscriber
	add := func(ch herald.SubscriberChannel, n int, address func(int) string) {
		for i := range n {
			s := fanoutSub{channel: ch, address: address(i), comps: following[i%len(following)], state: herald.SubscriberConfirmed}
			subs = append(subs, s)
			rows = append(rows, herald.CSVSubscriber{Channel: string(ch), Address: s.address, Components: s.comps})
		}
	}
	add(herald.SubscriberEmail, fanoutEmailSubs, func(i int) string { return fmt.Sprintf("client%04d@clients.example", i) })
	add(herald.SubscriberSMS, fanoutSMSSubs, func(i int) string { return fmt.Sprintf("+27831%06d", i) })
	res, err := c.st.ImportSubscribers(ctx, rows, "fanout-test")
	if err != nil || res.Imported != len(rows) {
		t.Fatalf("import %d subscribers: imported %d, skipped %v, error %v", len(rows), res.Imported, res.Skipped, err)
	}
	comps, err := c.st.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, comp := range comps {
		ids[comp.Key] = comp.ID
	}
	// subscribeHook signs a webhook up, registers its secret for its path,
	// and returns it as stored.
	subscribeHook := func(path string, comps []string) (herald.SubscribeResult, string) {
		req := herald.SubscriptionRequest{Channel: herald.SubscriberWebhook, Address: hooks.URL + path,
			OwnerEmail: "owner" + strings.ReplaceAll(path, "/", "-") + "@clients.example", AllComponents: len(comps) == 0}
		for _, k := range comps {
			req.ComponentIDs = append(req.ComponentIDs, ids[k])
		}
		sr, err := c.st.Subscribe(ctx, req, time.Now())
		if err != nil {
			t.Fatalf("subscribe webhook %s: %v", path, err)
		}
		if sr.Subscriber.WebhookSecret == "" {
			t.Fatalf("webhook %s was given no secret", path)
		}
		hooks.recv.Secret(path, sr.Subscriber.WebhookSecret)
		return sr, sr.Subscriber.Address
	}
	for i := range fanoutWebhookSubs {
		comps := following[i%len(following)]
		path := fmt.Sprintf("/hook/%03d", i)
		if i%fanoutSlowHookEvery == 0 {
			hooks.slowPath(path) // following every component: told
		}
		sr, address := subscribeHook(path, comps)
		sub, err := c.st.ConfirmSubscriber(ctx, sr.Token)
		if err != nil || sub.State != herald.SubscriberConfirmed || sub.WebhookSecret != sr.Subscriber.WebhookSecret {
			t.Fatalf("confirm webhook %s: %s, %v (its secret kept: %v)", address, sub.State, err, sub.WebhookSecret == sr.Subscriber.WebhookSecret)
		}
		subs = append(subs, fanoutSub{channel: herald.SubscriberWebhook, address: address, comps: comps, state: herald.SubscriberConfirmed})
	}
	// Some who would be told leave before the incident.
	left := map[herald.SubscriberChannel]int{}
	for i := range subs {
		s := &subs[i]
		if s.told() && left[s.channel] < fanoutUnsubscribe {
			if _, err := c.st.UnsubscribeByAddress(ctx, s.channel, s.address); err != nil {
				t.Fatalf("unsubscribe %s: %v", s.address, err)
			}
			s.state = herald.SubscriberUnsubscribed
			left[s.channel]++
		}
	}
	// Some asked for everything and never confirmed.
	for i := range fanoutPending {
		for _, s := range []fanoutSub{
			{channel: herald.SubscriberEmail, address: fmt.Sprintf("pending%02d@clients.example", i)},
			{channel: herald.SubscriberSMS, address: fmt.Sprintf("+27832%06d", i)},
		} {
			if _, err := c.st.Subscribe(ctx, herald.SubscriptionRequest{Channel: s.channel, Address: s.address, AllComponents: true},
				time.Now()); err != nil {
				t.Fatalf("subscribe %s: %v", s.address, err)
			}
			s.state = herald.SubscriberPending
			subs = append(subs, s)
		}
		_, address := subscribeHook(fmt.Sprintf("/pending/%02d", i), nil)
		subs = append(subs, fanoutSub{channel: herald.SubscriberWebhook, address: address, state: herald.SubscriberPending})
	}
	counts, err := c.st.CountSubscribers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("subscribers stored in %s: %v", time.Since(start).Round(10*time.Millisecond), counts)
	return subs
}

// waitSubscribersFinal waits until the incident has n subscriber
// deliveries, every one final, and every fan-out done, and returns the
// incident's subscriber deliveries. It asks the database at most every
// 200 ms, to leave the two cores to the replicas.
func waitSubscribersFinal(t *testing.T, c *cluster, inc string, n int, within time.Duration) []herald.Delivery {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	var last time.Time
	var ok bool
	var saw string
	eventually(t, within, fmt.Sprintf("%d subscriber deliveries, all final, the fan-outs done", n), func() (bool, string) {
		if time.Since(last) < 200*time.Millisecond {
			return ok, saw
		}
		last = time.Now()
		counts, err := c.st.SubscriberDeliveryCounts(ctx, inc)
		if err != nil {
			return false, err.Error()
		}
		total, open := 0, map[string]int{}
		for ch, byState := range counts {
			for st, k := range byState {
				total += k
				if !st.Final() {
					open[string(ch)+"/"+string(st)] += k
				}
			}
		}
		fs, err := c.st.Fanouts(ctx, inc)
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, f := range fs {
			if !f.Done {
				running++
			}
		}
		ok = total == n && len(open) == 0 && running == 0
		saw = fmt.Sprintf("%d subscriber deliveries, not final: %v; %d of %d fan-outs running", total, open, running, len(fs))
		if total > n {
			t.Fatalf("%d subscriber deliveries, more than the %d expected: %v", total, n, counts)
		}
		return ok, saw
	})
	ds := subscriberDeliveries(t, c, inc)
	t.Logf("%d subscriber deliveries final %s after waiting began", len(ds), time.Since(start).Round(100*time.Millisecond))
	return ds
}

// subscriberDeliveries reads the incident's subscriber deliveries from the
// database: the store's Deliveries leaves them out (a fan-out's hundred
// thousand rows are no delivery log), and no store method lists them.
func subscriberDeliveries(t *testing.T, c *cluster, inc string) []herald.Delivery {
	t.Helper()
	_, dsn, err := config.SplitDatabaseURL(c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT id, channel, recipient, state, attempts, provider_id, last_error,
		COALESCE(subscriber_id, ''), COALESCE(update_id, '') FROM deliveries WHERE incident_id = $1 AND kind = 'subscriber' ORDER BY seq`, inc)
	if err != nil {
		t.Fatalf("subscriber deliveries: %v", err)
	}
	defer rows.Close()
	var out []herald.Delivery
	for rows.Next() {
		d := herald.Delivery{IncidentID: inc, Kind: herald.KindSubscriber}
		if err := rows.Scan(&d.ID, &d.Channel, &d.Recipient, &d.State, &d.Attempts, &d.ProviderID, &d.LastError,
			&d.SubscriberID, &d.UpdateID); err != nil {
			t.Fatalf("subscriber deliveries: %v", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("subscriber deliveries: %v", err)
	}
	return out
}

// checkFanout asserts the declaration's fan-out by email and SMS (not
// webhooks: checkHookDeliveries, checkWebhooks): one delivery per
// subscriber concerned, keyed (subscriber, update, channel) once, each
// sent; at Twilio one text per phone concerned, the one recorded; at the
// mail servers one Message-ID per address concerned, the one recorded (a
// copy of it is allowed, see below); nothing for anyone else. It returns
// the update the deliveries tell.
func checkFanout(t *testing.T, c *cluster, ds []herald.Delivery, wantMail, wantText, notTold map[string]bool) string {
	t.Helper()
	_, ds = webhookDeliveries(ds) // checkHookDeliveries' and checkWebhooks'
	updates := map[string]int{}
	for _, d := range ds {
		updates[d.UpdateID]++
	}
	if len(updates) != 1 {
		t.Fatalf("the declaration's subscriber deliveries tell %d updates, want 1: %v", len(updates), updates)
	}
	var update string
	for u := range updates {
		update = u
	}
	recorded := checkDeliveries(t, ds, update, map[herald.Channel]map[string]bool{
		herald.ChannelEmail: wantMail, herald.ChannelSMS: wantText})

	// SMS: Twilio reconciles, so each phone has exactly one text, the one
	// recorded, even when the kill interrupted it.
	texts := map[string][]string{}
	for _, m := range c.twilio.Messages() {
		texts[m.To] = append(texts[m.To], m.SID)
	}
	for phone := range wantText {
		got, rec := texts[phone], recorded[herald.ChannelSMS][phone]
		if len(got) != 1 || got[0] != rec {
			t.Errorf("%s received texts %v; its delivery recorded %q (want exactly that one)", phone, got, rec)
		}
	}
	for phone, sids := range texts {
		if !wantText[phone] {
			t.Errorf("%s received %d texts but is not concerned (a subscriber not concerned: %v)", phone, len(sids), notTold[phone])
		}
	}

	// Email: each address concerned has exactly one distinct Message-ID,
	// the one recorded. An email whose attempt was killed after the server
	// took it and before the answer came cannot be asked about: it is sent
	// again on the retry with the same Message-ID, which mail clients
	// collapse. Such copies are counted, not failed.
	mails := mailsByAddress(t, c)
	copies := 0
	for addr := range wantMail {
		got, rec := mails[addr], recorded[herald.ChannelEmail][addr]
		if len(got) != 1 || got[rec] == 0 {
			t.Errorf("%s received Message-IDs %v; its delivery recorded %q (want exactly that one)", addr, got, rec)
			continue
		}
		copies += got[rec] - 1
	}
	for addr, ids := range mails {
		if !wantMail[addr] {
			t.Errorf("%s received %d emails but is not concerned (a subscriber not concerned: %v)", addr, len(ids), notTold[addr])
		}
	}
	t.Logf("declaration: %d texts to %d phones; %d emails to %d addresses, %d of them copies with the same Message-ID",
		len(c.twilio.Messages()), len(texts), len(c.allMail()), len(mails), copies)
	return update
}

// checkSecondUpdate asserts the plain update's fan-out: one email per
// address concerned for it, with its text; each address now holds exactly
// two Message-IDs (the declaration's and this one's). It returns the
// update.
func checkSecondUpdate(t *testing.T, c *cluster, ds []herald.Delivery, first, text string, wantMail, notTold map[string]bool) string {
	t.Helper()
	var later []herald.Delivery
	_, ds = webhookDeliveries(ds) // checkHookDeliveries' and checkWebhooks'
	for _, d := range ds {
		if d.UpdateID != first {
			later = append(later, d)
		}
	}
	if len(later) == 0 {
		t.Fatal("no subscriber delivery for the second update")
	}
	update := later[0].UpdateID
	recorded := checkDeliveries(t, later, update, map[herald.Channel]map[string]bool{herald.ChannelEmail: wantMail})

	byID := map[string]smtptest.Message{}
	for _, m := range c.allMail() {
		byID[m.Header.Get("Message-Id")] = m
	}
	mails := mailsByAddress(t, c)
	for addr := range wantMail {
		rec := recorded[herald.ChannelEmail][addr]
		if got := mails[addr]; len(got) != 2 || got[rec] != 1 {
			t.Errorf("%s received Message-IDs %v; want two, the update's %q once", addr, got, rec)
			continue
		}
		body, err := byID[rec].Part("text/plain")
		if err != nil {
			t.Errorf("%s: the update's email %s: %v", addr, rec, err)
		} else if !strings.Contains(body, text) {
			t.Errorf("%s: the update's email %s does not tell the update %q:\n%s", addr, rec, text, body)
		}
	}
	for addr := range mails {
		if !wantMail[addr] {
			t.Errorf("%s received email but is not concerned (a subscriber not concerned: %v)", addr, notTold[addr])
		}
	}
	t.Logf("second update: %d emails for it, %d emails in all", len(later), len(c.allMail()))
	return update
}

// checkFanoutRows asserts the fan-outs of an update (or a component
// change): done, one per channel wanted (none on SMS for a plain update,
// webhooks only for a change), each having queued the number of
// subscribers concerned (a rescued fan-out job queues no page twice).
func checkFanoutRows(t *testing.T, c *cluster, inc, update string, want map[herald.SubscriberChannel]int) {
	t.Helper()
	fs, err := c.st.Fanouts(context.Background(), inc)
	if err != nil {
		t.Fatal(err)
	}
	got := map[herald.SubscriberChannel]int{}
	for _, f := range fs {
		if f.UpdateID != update {
			continue
		}
		if _, dup := got[f.Channel]; dup {
			t.Errorf("two %s fan-outs of update %s", f.Channel, update)
		}
		got[f.Channel] = f.Queued
		if !f.Done {
			t.Errorf("the %s fan-out of update %s is not done (cursor %s, %d queued)", f.Channel, update, f.Cursor, f.Queued)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("update %s's fan-outs queued %v subscribers by channel, want %v", update, got, want)
	}
}

// checkDeliveries asserts that ds, one update's subscriber deliveries,
// are exactly one per (subscriber, update, channel) and per recipient
// wanted on each channel, each sent with a vendor id, and returns the
// vendor ids by channel and recipient.
func checkDeliveries(t *testing.T, ds []herald.Delivery, update string, want map[herald.Channel]map[string]bool) map[herald.Channel]map[string]string {
	t.Helper()
	type key struct {
		subscriber, update string
		channel            herald.Channel
	}
	seen := map[key]string{}
	out := map[herald.Channel]map[string]string{}
	for ch := range want {
		out[ch] = map[string]string{}
	}
	for _, d := range ds {
		k := key{d.SubscriberID, d.UpdateID, d.Channel}
		if prev, dup := seen[k]; dup {
			t.Errorf("deliveries %s and %s both tell subscriber %s (%s) of update %s on %s", prev, d.ID, d.SubscriberID, d.Recipient, d.UpdateID, d.Channel)
		}
		seen[k] = d.ID
		switch {
		case d.UpdateID != update:
			t.Errorf("delivery %s to %s tells update %s, want %s", d.ID, d.Recipient, d.UpdateID, update)
		case !want[d.Channel][d.Recipient]:
			t.Errorf("delivery %s tells %s on %s, who is not concerned", d.ID, d.Recipient, d.Channel)
		case d.State != herald.DeliverySent:
			t.Errorf("delivery %s to %s on %s is %s after %d attempts: %s", d.ID, d.Recipient, d.Channel, d.State, d.Attempts, d.LastError)
		case d.ProviderID == "":
			t.Errorf("delivery %s to %s on %s was sent without a vendor id", d.ID, d.Recipient, d.Channel)
		}
		if prev, dup := out[d.Channel][d.Recipient]; dup {
			t.Errorf("%s has two deliveries of update %s on %s (vendor ids %q and %q)", d.Recipient, d.UpdateID, d.Channel, prev, d.ProviderID)
		}
		if out[d.Channel] != nil {
			out[d.Channel][d.Recipient] = d.ProviderID
		}
	}
	for ch, rs := range want {
		for r := range rs {
			if _, ok := out[ch][r]; !ok {
				t.Errorf("no %s delivery for %s, who is concerned", ch, r)
			}
		}
		if len(out[ch]) != len(rs) {
			t.Errorf("%d %s deliveries of update %s, want %d", len(out[ch]), ch, update, len(rs))
		}
	}
	return out
}

// mailsByAddress counts the emails at the mail servers by recipient and
// Message-ID.
func mailsByAddress(t *testing.T, c *cluster) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	for _, m := range c.allMail() {
		if len(m.To) != 1 {
			t.Errorf("an email to %v, want one recipient", m.To)
			continue
		}
		id := m.Header.Get("Message-Id")
		if id == "" {
			t.Errorf("an email to %s without a Message-ID", m.To[0])
		}
		if out[m.To[0]] == nil {
			out[m.To[0]] = map[string]int{}
		}
		out[m.To[0]][id]++
	}
	return out
}

// reportFanout logs what the kill cost: deliveries tried more than once,
// those found at Twilio after an interrupted attempt and recorded, and
// those sent again after one; and any error the replicas logged.
func reportFanout(t *testing.T, c *cluster, ds []herald.Delivery) {
	t.Helper()
	retried := map[herald.Channel]int{}
	for _, d := range ds {
		if d.Attempts > 1 {
			retried[d.Channel]++
		}
	}
	reconciled, resent := 0, 0
	for i, p := range c.procs {
		if p == nil {
			continue
		}
		for line := range strings.Lines(p.out.String()) {
			switch {
			case strings.Contains(line, "delivered by an interrupted attempt"):
				reconciled++
			case strings.Contains(line, "after an interrupted attempt"):
				resent++
			case strings.Contains(line, "level=ERROR"):
				// Not a failure by itself (the deliveries' states are
				// checked), but worth seeing.
			default:
				continue
			}
			t.Logf("replica %d: %s", i, strings.TrimSpace(line))
		}
	}
	t.Logf("%v subscriber deliveries took more than one attempt; %d found at Twilio after an interrupted attempt and recorded, "+
		"%d resumed and sent (again)", retried, reconciled, resent)
}

// composePublic posts a public update from the console of replica i,
// signing in first (the cluster's compose tells other audiences).
func composePublic(c *cluster, i int, inc, text string) {
	c.t.Helper()
	base := fmt.Sprintf("http://127.0.0.1:%d", c.ports[i])
	if u, _ := url.Parse(base); len(c.session.Jar.Cookies(u)) == 0 {
		resp, err := c.session.PostForm(base+"/console/sign-in", url.Values{"email": {adminEmail}, "password": {adminPassword}})
		if err != nil {
			c.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			c.t.Fatalf("sign in: %d", resp.StatusCode)
		}
	}
	resp, err := c.session.PostForm(base+"/console/incidents/"+inc+"/updates",
		url.Values{"main": {text}, "audience": {"public"}})
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/incidents/"+inc {
		c.t.Fatalf("compose: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// fanoutPlanYAML: three components and the public page; no audience by
// email or SMS, so every email and text at the fakes is a subscriber's.
const fanoutPlanYAML = `page:
  id: fanout
  name: Kredete
  url: https://status.kredete.example
  time_zone: UTC
objectives:
  rto: 4h
  rpo: 1h
  availability: 99.99%
components:
  - key: api-platform
    name: API Platform
    description: Public and partner-facing REST APIs.
  - key: payments
    name: Payments
    description: Card and bank payments.
  - key: dashboard
    name: Merchant Dashboard
    description: The merchants' web dashboard.
audiences:
  - key: engineering
    name: Engineering Team
    channels: [slack]
    description: "Slack #incident-response"
    cadence: real_time
    recipients:
      slack_channel: "#incident-response"
  - key: public
    name: Partners and clients
    channels: [status_page]
    description: Status page
    cadence: every 15m
`
