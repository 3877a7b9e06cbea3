package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/automation"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/comms/pagerduty/pdtest"
)

// The Events API v2 integration key of the PagerDuty fake.
const pdRoutingKey = "0123456789abcdef0123456789ABCDEF"

// withPagerDuty adds the PagerDuty channel, pointed at a fresh fake, to the
// env's channels and turns paging on for the env's store; engines made
// afterwards page through it.
func (e *env) withPagerDuty() *pdtest.Server {
	e.t.Helper()
	srv := pdtest.New(e.t, pdRoutingKey)
	pd, err := pagerduty.New(pagerduty.Config{RoutingKey: pdRoutingKey, EventsURL: srv.EventsURL()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.chans[herald.ChannelPagerDuty] = pd
	e.st.EnablePaging(true) // as when a routing key is configured
	return srv
}

// waitPD waits for the fake to have accepted n events.
func waitPD(t *testing.T, srv *pdtest.Server, n int) []pdtest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs, err := srv.WaitEvents(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// waitFinal waits until the incident's deliveries matching keep number n
// and are all final, and returns them oldest first.
func (e *env) waitFinal(incidentID string, n int, keep func(herald.Delivery) bool) []herald.Delivery {
	e.t.Helper()
	var ds []herald.Delivery
	eventually(e.t, "final deliveries", func() (bool, string) {
		ds = filter(e.deliveries(incidentID), keep)
		if len(ds) != n {
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

func pageKinds(d herald.Delivery) bool {
	return d.Kind == herald.KindPageTrigger || d.Kind == herald.KindPageResolve
}

// An incident at or above trigger_at pages PagerDuty through the Events
// API: a trigger whose dedup_key is Herald's incident id and whose
// severity follows the impact, then a resolve with the same key when the
// incident resolves.
func TestPagerDutyPageAndResolve(t *testing.T) {
	tests := []struct {
		impact   herald.Impact
		severity string
	}{
		{herald.ImpactCritical, "critical"},
		{herald.ImpactMajor, "error"},
	}
	for _, tt := range tests {
		t.Run(string(tt.impact), func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, dialect string) {
				e := newEnv(t, dialect, envOptions{})
				srv := e.withPagerDuty()
				e.start(e.st, e.engine(e.st, nil))

				in, err := e.st.DeclareIncident(e.ctx, herald.Declaration{Name: "Primary region down", Impact: tt.impact,
					Body: "We are investigating failed requests."}, e.boss.ID, []string{"public", "engineering"}, bossName)
				if err != nil {
					t.Fatal(err)
				}
				evs := waitPD(t, srv, 1)
				ev := evs[0]
				if ev.EventAction != "trigger" || ev.DedupKey != in.ID || ev.RoutingKey != pdRoutingKey || ev.Payload == nil {
					t.Fatalf("first event %s", ev.Raw)
				}
				if p := ev.Payload; p.Severity != tt.severity || p.Source != pagerduty.DefaultSource ||
					p.Summary != "["+tt.impact.Label()+"] Primary region down" {
					t.Errorf("trigger payload %+v; want severity %s", p, tt.severity)
				}
				details, _ := ev.Payload.CustomDetails.(map[string]any)
				if details["incident_id"] != in.ID || details["impact"] != string(tt.impact) ||
					details["body"] != "We are investigating failed requests." {
					t.Errorf("trigger details %v", details)
				}
				if got := srv.AlertStatus(in.ID); got != pdtest.AlertTriggered {
					t.Errorf("alert %s after the trigger; want triggered", got)
				}

				if _, err := e.st.PostUpdate(e.ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Recovered."},
					bossName); err != nil {
					t.Fatal(err)
				}
				evs = waitPD(t, srv, 2)
				if r := evs[1]; r.EventAction != "resolve" || r.DedupKey != in.ID {
					t.Errorf("second event %s; want a resolve of %s", r.Raw, in.ID)
				}
				if got := srv.AlertStatus(in.ID); got != pdtest.AlertResolved {
					t.Errorf("alert %s after the resolve; want resolved", got)
				}
				ds := e.waitFinal(in.ID, 2, pageKinds)
				for i, kind := range []herald.DeliveryKind{herald.KindPageTrigger, herald.KindPageResolve} {
					d := ds[i]
					if d.Kind != kind || d.Channel != herald.ChannelPagerDuty || d.State != herald.DeliverySent ||
						d.ProviderID != in.ID || d.Attempts != 1 {
						t.Errorf("delivery %d: %s", i, describe([]herald.Delivery{d}))
					}
				}
				if n := srv.Requests(); n != 2 {
					t.Errorf("%d requests reached PagerDuty; want 2", n)
				}
			})
		})
	}
}

// PagerDuty throttling (429 with Retry-After) is waited out and the page
// goes on the next attempt.
func TestPagerDutyThrottled(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{})
		srv := e.withPagerDuty()
		srv.FailNext(1, http.StatusTooManyRequests, time.Second)
		e.start(e.st, e.engine(e.st, nil))

		in := e.declare("Payments failing")
		evs := waitPD(t, srv, 1)
		if evs[0].EventAction != "trigger" || evs[0].DedupKey != in.ID {
			t.Errorf("event %s", evs[0].Raw)
		}
		ds := e.waitFinal(in.ID, 1, pageKinds)
		if d := ds[0]; d.State != herald.DeliverySent || d.Attempts != 2 || d.ProviderID != in.ID {
			t.Errorf("after a 429: %s; want sent on the second attempt", describe(ds))
		}
		if n := srv.Requests(); n != 2 {
			t.Errorf("%d requests reached PagerDuty; want 2 (the throttled one and the page)", n)
		}
		if n := len(filter(e.deliveries(in.ID), ofKind(herald.KindFailure))); n != 0 {
			t.Errorf("%d failure reports for a page that went out", n)
		}
	})
}

// A running region failover's step past its window is reported to the
// commander once (Slack, SMS and email, and a timeline line), however many
// times and on however many engines Tick runs; a step done in time is
// never reported; Tick wakes at the next window's end.
func TestLateFailoverStep(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{clock: t0})
		st2 := e.openStore() // a second replica
		e1, e2 := e.engine(e.st, nil), e.engine(st2, nil)
		in := e.declare("Primary region down")
		p, ok := e.plan.Procedure(herald.ProcedureRegion, "primary-region")
		if !ok {
			t.Fatal("no region failover in the plan")
		}
		a, err := e.st.RequestAction(e.ctx, in.ID, p, herald.ActionRequest{Kind: p.Kind, Key: p.Key}, e.boss)
		if err != nil {
			t.Fatal(err)
		}
		if a.State != herald.ActionRunning || a.StartedAt == nil || !a.StartedAt.Equal(t0) {
			t.Fatalf("action %+v; want it running since %s", a, t0)
		}

		lateReports := func() []string {
			var out []string
			for _, d := range e.deliveries(in.ID) {
				if strings.Contains(d.Key, "/late/") {
					if d.Kind != herald.KindReminder || d.Subject != "Late failover step: Primary region failure" {
						t.Errorf("late report %s, subject %q", describe([]herald.Delivery{d}), d.Subject)
					}
					out = append(out, string(d.Channel)+" "+d.Recipient+" "+d.Body)
				}
			}
			return out
		}
		lateLines := func() []string {
			tl, err := e.st.Timeline(e.ctx, in.ID, "action")
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for i := len(tl) - 1; i >= 0; i-- {
				if strings.HasPrefix(tl[i].Summary, "Late: ") {
					if tl[i].Actor != herald.EngineActor {
						t.Errorf("late line by %q", tl[i].Actor)
					}
					out = append(out, tl[i].Summary)
				}
			}
			return out
		}
		report := func(step string) []string {
			text := "LATE: Primary region failure, step " + step
			return []string{"slack " + bossEmail + " " + text, "sms " + bossPhone + " " + text, "email " + bossEmail + " " + text}
		}
		detection := report("1 (Detection) was expected done by 09:02 UTC (2 min into")
		promotion := report("3 (Database promotion) was expected done by 09:15 UTC (15 min into")
		detectionLine := "Late: Primary region failure, step 1 (Detection) was expected done by 2 min into the action (09:02 UTC) and is pending"
		promotionLine := "Late: Primary region failure, step 3 (Database promotion) was expected done by 15 min into the action (09:15 UTC) and is pending"

		steps := []struct {
			name     string
			at       time.Duration
			before   func(t *testing.T)
			both     bool          // both engines tick at once, then the first again
			next     time.Duration // 0: not checked
			wantSent []string
			wantLine []string
		}{
			{name: "within the first window", at: time.Minute, next: 2 * time.Minute},
			{name: "the detection stage is late", at: 3 * time.Minute, next: 5 * time.Minute, wantSent: detection,
				wantLine: []string{detectionLine}},
			{name: "again", at: 3 * time.Minute, both: true, wantSent: detection, wantLine: []string{detectionLine}},
			{name: "stages 1 and 2 done, stage 2 in time", at: 6 * time.Minute,
				before: func(t *testing.T) {
					for _, pos := range []int{1, 2} {
						e.clock.Set(t0.Add(4 * time.Minute))
						if _, err := e.st.SetActionStep(e.ctx, a.ID, 0, p, herald.StepChange{Position: pos, State: herald.StepDone},
							&e.boss); err != nil {
							t.Fatal(err)
						}
					}
				},
				both: true, wantSent: detection, wantLine: []string{detectionLine}},
			{name: "the promotion is late", at: 16 * time.Minute, both: true, wantSent: append(append([]string(nil), detection...),
				promotion...), wantLine: []string{detectionLine, promotionLine}},
			{name: "later still", at: 20 * time.Minute, both: true, wantSent: append(append([]string(nil), detection...),
				promotion...), wantLine: []string{detectionLine, promotionLine}},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				if st.before != nil {
					st.before(t)
				}
				e.clock.Set(t0.Add(st.at))
				if st.both {
					var wg sync.WaitGroup
					errs := make([]error, 2)
					for i, eng := range []*engine.Engine{e1, e2} {
						wg.Go(func() { _, errs[i] = eng.ActionTick(e.ctx) })
					}
					wg.Wait()
					if err := errors.Join(errs...); err != nil {
						t.Fatalf("Tick: %v", err)
					}
				}
				next, err := e1.ActionTick(e.ctx)
				if err != nil {
					t.Fatalf("ActionTick: %v", err)
				}
				if st.next > 0 && !next.Equal(t0.Add(st.next)) {
					t.Errorf("next wake %s; want %s", next.Format("15:04:05"), t0.Add(st.next).Format("15:04:05"))
				}
				if diff := gocmp.Diff(st.wantSent, lateReports(), gocmp.Comparer(startsLike)); diff != "" {
					t.Errorf("late reports queued (-want +got):\n%s", diff)
				}
				if diff := gocmp.Diff(st.wantLine, lateLines()); diff != "" {
					t.Errorf("late timeline lines (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// startsLike compares a message with the start expected of it, either
// way round.
func startsLike(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }

// automationSecret is the key Herald signs automation calls with.
const automationSecret = "whsec-automation-test-0123456789"

// automationCall is one request the automation receiver got.
type automationCall struct {
	method, contentType, signature, timestamp, idempotency, callback string
	body                                                             []byte
}

// automationReceiver is an automation endpoint that answers each call
// with the next status of its script (200 once the script is over).
type automationReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	script []int
	calls  []automationCall
}

func newAutomationReceiver(t *testing.T, script ...int) *automationReceiver {
	r := &automationReceiver{script: script}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, automationCall{req.Method, req.Header.Get("Content-Type"),
			req.Header.Get(herald.AutomationSignatureHeader), req.Header.Get(herald.AutomationTimestampHeader),
			req.Header.Get("Idempotency-Key"), req.Header.Get("X-Herald-Callback"), body})
		status := http.StatusOK
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *automationReceiver) received() []automationCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]automationCall(nil), r.calls...)
}

// An approved automated action's call reaches its endpoint signed (the
// signature verifies with the shared secret) with the delivery's id as
// its idempotency key, the same on every attempt; a 5xx is retried; a
// refusal (4xx) is given up and the commander told.
func TestAutomationCall(t *testing.T) {
	tests := []struct {
		name     string
		script   []int
		state    herald.DeliveryState
		attempts int
		told     bool // the commander gets a failure report
	}{
		{name: "accepted", script: []int{http.StatusAccepted}, state: herald.DeliverySent, attempts: 1},
		{name: "a server error is retried", script: []int{http.StatusInternalServerError, http.StatusOK},
			state: herald.DeliverySent, attempts: 2},
		{name: "a refusal is given up", script: []int{http.StatusBadRequest}, state: herald.DeliveryFailed, attempts: 1, told: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, dialect string) {
				recv := newAutomationReceiver(t, tt.script...)
				endpoint := recv.URL + "/hooks/db-failover"
				e := newEnv(t, dialect, envOptions{plan: func(p *herald.Plan) {
					for i := range p.Failover.Runbooks {
						if p.Failover.Runbooks[i].Key == "database-failover" {
							// No executor and no precondition: the approval
							// lets the automation run it.
							p.Failover.Runbooks[i].AutomationURL = endpoint
							p.Failover.Runbooks[i].ExecutorRole, p.Failover.Runbooks[i].ReplicationLagMs = "", 0
						}
					}
					p.PagerDuty.TriggerAt = "" // this test is about the automation: no pages
				}})
				auto, err := automation.New(automation.Config{Secret: automationSecret, PublicURL: "https://herald.kredete.example/"})
				if err != nil {
					t.Fatal(err)
				}
				e.chans[herald.ChannelAutomation] = auto
				e.start(e.st, e.engine(e.st, nil))

				approver, err := e.st.CreateUser(e.ctx, herald.NewUser{Email: "vera@kredete.example", Name: "Vera Nkosi",
					Role: herald.RoleApprover, Password: "correct horse battery"}, "x", "test")
				if err != nil {
					t.Fatal(err)
				}
				in := e.declare("Primary database down")
				p, ok := e.plan.Procedure(herald.ProcedureRunbook, "database-failover")
				if !ok || p.AutomationURL != endpoint {
					t.Fatalf("procedure %+v", p)
				}
				a, err := e.st.RequestAction(e.ctx, in.ID, p, herald.ActionRequest{Kind: p.Kind, Key: p.Key,
					Reason: "The primary stopped accepting writes"}, e.boss)
				if err != nil {
					t.Fatal(err)
				}
				if a, err = e.st.DecideAction(e.ctx, a.ID, a.Version, p, true, approver, "Go"); err != nil {
					t.Fatal(err)
				}
				if a.State != herald.ActionRunning {
					t.Fatalf("approved automated action is %s; want running", a.State)
				}

				isCall := func(d herald.Delivery) bool { return d.Channel == herald.ChannelAutomation }
				ds := e.waitFinal(in.ID, 1, isCall)
				d := ds[0]
				if d.Kind != herald.KindAutomation || d.Recipient != endpoint || d.State != tt.state || d.Attempts != tt.attempts {
					t.Errorf("automation call %s; want %s after %d attempts", describe(ds), tt.state, tt.attempts)
				}
				calls := recv.received()
				if len(calls) != tt.attempts {
					t.Fatalf("the endpoint got %d calls; want %d", len(calls), tt.attempts)
				}
				for i, c := range calls {
					if c.method != http.MethodPost || c.contentType != "application/json" || string(c.body) != d.Body {
						t.Errorf("call %d: %s %s %s", i, c.method, c.contentType, c.body)
					}
					if _, err := herald.VerifyAutomation([]string{automationSecret}, c.signature, c.timestamp, c.body,
						time.Now()); err != nil {
						t.Errorf("call %d: signature %q at %s does not verify: %v", i, c.signature, c.timestamp, err)
					}
					if _, err := herald.VerifyAutomation([]string{"another secret"}, c.signature, c.timestamp, c.body,
						time.Now()); !errors.Is(err, herald.ErrBadSignature) {
						t.Errorf("call %d verifies with another secret: %v", i, err)
					}
					if c.idempotency != d.ID {
						t.Errorf("call %d: Idempotency-Key %q; want the delivery's id %q", i, c.idempotency, d.ID)
					}
					if want := "https://herald.kredete.example/api/automation/actions/" + a.ID; c.callback != want {
						t.Errorf("call %d: callback %q; want %q", i, c.callback, want)
					}
					var body struct {
						Action     string `json:"action_id"`
						Incident   string `json:"incident_id"`
						Procedure  string `json:"procedure"`
						ApprovedBy string `json:"approved_by"`
					}
					if err := json.Unmarshal(c.body, &body); err != nil || body.Action != a.ID || body.Incident != in.ID ||
						body.Procedure != "runbook:database-failover" || body.ApprovedBy != "Vera Nkosi" {
						t.Errorf("call %d body %s (%v)", i, c.body, err)
					}
				}

				failures := func() []herald.Delivery { return filter(e.deliveries(in.ID), ofKind(herald.KindFailure)) }
				if !tt.told {
					if got := failures(); len(got) != 0 {
						t.Errorf("failure reports for a call that went out: %s", describe(got))
					}
					return
				}
				// The commander hears of it on every channel but the
				// automation's: Slack, SMS and email.
				reports := e.waitFinal(in.ID, 3, ofKind(herald.KindFailure))
				var to []string
				for _, r := range reports {
					to = append(to, string(r.Channel)+" "+r.Recipient)
					if r.State != herald.DeliverySent || !strings.Contains(r.Body, "automation") ||
						!strings.Contains(r.Body, "400") {
						t.Errorf("failure report %s: %q", describe([]herald.Delivery{r}), r.Body)
					}
				}
				want := []string{"email " + bossEmail, "slack " + bossEmail, "sms " + bossPhone}
				if diff := gocmp.Diff(want, slices.Sorted(slices.Values(to))); diff != "" {
					t.Errorf("failure reports (-want +got):\n%s", diff)
				}
			})
		})
	}
}
