package main

// The fault test of issue 4's promise: three Herald processes on one
// PostgreSQL send each message once; a process killed with SIGKILL in the
// middle of a fan-out loses nothing (the restart or another replica
// finishes it) and sends nothing twice.
//
// The herald binary is built once and run three times on a fresh database,
// against the local vendor servers running in this test process (Slack,
// Twilio, and one SMTP server per replica). Each replica reaches Slack and
// Twilio through its own small proxy that labels its requests, so the test
// knows which process a request came from.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/email/smtptest"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/comms/sms/twiliotest"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

const (
	replicas      = 3
	executives    = 50 // email addresses, and as many phones
	twilioSID     = "AC0123456789abcdef0123456789abcdef"
	twilioToken   = "t0kenForTheTwilioFake0123456789a"
	twilioFrom    = "+15017122661"
	adminToken    = "replicas-test-admin-token-0123456789"
	adminEmail    = "admin@kredete.example"
	adminPassword = "correct horse battery staple"
	replicaHeader = "X-Test-Replica"
	// The queue's timing: a job held by a killed process is retried
	// RescueAfter after it started, at River's next rescue pass (every
	// 30 s, run by the elected leader).
	jobTimeout  = "6s"
	rescueAfter = "7s"
)

// TestReplicasExactlyOnce runs the two kill scenarios side by side, each on
// its own database, fakes and three processes.
func TestReplicasExactlyOnce(t *testing.T) {
	bin := buildHerald(t)
	t.Run("killed mid-fan-out and restarted", func(t *testing.T) {
		t.Parallel()
		killMidFanout(t, bin)
	})
	t.Run("killed while the vendors hold its requests", func(t *testing.T) {
		t.Parallel()
		killWhileHeld(t, bin)
	})
}

// killMidFanout: while two updates fan out to 50 emails and 50 phones each,
// the replica with the most requests in flight is killed; it is restarted
// at once.
func killMidFanout(t *testing.T, bin string) {
	c := newCluster(t, bin)
	c.startAll()
	// Slow vendors, so that a fan-out takes seconds: each waits before
	// acting on a request, and again between accepting a message and
	// answering (where a kill leaves a message sent but not recorded).
	slow := func() { time.Sleep(120 * time.Millisecond) }
	c.slack.SetLatency(120 * time.Millisecond)
	c.slack.SetPostHook(func(slacktest.Message, *http.Request) { slow() })
	c.twilio.SetLatency(120 * time.Millisecond)
	c.twilio.SetCreateHook(func(twiliotest.Message, *http.Request) { slow() })
	for _, s := range c.smtp {
		s.SetLatency(120 * time.Millisecond)
		s.SetDataHook(func(smtptest.Message) { slow() })
	}
	inc := c.declare(0)
	c.waitFinal(inc, 1, 20*time.Second) // the thread parent, so that replies go in it
	c.compose(0, inc, "Card payments fail for 30% of customers. Next update 10:30.")
	c.compose(0, inc, "The cause is a bad deploy; rolling back. Next update 11:00.")

	total := 2 * 2 * executives
	var sentAtKill int
	eventually(t, 30*time.Second, "some but not all executives' messages at the vendors", func() (bool, string) {
		sentAtKill = c.execMessages()
		return sentAtKill >= total/4, fmt.Sprintf("%d of %d", sentAtKill, total)
	})
	victim, inflight := c.busiest()
	c.kill(victim)
	sentAtKill = c.execMessages()
	if sentAtKill >= total {
		t.Fatalf("the fan-out was over (%d of %d messages) when replica %d was killed", sentAtKill, total, victim)
	}
	t.Logf("killed replica %d (pid %d) with %d requests in flight, %d of %d messages at the vendors",
		victim, c.procs[victim].pid, inflight, sentAtKill, total)
	c.start(victim)
	c.waitReady(victim)

	ds := c.waitFinal(inc, 0, 75*time.Second)
	c.check(inc, ds)
	c.report(ds)
}

// killWhileHeld hits the hard window on purpose: Slack, Twilio and SMTP
// each accept a message from one replica and hold the answer; that replica
// is killed before it can record what the vendors accepted, and is not
// restarted. The other two finish its work, without sending those three
// again where the vendor can be asked (Slack, Twilio).
func killWhileHeld(t *testing.T, bin string) {
	c := newCluster(t, bin)
	c.startAll()
	c.twilio.SetLatency(100 * time.Millisecond)
	for _, s := range c.smtp {
		s.SetLatency(100 * time.Millisecond)
	}
	inc := c.declare(0)
	c.waitFinal(inc, 0, 20*time.Second) // the declaration's Slack messages, before the hooks

	// The victim's text and email are held while its Slack reply is;
	// bounded well within the job timeout, after which the process would
	// give up the held Slack request on its own.
	h := c.holdOneOfEach(inc, 3*time.Second)
	victim := h.victim()
	held := h.snapshot()
	c.kill(victim)
	h.release()
	t.Logf("killed replica %d (pid %d) while the vendors held its requests: %v", victim, c.procs[victim].pid, held)

	ds := c.waitFinal(inc, 0, 75*time.Second)
	c.check(inc, ds)
	c.report(ds)

	// The held Slack reply and text were recorded with the ids the vendors
	// gave them when the victim died, not sent again.
	byProvider := map[string]herald.Delivery{}
	for _, d := range ds {
		byProvider[d.ProviderID] = d
	}
	for _, kind := range []string{"slack", "sms"} {
		if d, ok := byProvider[held[kind]]; !ok || d.State != herald.DeliverySent {
			t.Errorf("the %s message held when the victim died (%s) is not a sent delivery's", kind, held[kind])
		} else if d.Attempts < 2 {
			t.Errorf("the held %s message's delivery took %d attempt(s); the victim's should have been interrupted", kind, d.Attempts)
		}
	}
	// Email cannot be asked: the held email was sent again, with the same
	// Message-ID.
	if id := held["email"]; id != "" {
		copies := 0
		for _, m := range c.allMail() {
			if m.Header.Get("Message-Id") == id {
				copies++
			}
		}
		t.Logf("the email held when the victim died (%s) arrived %d times, all with that Message-ID", id, copies)
	}
}

// holdOneOfEach makes Slack, Twilio and the mail relays hold the answer to
// the first message of each from one replica (the victim: the sender of
// the first Slack reply), composes two updates to engineering and the
// executives, and waits until all three are held (the text and the email
// within after the Slack reply). The holds are released at the end of the
// test at the latest.
func (c *cluster) holdOneOfEach(inc string, within time.Duration) *holds {
	t := c.t
	t.Helper()
	h := newHolds()
	c.slack.SetPostHook(func(m slacktest.Message, r *http.Request) {
		// The first reply posted picks the victim: its sender.
		if m.ThreadTS != "" {
			h.hold("slack", replicaOf(r), m.TS, true)
		}
	})
	c.twilio.SetCreateHook(func(m twiliotest.Message, r *http.Request) {
		h.hold("sms", replicaOf(r), m.SID, false)
	})
	for i, s := range c.smtp {
		s.SetDataHook(func(m smtptest.Message) { h.hold("email", i, m.Header.Get("Message-Id"), false) })
	}
	t.Cleanup(h.release) // never leave a vendor handler blocked

	c.compose(0, inc, "Card payments fail for 30% of customers. Next update 10:30.")
	c.compose(0, inc, "The cause is a bad deploy; rolling back. Next update 11:00.")
	select {
	case <-h.victimChosen:
	case <-time.After(30 * time.Second):
		t.Fatal("no Slack reply was posted within 30 s")
	}
	eventually(t, within, "a text and an email held from the victim", func() (bool, string) {
		return h.count() == 3, fmt.Sprintf("%v", h.snapshot())
	})
	return h
}

// holds holds the first message of each channel from the victim.
type holds struct {
	mu      sync.Mutex
	chosen  int // the victim, -1 until chosen
	ids     map[string]string
	gate    chan struct{}
	once    sync.Once
	victimC chan struct{}
	// victimChosen is closed when the first Slack reply is held.
	victimChosen <-chan struct{}
}

func newHolds() *holds {
	h := &holds{chosen: -1, ids: map[string]string{}, gate: make(chan struct{}), victimC: make(chan struct{})}
	h.victimChosen = h.victimC
	return h
}

// hold blocks the calling vendor handler when it is the first message of
// channel from the victim (picks tells whether it may pick the victim).
func (h *holds) hold(channel string, replica int, id string, picks bool) {
	h.mu.Lock()
	if h.chosen < 0 && picks {
		h.chosen = replica
		close(h.victimC)
	}
	if h.chosen < 0 || replica != h.chosen || h.ids[channel] != "" {
		h.mu.Unlock()
		return
	}
	h.ids[channel] = id
	h.mu.Unlock()
	<-h.gate
}

func (h *holds) release() { h.once.Do(func() { close(h.gate) }) }

func (h *holds) victim() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.chosen
}

func (h *holds) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

func (h *holds) snapshot() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for k, v := range h.ids {
		out[k] = v
	}
	return out
}

func replicaOf(r *http.Request) int {
	n, err := strconv.Atoi(r.Header.Get(replicaHeader))
	if err != nil {
		return -1
	}
	return n
}

// cluster is one scenario's world: a database, the vendor fakes, and the
// replicas.
type cluster struct {
	t        *testing.T
	bin      string
	dbURL    string
	plan     string
	st       *store.Store // the test's own handle, to watch the deliveries
	slack    *slacktest.Server
	slackCh  string
	twilio   *twiliotest.Server
	smtp     [replicas]*smtptest.Server
	slackAPI [replicas]string // each replica's proxy to the fake Slack
	twilioAP [replicas]string // and to the fake Twilio
	inflight [replicas]atomic.Int32
	ports    [replicas]int
	procs    [replicas]*process
	emails   []string
	phones   []string
	session  *http.Client
	extraEnv []string // more environment for every replica
}

type process struct {
	pid  int
	out  *syncBuffer
	done chan struct{}
	err  error
}

func newCluster(t *testing.T, bin string) *cluster {
	// The database first: its cleanup (the drop) then runs after the
	// processes are killed.
	return newClusterOn(t, bin, storetest.URL(t, store.Postgres), executives)
}

// newClusterOn makes a cluster on the database at dbURL (created before,
// so that it outlives the processes) with n executives, each with an
// email address and a phone.
func newClusterOn(t *testing.T, bin, dbURL string, n int) *cluster {
	c := &cluster{t: t, bin: bin, dbURL: dbURL}
	c.slack = slacktest.New(t)
	c.slackCh = c.slack.AddChannel("incident-response")
	c.twilio = twiliotest.New(t, twilioSID, twilioToken)
	quiet := log.New(io.Discard, "", 0)
	for i := range replicas {
		c.smtp[i] = smtptest.Start(t)
		c.slackAPI[i] = c.proxy(i, strings.TrimSuffix(c.slack.URL(), "/api/"), quiet) + "/api/"
		c.twilioAP[i] = c.proxy(i, c.twilio.URL, quiet)
		c.ports[i] = freePort(t)
	}
	for i := range n {
		c.emails = append(c.emails, fmt.Sprintf("exec%02d@kredete.example", i))
		c.phones = append(c.phones, fmt.Sprintf("+278200001%02d", i))
	}
	c.plan = filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(c.plan, []byte(planYAML(c.emails, c.phones)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, dsn, err := config.SplitDatabaseURL(c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	// The first replica migrates; this handle only reads.
	if c.st, err = store.Open(ctx, store.Postgres, dsn, store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.st.Close)
	jar, _ := cookiejar.New(nil)
	c.session = &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range c.procs {
				if p != nil {
					t.Logf("replica %d output (last 60 lines):\n%s", i, p.out.tail(60))
				}
			}
		}
	})
	return c
}

// proxy forwards a replica's requests to a fake, labelled with the
// replica's number and counted while in flight.
func (c *cluster) proxy(i int, target string, quiet *log.Logger) string {
	u, err := url.Parse(target)
	if err != nil {
		c.t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Header.Set(replicaHeader, strconv.Itoa(i))
		},
		ErrorLog: quiet, // a killed replica's requests end in "context canceled"
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.inflight[i].Add(1)
		defer c.inflight[i].Add(-1)
		rp.ServeHTTP(w, r)
	}), ErrorLog: quiet}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck
	c.t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func (c *cluster) env(i int) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", c.ports[i])
	return append(append(env,
		"HERALD_ADDR="+addr,
		"HERALD_PUBLIC_URL=http://"+addr,
		"HERALD_DATABASE_URL="+c.dbURL,
		"HERALD_CONFIG="+c.plan,
		"HERALD_ADMIN_TOKEN="+adminToken,
		"HERALD_ADMIN_EMAIL="+adminEmail,
		"HERALD_ADMIN_PASSWORD="+adminPassword,
		"HERALD_LOG_LEVEL=info",
		"HERALD_QUEUE_JOB_TIMEOUT="+jobTimeout,
		"HERALD_QUEUE_RESCUE_AFTER="+rescueAfter,
		"HERALD_SLACK_TOKEN="+slacktest.DefaultToken,
		"HERALD_SLACK_API_URL="+c.slackAPI[i],
		"HERALD_SMTP_URL="+c.smtp[i].URL(),
		"HERALD_TWILIO_ACCOUNT_SID="+twilioSID,
		"HERALD_TWILIO_AUTH_TOKEN="+twilioToken,
		"HERALD_TWILIO_FROM="+twilioFrom,
		"HERALD_TWILIO_API_URL="+c.twilioAP[i],
	), c.extraEnv...)
}

// startAll starts the first replica (it migrates and creates the admin),
// then the other two together.
func (c *cluster) startAll() {
	c.start(0)
	c.waitReady(0)
	for i := 1; i < replicas; i++ {
		c.start(i)
	}
	for i := 1; i < replicas; i++ {
		c.waitReady(i)
	}
}

func (c *cluster) start(i int) {
	c.t.Helper()
	cmd := exec.Command(c.bin)
	cmd.Env = c.env(i)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start replica %d: %v", i, err)
	}
	p := &process{pid: cmd.Process.Pid, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	c.procs[i] = p
	c.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// waitReady polls the replica's /readyz until it answers 200.
func (c *cluster) waitReady(i int) {
	c.t.Helper()
	p := c.procs[i]
	u := fmt.Sprintf("http://127.0.0.1:%d/readyz", c.ports[i])
	eventually(c.t, 30*time.Second, fmt.Sprintf("replica %d ready", i), func() (bool, string) {
		select {
		case <-p.done:
			c.t.Fatalf("replica %d exited while starting: %v\n%s", i, p.err, p.out.tail(40))
		default:
		}
		resp, err := http.Get(u)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// kill sends SIGKILL to the replica and waits until it is gone.
func (c *cluster) kill(i int) {
	c.t.Helper()
	p := c.procs[i]
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill replica %d: %v", i, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("replica %d (pid %d) still runs 10 s after SIGKILL", i, p.pid)
	}
}

// busiest is the replica with the most vendor requests in flight.
func (c *cluster) busiest() (int, int32) {
	best, n := 0, c.inflight[0].Load()
	for i := 1; i < replicas; i++ {
		if m := c.inflight[i].Load(); m > n {
			best, n = i, m
		}
	}
	return best, n
}

// declare declares an incident through a replica's admin API and returns
// its id.
func (c *cluster) declare(i int) string {
	c.t.Helper()
	body := `{"name":"Card payments failing","impact":"major","body":"We are investigating failed card payments.",
		"components":[{"id":"api-platform","status":"partial_outage"}]}`
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/admin/api/incidents", c.ports[i]), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	id, ok := strings.CutPrefix(resp.Header.Get("Location"), "/incidents/")
	if resp.StatusCode != http.StatusCreated || !ok {
		c.t.Fatalf("declare: %d %s", resp.StatusCode, b)
	}
	return id
}

// compose posts an update to engineering and the executives from the
// console of replica 0, signing in first: the console's composer is what
// records a message to an audience and fans it out.
func (c *cluster) compose(i int, inc, text string) {
	c.t.Helper()
	base := fmt.Sprintf("http://127.0.0.1:%d", c.ports[i])
	if u, _ := url.Parse(base); len(c.session.Jar.Cookies(u)) == 0 {
		resp, err := c.session.PostForm(base+"/console/sign-in", url.Values{"email": {adminEmail}, "password": {adminPassword}})
		if err != nil {
			c.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			c.t.Fatalf("sign in: %d %s", resp.StatusCode, b)
		}
	}
	resp, err := c.session.PostForm(base+"/console/incidents/"+inc+"/updates",
		url.Values{"main": {text}, "audience": {"engineering", "executives"}})
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/incidents/"+inc {
		c.t.Fatalf("compose: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), b)
	}
}

// waitFinal polls the database until the incident has at least n
// deliveries and every one is final, and returns them.
func (c *cluster) waitFinal(inc string, n int, within time.Duration) []herald.Delivery {
	c.t.Helper()
	var ds []herald.Delivery
	start := time.Now()
	eventually(c.t, within, "every delivery final", func() (bool, string) {
		var err error
		if ds, err = c.st.Deliveries(context.Background(), inc, 100000); err != nil {
			return false, err.Error()
		}
		open := map[herald.DeliveryState]int{}
		for _, d := range ds {
			if !d.State.Final() {
				open[d.State]++
			}
		}
		return len(ds) >= n && len(open) == 0, fmt.Sprintf("%d deliveries, not final: %v", len(ds), open)
	})
	c.t.Logf("%d deliveries final %s after waiting began", len(ds), time.Since(start).Round(100*time.Millisecond))
	return ds
}

// execMessages counts the executives' emails and texts at the vendors.
func (c *cluster) execMessages() int {
	return len(c.twilio.Messages()) + len(c.allMail())
}

func (c *cluster) allMail() []smtptest.Message {
	var out []smtptest.Message
	for _, s := range c.smtp {
		out = append(out, s.Messages()...)
	}
	return out
}

// check asserts the promise: every delivery sent (none failed), and each
// message at its vendor exactly once: one thread parent and each reply once
// in Slack (counted by the delivery id in the message metadata), one text
// per phone per message, one email per address per message (counted by
// Message-ID).
func (c *cluster) check(inc string, ds []herald.Delivery) {
	t := c.t
	t.Helper()
	want := map[herald.Channel]int{}
	for _, d := range ds {
		want[d.Channel]++
		switch {
		case d.State == herald.DeliveryFailed:
			t.Errorf("failed: %s %s → %s: %s (attempts %d)", d.Channel, d.Kind, d.Recipient, d.LastError, d.Attempts)
		case d.State == herald.DeliverySkipped && d.Kind != herald.KindEdit:
			t.Errorf("skipped: %s %s → %s: %s", d.Channel, d.Kind, d.Recipient, d.LastError)
		case d.State == herald.DeliverySent && d.ProviderID == "":
			t.Errorf("sent without a vendor id: %s %s → %s", d.Channel, d.Kind, d.Recipient)
		}
	}
	if want[herald.ChannelEmail] != 2*executives || want[herald.ChannelSMS] != 2*executives {
		t.Errorf("%d email and %d SMS deliveries, want %d each", want[herald.ChannelEmail], want[herald.ChannelSMS], 2*executives)
	}

	// Slack: every posted message names its delivery; each delivery that
	// posts (the parent, the replies) is in the channel exactly once, as
	// recorded; replies are in the parent's thread.
	posted := map[string][]slacktest.Message{}
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
		posted[meta.EventPayload.DeliveryID] = append(posted[meta.EventPayload.DeliveryID], m)
	}
	parentTS := ""
	slackPosts := 0
	for _, d := range ds {
		if d.Channel != herald.ChannelSlack || d.Kind == herald.KindEdit {
			continue
		}
		slackPosts++
		ms := posted[d.ID]
		if len(ms) != 1 {
			t.Errorf("Slack %s delivery %s is in the channel %d times, want once", d.Kind, d.ID, len(ms))
			continue
		}
		if ms[0].TS != d.ProviderID {
			t.Errorf("Slack %s delivery %s recorded ts %s, the channel has %s", d.Kind, d.ID, d.ProviderID, ms[0].TS)
		}
		if d.Kind == herald.KindThread {
			parentTS = ms[0].TS
		}
	}
	if len(posted) != slackPosts {
		t.Errorf("Slack holds messages of %d deliveries, the incident has %d that post", len(posted), slackPosts)
	}
	for _, ms := range posted {
		if m := ms[0]; m.TS != parentTS && m.ThreadTS != parentTS {
			t.Errorf("a reply outside the incident's thread %s: %+v", parentTS, m)
		}
	}

	// SMS: per phone, Twilio's messages are exactly the recorded ones.
	texts := map[string][]string{}
	for _, m := range c.twilio.Messages() {
		texts[m.To] = append(texts[m.To], m.SID)
	}
	recorded := map[string][]string{}
	for _, d := range ds {
		if d.Channel == herald.ChannelSMS {
			recorded[d.Recipient] = append(recorded[d.Recipient], d.ProviderID)
		}
	}
	for _, phone := range c.phones {
		got, rec := texts[phone], recorded[phone]
		slices.Sort(got)
		slices.Sort(rec)
		if len(got) != 2 || !slices.Equal(got, rec) {
			t.Errorf("%s received texts %v; the deliveries recorded %v (want 2, the same)", phone, got, rec)
		}
	}
	if len(texts) != executives {
		t.Errorf("texts went to %d numbers, want %d", len(texts), executives)
	}

	// Email: per address, the distinct Message-IDs are exactly the
	// recorded ones.
	mails := map[string]map[string]int{}
	for _, m := range c.allMail() {
		if len(m.To) != 1 {
			t.Errorf("an email to %v", m.To)
			continue
		}
		if mails[m.To[0]] == nil {
			mails[m.To[0]] = map[string]int{}
		}
		mails[m.To[0]][m.Header.Get("Message-Id")]++
	}
	for _, addr := range c.emails {
		var rec []string
		for _, d := range ds {
			if d.Channel == herald.ChannelEmail && d.Recipient == addr {
				rec = append(rec, d.ProviderID)
			}
		}
		var got []string
		for id := range mails[addr] {
			got = append(got, id)
		}
		slices.Sort(got)
		slices.Sort(rec)
		if len(got) != 2 || !slices.Equal(got, rec) {
			t.Errorf("%s received Message-IDs %v; the deliveries recorded %v (want 2, the same)", addr, got, rec)
		}
	}
	if len(mails) != executives {
		t.Errorf("emails went to %d addresses, want %d", len(mails), executives)
	}
}

// report logs what the kill cost: deliveries tried more than once, those
// found at the vendor after an interrupted attempt, and email copies (same
// Message-ID).
func (c *cluster) report(ds []herald.Delivery) {
	retried := 0
	for _, d := range ds {
		if d.Attempts > 1 {
			retried++
		}
	}
	reconciled := 0
	for i, p := range c.procs {
		for line := range strings.Lines(p.out.String()) {
			if strings.Contains(line, "delivered by an interrupted attempt") {
				reconciled++
				c.t.Logf("replica %d: %s", i, strings.TrimSpace(line))
			}
		}
	}
	copies := len(c.allMail())
	c.t.Logf("%d deliveries took more than one attempt; %d found at the vendor after an interrupted attempt and recorded; "+
		"%d emails received for %d email deliveries", retried, reconciled, copies, 2*executives)
}

// buildHerald builds the herald binary into a temporary directory.
func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built herald in %s", time.Since(start).Round(100*time.Millisecond))
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// eventually polls cond every 10 ms until it holds, or fails the test
// after within with what it last saw.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last saw: %s", within, what, saw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func planYAML(emails, phones []string) string {
	return `page:
  id: replicas
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
audiences:
  - key: engineering
    name: Engineering Team
    channels: [slack]
    description: "Slack #incident-response"
    cadence: real_time
    recipients:
      slack_channel: "#incident-response"
  - key: executives
    name: Executive Team
    channels: [email, sms]
    description: Email + SMS
    cadence: every 30m
    recipients:
      emails: ["` + strings.Join(emails, `", "`) + `"]
      phones: ["` + strings.Join(phones, `", "`) + `"]
  - key: public
    name: Partners and clients
    channels: [status_page]
    description: Status page
    cadence: every 15m
`
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
