package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/comms/email/smtptest"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/comms/slack"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/sms/twiliotest"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// The Twilio account of the fake, and Herald's sender number.
const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "t0kenForTheTwilioFake0123456789a"
	fromNumber = "+15017122661"
)

// The commander every incident is declared with.
const (
	bossEmail = "ada@kredete.example"
	bossPhone = "+27820000099"
	bossName  = "Ada Obi"
)

// forEachDialect runs a test on a fresh SQLite and a fresh PostgreSQL
// database.
func forEachDialect(t *testing.T, f func(t *testing.T, dialect string)) {
	t.Helper()
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, d)
		})
	}
}

// clock is a settable clock shared by the store and the engine; without
// fake it reads the real time.
type clock struct {
	mu   sync.Mutex
	fake bool
	now  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fake {
		return time.Now()
	}
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fake, c.now = true, t
}

// logBuffer collects the engine's and the queue's logs; they are printed
// only when the test fails (never through t.Log, which panics once the test
// is over and a worker still logs).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one test's world: a database, the three vendor fakes, the real
// adapters pointed at them, and a commander.
type env struct {
	t       testing.TB
	ctx     context.Context
	dialect string
	dsn     string
	plan    herald.Plan
	clock   *clock
	log     *slog.Logger

	st      *store.Store
	slack   *slacktest.Server
	slackCh string // the thread channel's id; "" when the fake lacks it
	smtp    *smtptest.Server
	twilio  *twiliotest.Server
	chans   map[herald.Channel]comms.Channel
	boss    herald.User
	bossDM  string      // the commander's Slack user id
	metrics *metricsLog // what the test's engines report
}

// metricsLog records what engines report through engine.Metrics.
type metricsLog struct {
	mu      sync.Mutex
	settled map[string]int // by "channel/result"
	fired   []firedStep
}

type firedStep struct {
	Kind herald.ReminderKind
	Late time.Duration
}

func (m *metricsLog) Settled(ch herald.Channel, result herald.DeliveryState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.settled == nil {
		m.settled = map[string]int{}
	}
	m.settled[string(ch)+"/"+string(result)]++
}

func (m *metricsLog) Fired(kind herald.ReminderKind, late time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fired = append(m.fired, firedStep{kind, late})
}

// Settlements is a copy of the attempts counted so far, by "channel/result".
func (m *metricsLog) Settlements() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.settled)
}

// Steps is a copy of the clock steps reported so far.
func (m *metricsLog) Steps() []firedStep {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.fired)
}

type envOptions struct {
	plan      func(*herald.Plan) // edits the test plan
	noChannel bool               // the fake Slack has no #incident-response
	clock     time.Time          // a fake clock starting here; zero: the real time
}

// testPlan is the default Kredete plan with the executives' recipients set.
func testPlan(t testing.TB) herald.Plan {
	t.Helper()
	p, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Audiences {
		if p.Audiences[i].Key == "executives" {
			p.Audiences[i].Recipients.Emails = []string{"ceo@kredete.example", "cfo@kredete.example"}
			p.Audiences[i].Recipients.Phones = []string{"+27820000001", "+27820000002"}
		}
	}
	return p
}

// setExecutives replaces the executives' recipients.
func setExecutives(emails, phones []string) func(*herald.Plan) {
	return func(p *herald.Plan) {
		for i := range p.Audiences {
			if p.Audiences[i].Key == "executives" {
				p.Audiences[i].Recipients.Emails = emails
				p.Audiences[i].Recipients.Phones = phones
			}
		}
	}
}

func newEnv(t testing.TB, dialect string, o envOptions) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), dialect: dialect, plan: testPlan(t), clock: &clock{}, metrics: &metricsLog{}}
	if o.plan != nil {
		o.plan(&e.plan)
	}
	if !o.clock.IsZero() {
		e.clock.Set(o.clock)
	}
	logs := &logBuffer{}
	e.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("engine and queue logs:\n%s", logs.String())
		}
	})

	// The fakes first: their cleanups then run after the queues stop.
	e.slack = slacktest.New(t)
	if !o.noChannel {
		e.slackCh = e.slack.AddChannel("incident-response")
	}
	e.bossDM = e.slack.AddUser(bossEmail, bossName)
	e.smtp = smtptest.Start(t)
	e.twilio = twiliotest.New(t, accountSID, authToken)

	ec, err := email.ParseURL(e.smtp.URL())
	if err != nil {
		t.Fatal(err)
	}
	mail, err := email.New(ec)
	if err != nil {
		t.Fatal(err)
	}
	text, err := sms.New(sms.Config{AccountSID: accountSID, AuthToken: authToken, From: fromNumber, APIURL: e.twilio.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.chans = map[herald.Channel]comms.Channel{
		herald.ChannelSlack: slack.New(e.slack.Token(), slack.Options{APIURL: e.slack.URL()}),
		herald.ChannelEmail: mail,
		herald.ChannelSMS:   text,
	}

	_, e.dsn, err = config.SplitDatabaseURL(storetest.URL(t, dialect))
	if err != nil {
		t.Fatal(err)
	}
	e.st = e.openStore()
	if err := e.st.Migrate(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SyncComponents(e.ctx, e.plan.Groups, e.plan.Components); err != nil {
		t.Fatal(err)
	}
	e.boss, err = e.st.CreateUser(e.ctx, herald.NewUser{Email: bossEmail, Name: bossName, Phone: bossPhone,
		Role: herald.RoleCommander, Password: "correct horse battery"}, "x", "test")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// openStore opens another handle on the test's database, as another
// replica would, with deliveries enabled.
func (e *env) openStore() *store.Store {
	e.t.Helper()
	st, err := store.Open(e.ctx, e.dialect, e.dsn, store.Options{Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(st.Close)
	st.EnableDeliveries(e.plan)
	return st
}

// engine makes an engine on a store handle.
func (e *env) engine(st engine.Store, channels map[herald.Channel]comms.Channel) *engine.Engine {
	if channels == nil {
		channels = e.chans
	}
	return engine.New(engine.Options{Plan: e.plan, Store: st, Channels: channels, Now: e.clock.Now,
		Logger: e.log.With("dialect", e.dialect), Metrics: e.metrics})
}

// start runs the delivery workers of eng on st until the test ends.
func (e *env) start(st *store.Store, eng *engine.Engine) *store.Queue {
	e.t.Helper()
	q, err := st.StartQueue(context.Background(), eng.Deliver, store.QueueOptions{PollInterval: 50 * time.Millisecond,
		Logger: e.log.With("component", "queue")})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { stopQueue(e.t, q) })
	return q
}

func stopQueue(t testing.TB, q *store.Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := q.Stop(ctx); err != nil {
		t.Errorf("stop queue: %v", err)
	}
}

// declare declares a major incident commanded by the boss, telling the
// public page and engineering.
func (e *env) declare(name string) herald.Incident {
	e.t.Helper()
	in, err := e.st.DeclareIncident(e.ctx, herald.Declaration{Name: name, Impact: herald.ImpactMajor,
		Body: "We are investigating failed payments."}, e.boss.ID, []string{"public", "engineering"}, "Ada Obi")
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

func (e *env) compose(id string, c herald.Composition) herald.Incident {
	e.t.Helper()
	in, err := e.st.Compose(e.ctx, id, 0, c, e.plan, "Ada Obi")
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

func (e *env) component(key string) herald.Component {
	e.t.Helper()
	comps, err := e.st.Components(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range comps {
		if c.Key == key {
			return c
		}
	}
	e.t.Fatalf("no component %q", key)
	return herald.Component{}
}

func (e *env) deliveries(incidentID string) []herald.Delivery {
	e.t.Helper()
	ds, err := e.st.Deliveries(e.ctx, incidentID, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Reverse(ds) // oldest first
	return ds
}

// eventually polls cond every 20 ms for up to 20 s; cond says whether it
// holds and, if not, what it saw.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last saw: %s", what, saw)
		}
		<-tick.C
	}
}

// settle waits until the incident has at least n deliveries and every one
// of them is final, and returns them oldest first.
func (e *env) settle(incidentID string, n int) []herald.Delivery {
	e.t.Helper()
	var ds []herald.Delivery
	eventually(e.t, fmt.Sprintf("%d final deliveries", n), func() (bool, string) {
		ds = e.deliveries(incidentID)
		if len(ds) < n {
			return false, describe(ds)
		}
		for _, d := range ds {
			if !d.State.Final() {
				return false, describe(ds)
			}
		}
		return true, ""
	})
	return ds
}

func describe(ds []herald.Delivery) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d deliveries:", len(ds))
	for _, d := range ds {
		fmt.Fprintf(&b, "\n  #%d %s %s %s → %s: %s (attempts %d) %s", d.Seq, d.Audience, d.Channel, d.Kind, d.Recipient,
			d.State, d.Attempts, d.LastError)
	}
	return b.String()
}

func filter(ds []herald.Delivery, keep func(herald.Delivery) bool) []herald.Delivery {
	var out []herald.Delivery
	for _, d := range ds {
		if keep(d) {
			out = append(out, d)
		}
	}
	return out
}

func ofKind(k herald.DeliveryKind) func(herald.Delivery) bool {
	return func(d herald.Delivery) bool { return d.Kind == k }
}

// timedChannel records when each delivery reached the channel.
type timedChannel struct {
	comms.Channel
	mu    sync.Mutex
	calls map[string][]time.Time // by delivery id
}

func (c *timedChannel) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string][]time.Time{}
	}
	c.calls[m.Delivery.ID] = append(c.calls[m.Delivery.ID], time.Now())
	c.mu.Unlock()
	return c.Channel.Deliver(ctx, m)
}

func (c *timedChannel) times(id string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls[id])
}

// countingChannel counts the deliveries one engine handed to the vendor.
type countingChannel struct {
	comms.Channel
	mu sync.Mutex
	n  int
}

func (c *countingChannel) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Channel.Deliver(ctx, m)
}

func (c *countingChannel) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
