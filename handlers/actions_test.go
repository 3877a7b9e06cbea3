package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/comms/pagerduty/pdtest"
	"github.com/kredete/herald/handlers"
)

const (
	pdSecret   = "pd-webhook-secret-0123456789"
	autoSecret = "automation-secret-0123456789"
)

// hookConsole is the console with the PagerDuty webhook and the automation
// callback wired as cmd/herald wires them.
type hookConsole struct {
	*console
	srv *httptest.Server
}

func newHookConsole(t *testing.T, dialect string, plan herald.Plan) *hookConsole {
	c := newConsole(t, envOptions{dialect: dialect})
	c.store.EnableDeliveries(plan)
	deps := c.deps
	deps.Plan = plan
	deps.PagerDutyWebhook = func(r *http.Request) (herald.PagerDutyEvent, error) {
		return pagerduty.ReadWebhook(r, []string{pdSecret})
	}
	deps.PagerDutyEvents = c.store
	deps.AutomationSecrets = []string{autoSecret}
	deps.Automation = c.store
	srv := httptest.NewServer(handlers.New(deps))
	t.Cleanup(srv.Close)
	return &hookConsole{console: c, srv: srv}
}

func triggerBody(eventID, pdIncident, service string) []byte {
	return []byte(fmt.Sprintf(`{"event":{"id":%q,"event_type":"incident.triggered","resource_type":"incident",
		"occurred_at":"2026-11-25T09:14:03.412Z","agent":null,"client":null,"data":{"id":%q,"type":"incident",
		"html_url":"https://kredete.pagerduty.com/incidents/%s","number":42,"status":"triggered","title":"Route 53 health checks failing",
		"service":{"id":%q,"summary":"Route 53 health check af-south-1"},"assignees":[],"priority":{"id":"PX","summary":"P1"},
		"urgency":"high"}}}`, eventID, pdIncident, pdIncident, service))
}

func (h *hookConsole) post(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body) //nolint:errcheck
	return res.StatusCode, b.String()
}

func TestPagerDutyWebhook(t *testing.T) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			h := newHookConsole(t, d, defaultPlanFor(t))
			ctx := context.Background()
			url := h.srv.URL + "/webhooks/pagerduty"
			body := triggerBody("EV1", "Q1", "PR53HC1")

			before := h.stored()
			for _, tc := range []struct {
				name string
				req  *http.Request
			}{
				{"unsigned", pdtest.NewWebhookRequest(url, body)},
				{"wrong secret", pdtest.NewWebhookRequest(url, body, "another-secret-entirely")},
				{"tampered", func() *http.Request {
					r := pdtest.NewWebhookRequest(url, body, pdSecret)
					r2, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bytes.Replace(body, []byte("Q1"), []byte("Q9"), 1)))
					r2.Header = r.Header
					return r2
				}()},
			} {
				code, msg := h.post(t, tc.req)
				if code != http.StatusUnauthorized || !strings.Contains(msg, "not signed by PagerDuty") {
					t.Errorf("%s: %d %s, want 401", tc.name, code, msg)
				}
			}
			if got, _, _ := h.store.PagerDutyEventOutcome(ctx, "EV1"); got {
				t.Fatal("a forged webhook was stored")
			}
			h.wantNothingStored(before, "forged webhooks")

			// Signed but malformed: 400 with the field, nothing stored.
			code, msg := h.post(t, pdtest.NewWebhookRequest(url, []byte(`{"event":{"id":"EV2","event_type":"incident.triggered",
				"occurred_at":"yesterday","data":{"id":"Q2"}}}`), pdSecret))
			if code != http.StatusBadRequest || !strings.Contains(msg, "occurred_at") {
				t.Errorf("malformed: %d %s, want 400 naming occurred_at", code, msg)
			}
			if got, _, _ := h.store.PagerDutyEventOutcome(ctx, "EV2"); got {
				t.Error("a malformed webhook was stored")
			}

			// Signed with the old and the new secret (a rotation): accepted once.
			code, _ = h.post(t, pdtest.NewWebhookRequest(url, body, "the-old-secret-being-rotated", pdSecret))
			if code != http.StatusAccepted {
				t.Fatalf("signed: %d, want 202", code)
			}
			if err := h.store.ApplyPagerDutyEvent(ctx, "EV1"); err != nil {
				t.Fatal(err)
			}
			_, outcome, _ := h.store.PagerDutyEventOutcome(ctx, "EV1")
			if outcome != "opened a new incident" {
				t.Fatalf("outcome %q", outcome)
			}
			after := h.stored()
			code, _ = h.post(t, pdtest.NewWebhookRequest(url, body, pdSecret))
			if code != http.StatusAccepted {
				t.Fatalf("redelivered: %d, want 202 (PagerDuty would retry anything else)", code)
			}
			h.wantNothingStored(after, "a redelivered webhook")
			open, err := h.store.OpenIncidents(ctx)
			if err != nil || len(open) != 1 || open[0].Impact != herald.ImpactCritical {
				t.Fatalf("open incidents after the trigger: %v %+v", err, open)
			}
			acts, _ := h.store.Actions(ctx, open[0].ID)
			if len(acts) != 1 || acts[0].Key != "primary-region" || acts[0].Rule != "pagerduty:PR53HC1" {
				t.Errorf("the region health check's trigger started %+v, want the region failover by rule", acts)
			}
		})
	}
}

func defaultPlanFor(t *testing.T) herald.Plan {
	t.Helper()
	c := newEnv(t, envOptions{})
	return c.plan
}

// automatedPlan is the default plan with the database failover automated.
func automatedPlan(t *testing.T) herald.Plan {
	p := defaultPlanFor(t)
	rbs := append([]herald.Runbook(nil), p.Failover.Runbooks...)
	for i := range rbs {
		if rbs[i].Key == "database-failover" {
			rbs[i].AutomationURL = "https://automation.kredete.test/db-failover"
		}
	}
	p.Failover.Runbooks = rbs
	return p
}

func TestAutomationCallback(t *testing.T) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			plan := automatedPlan(t)
			h := newHookConsole(t, d, plan)
			ctx := context.Background()
			in, err := h.store.DeclareIncident(ctx, herald.Declaration{Name: "Primary database down", Impact: herald.ImpactMajor,
				Body: "Investigating."}, h.users[herald.RoleCommander].ID, []string{"engineering", "public"}, "test")
			if err != nil {
				t.Fatal(err)
			}
			p, _ := plan.Procedure(herald.ProcedureRunbook, "database-failover")
			a, err := h.store.RequestAction(ctx, in.ID, p, herald.ActionRequest{Reason: "Primary unreachable"}, h.users[herald.RoleCommander])
			if err != nil {
				t.Fatal(err)
			}
			if a, err = h.store.DecideAction(ctx, a.ID, 0, p, true, h.users[herald.RoleApprover], ""); err != nil {
				t.Fatal(err)
			}
			calls := func() int {
				ds, _ := h.store.Deliveries(ctx, in.ID, 100)
				n := 0
				for _, d := range ds {
					if d.Kind == herald.KindAutomation && strings.HasPrefix(d.Key, a.ID+"/") {
						n++
					}
				}
				return n
			}
			// The database failover names its executor and a precondition:
			// the approval alone does not let the automation run it.
			if a.State != herald.ActionApproved || calls() != 0 {
				t.Fatalf("approved: %s with %d calls, want approved and none until the DBA starts it", a.State, calls())
			}
			lag := 30 * time.Millisecond
			if a, err = h.store.ExecuteAction(ctx, a.ID, 0, p, h.users[herald.RoleDBA], &lag); err != nil {
				t.Fatal(err)
			}
			if a.State != herald.ActionRunning || calls() != 1 {
				t.Errorf("started by the DBA: %s with %d automation calls, want running and 1", a.State, calls())
			}

			cb := h.srv.URL + "/api/automation/actions/" + a.ID
			signed := func(body string, at time.Time, secret string) *http.Request {
				r, _ := http.NewRequest(http.MethodPost, cb, strings.NewReader(body))
				r.Header.Set(herald.AutomationTimestampHeader, strconv.FormatInt(at.Unix(), 10))
				r.Header.Set(herald.AutomationSignatureHeader, herald.SignAutomation(secret, at, []byte(body)))
				return r
			}
			now := h.clock.Now()
			step1 := `{"action_id":"` + a.ID + `","step":{"position":1,"state":"done","note":"available"}}`
			before := h.stored()
			for name, req := range map[string]*http.Request{
				"wrong secret": signed(step1, now, "not-the-automation-secret"),
				"stale":        signed(step1, now.Add(-10*time.Minute), autoSecret),
				"unsigned":     func() *http.Request { r, _ := http.NewRequest(http.MethodPost, cb, strings.NewReader(step1)); return r }(),
			} {
				if code, msg := h.post(t, req); code != http.StatusUnauthorized {
					t.Errorf("%s: %d %s, want 401", name, code, msg)
				}
			}
			if code, msg := h.post(t, signed(`{"action_id":"`+a.ID+`","step":{"position":1,"state":"finished"}}`, now, autoSecret)); code != http.StatusBadRequest {
				t.Errorf("unknown state: %d %s, want 400", code, msg)
			}
			h.wantNothingStored(before, "refused callbacks")

			req := signed(step1, now, autoSecret)
			replay := signed(step1, now, autoSecret)
			if code, msg := h.post(t, req); code != http.StatusOK {
				t.Fatalf("signed report: %d %s", code, msg)
			}
			got, _ := h.store.Action(ctx, a.ID)
			if got.Steps[0].State != herald.StepDone || got.Steps[0].Actor != "automation" {
				t.Fatalf("step 1 after the report: %+v", got.Steps[0])
			}
			other, err := h.store.RequestAction(ctx, in.ID, p, herald.ActionRequest{Reason: "Second try"}, h.users[herald.RoleCommander])
			if err != nil {
				t.Fatal(err)
			}
			mid := h.stored()
			if code, msg := h.post(t, replay); code != http.StatusUnauthorized || !strings.Contains(msg, "replay") {
				t.Errorf("replayed report: %d %s, want 401 replay", code, msg)
			}
			// The same signature in upper case is the same report.
			upper := signed(step1, now, autoSecret)
			upper.Header.Set(herald.AutomationSignatureHeader, "v1="+strings.ToUpper(strings.TrimPrefix(upper.Header.Get(herald.AutomationSignatureHeader), "v1=")))
			if code, msg := h.post(t, upper); code != http.StatusUnauthorized || !strings.Contains(msg, "replay") {
				t.Errorf("replayed report, signature in upper case: %d %s, want 401 replay", code, msg)
			}
			// A report signed for this action cannot be pointed at another.
			moved, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/automation/actions/"+other.ID, strings.NewReader(
				`{"action_id":"`+a.ID+`","step":{"position":2,"state":"done"}}`))
			moved.Header = signed(`{"action_id":"`+a.ID+`","step":{"position":2,"state":"done"}}`, now, autoSecret).Header
			if code, msg := h.post(t, moved); code != http.StatusBadRequest || !strings.Contains(msg, "action_id") {
				t.Errorf("a report moved to another action: %d %s, want 400", code, msg)
			}
			// An action still awaiting approval reports nothing.
			waiting := signed(`{"action_id":"`+other.ID+`","step":{"position":1,"state":"done"}}`, now, autoSecret)
			waiting.URL.Path = "/api/automation/actions/" + other.ID
			if code, msg := h.post(t, waiting); code != http.StatusConflict {
				t.Errorf("a report on an action awaiting approval: %d %s, want 409", code, msg)
			}
			// A report is applied whole or not at all: a bad restore time
			// keeps its step from moving.
			half := fmt.Sprintf(`{"action_id":%q,"step":{"position":2,"state":"done"},"restored_at":%q}`, a.ID,
				now.Add(time.Hour).Format(time.RFC3339))
			if code, msg := h.post(t, signed(half, now, autoSecret)); code != http.StatusUnprocessableEntity {
				t.Errorf("a report with a future restore time: %d %s, want 422", code, msg)
			}
			h.wantNothingStored(mid, "replayed, moved, early and half-bad callbacks")
			// Out of order: step 3 before step 2 is a conflict, not a change.
			if code, _ := h.post(t, signed(`{"action_id":"`+a.ID+`","step":{"position":3,"state":"done"}}`, now, autoSecret)); code != http.StatusConflict {
				t.Errorf("step 3 before step 2: %d, want 409", code)
			}
			// Restore time and data loss reported by the automation.
			body := fmt.Sprintf(`{"action_id":%q,"restored_at":%q,"data_loss_seconds":4}`, a.ID, now.Format(time.RFC3339))
			if code, msg := h.post(t, signed(body, now, autoSecret)); code != http.StatusOK {
				t.Fatalf("report: %d %s", code, msg)
			}
			in, _ = h.store.Incident(ctx, in.ID)
			if in.RestoredAt == nil || in.DataLoss == nil || *in.DataLoss != 4*time.Second || !strings.Contains(in.DataLossSource, "automation") {
				t.Errorf("after the automation's report: restored %v, loss %v from %q", in.RestoredAt, in.DataLoss, in.DataLossSource)
			}
		})
	}
}

func TestConsoleDatabaseFailover(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		ctx := context.Background()
		cmdr, vp, dba := c.as(t, herald.RoleCommander), c.as(t, herald.RoleApprover), c.as(t, herald.RoleDBA)
		in, err := c.store.DeclareIncident(ctx, herald.Declaration{Name: "Primary database down", Impact: herald.ImpactMajor,
			Body: "Investigating."}, c.users[herald.RoleCommander].ID, []string{"engineering", "public"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		form := func(v url.Values) (string, []string) {
			return v.Encode(), []string{"Content-Type", "application/x-www-form-urlencoded"}
		}
		post := func(b *browser, path string, v url.Values) response {
			body, h := form(v)
			return b.do(http.MethodPost, path, strings.NewReader(body), h...)
		}
		// A gated request needs a reason, shown next to the field.
		r := post(cmdr, "/console/incidents/"+in.ID+"/actions", url.Values{"procedure": {"runbook:database-failover"}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("request without a reason: %d", r.Code)
		}
		doc := parseHTML(t, r.Body)
		if msg := text(queryOne(t, doc, "#err-action-reason")); !strings.Contains(msg, "say why") {
			t.Errorf("error next to the reason: %q", msg)
		}
		if sel := queryOne(t, doc, "#procedure option[selected]"); !strings.Contains(text(sel), "Database failover") {
			t.Errorf("the chosen procedure was not kept: %q", text(sel))
		}
		r = post(cmdr, "/console/incidents/"+in.ID+"/actions", url.Values{"procedure": {"runbook:database-failover"},
			"reason": {"Primary unreachable for 4 minutes"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("request: %d %s", r.Code, r.Body)
		}
		acts, _ := c.store.Actions(ctx, in.ID)
		a := acts[0]
		if a.State != herald.ActionAwaitingApproval {
			t.Fatalf("state %s", a.State)
		}
		page := parseHTML(t, cmdr.do(http.MethodGet, "/console/incidents/"+in.ID, nil).Body)
		if st := text(queryOne(t, page, `[data-testid="action"] [data-testid="action-state"]`)); st != "Awaiting approval" {
			t.Errorf("the commander sees %q", st)
		}
		if len(queryAll(t, page, `[data-testid="decide-form"]`)) != 0 {
			t.Error("the requester is offered the approval form")
		}
		// Not the commander, not the DBA: only the approver decides.
		for _, b := range []*browser{cmdr, dba} {
			if r := post(b, "/console/actions/"+a.ID+"/decide", url.Values{"decision": {"approve"}}); r.Code != http.StatusForbidden {
				t.Errorf("approval by a non-approver: %d", r.Code)
			}
		}
		// The DBA cannot start before the approval.
		if r := post(dba, "/console/actions/"+a.ID+"/execute", url.Values{"replication_lag_ms": {"10"}}); r.Code != http.StatusConflict {
			t.Errorf("execute before approval: %d", r.Code)
		}
		page = parseHTML(t, vp.do(http.MethodGet, "/console/incidents/"+in.ID, nil).Body)
		queryOne(t, page, `[data-testid="decide-form"]`)
		if r := post(vp, "/console/actions/"+a.ID+"/decide", url.Values{"decision": {"refuse"}}); r.Code != http.StatusUnprocessableEntity {
			t.Errorf("refusal without a note: %d", r.Code)
		} else if msg := text(queryOne(t, parseHTML(t, r.Body), "#"+"err-action-"+a.ID+"-note")); !strings.Contains(msg, "why") {
			t.Errorf("refusal error: %q", msg)
		}
		if r := post(vp, "/console/actions/"+a.ID+"/decide", url.Values{"decision": {"approve"}, "note": {"Go"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("approve: %d %s", r.Code, r.Body)
		}
		if r := post(vp, "/console/actions/"+a.ID+"/decide", url.Values{"decision": {"approve"}}); r.Code != http.StatusConflict {
			t.Errorf("second approval: %d, want 409", r.Code)
		}
		// The precondition: lag at or over 100 ms refuses the start, next to the field.
		r = post(dba, "/console/actions/"+a.ID+"/execute", url.Values{"replication_lag_ms": {"250"}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("execute with 250 ms lag: %d", r.Code)
		}
		if msg := text(queryOne(t, parseHTML(t, r.Body), "#err-action-"+a.ID+"-replication_lag_ms")); !strings.Contains(msg, "not under 100 ms") {
			t.Errorf("lag error: %q", msg)
		}
		if r := post(dba, "/console/actions/"+a.ID+"/execute", url.Values{"replication_lag_ms": {"35"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("execute: %d %s", r.Code, r.Body)
		}
		// The commander cannot move a database runbook's steps; the DBA can.
		if r := post(cmdr, "/console/actions/"+a.ID+"/steps/1", url.Values{"state": {"done"}}); r.Code != http.StatusForbidden {
			t.Errorf("commander on a DBA step: %d", r.Code)
		}
		for i := 1; i <= 6; i++ {
			if r := post(dba, "/console/actions/"+a.ID+"/steps/"+strconv.Itoa(i), url.Values{"state": {"done"}}); r.Code != http.StatusSeeOther {
				t.Fatalf("step %d: %d %s", i, r.Code, r.Body)
			}
		}
		page = parseHTML(t, cmdr.do(http.MethodGet, "/console/incidents/"+in.ID, nil).Body)
		if st := text(queryOne(t, page, `[data-testid="action-state"]`)); st != "Completed" {
			t.Errorf("after six steps: %q", st)
		}
		if p := text(queryOne(t, page, `[data-testid="action-precondition"]`)); p != "Replication lag 35 ms, under 100 ms" {
			t.Errorf("precondition shown: %q", p)
		}
		tl, _ := c.store.Timeline(ctx, in.ID, "action")
		var lines []string
		for _, e := range tl {
			lines = append(lines, e.Summary)
		}
		all := strings.Join(lines, "\n")
		for _, want := range []string{"Failover action requested: Database failover", "Approved: Database failover",
			"Execution started: Database failover (Replication lag 35 ms", "Failover action completed: Database failover"} {
			if !strings.Contains(all, want) {
				t.Errorf("the timeline lacks %q:\n%s", want, all)
			}
		}
		audit, _ := c.store.Audit(ctx, in.ID, 100)
		seen := map[string]bool{}
		for _, e := range audit {
			seen[e.Action] = true
		}
		for _, want := range []string{"action.request", "action.approve", "action.execute", "action.step"} {
			if !seen[want] {
				t.Errorf("the audit log lacks %s", want)
			}
		}

		// The restore time stops the RTO clock; the report exports it all.
		c.clock.Set(c.clock.Now().Add(40 * time.Minute))
		restored := c.clock.Now().Add(-10 * time.Minute).In(c.deps.Location).Format("2006-01-02T15:04")
		if r := post(cmdr, "/console/incidents/"+in.ID+"/restored", url.Values{"restored_at": {restored}}); r.Code != http.StatusSeeOther {
			t.Fatalf("restored: %d %s", r.Code, r.Body)
		}
		future := c.clock.Now().Add(time.Hour).In(c.deps.Location).Format("2006-01-02T15:04")
		if r := post(cmdr, "/console/incidents/"+in.ID+"/restored", url.Values{"restored_at": {future}}); r.Code != http.StatusUnprocessableEntity {
			t.Errorf("a restore time in the future: %d", r.Code)
		} else if msg := text(queryOne(t, parseHTML(t, r.Body), "#err-restored_at")); !strings.Contains(msg, "future") {
			t.Errorf("restore error: %q", msg)
		}
		page = parseHTML(t, cmdr.do(http.MethodGet, "/console/incidents/"+in.ID, nil).Body)
		if rto := text(queryOne(t, page, `[data-testid="rto"]`)); !strings.Contains(rto, "restored after 30 min") {
			t.Errorf("RTO shown: %q", rto)
		}
		md := cmdr.do(http.MethodGet, "/console/incidents/"+in.ID+"/report.md", nil)
		if md.Code != http.StatusOK || !strings.HasPrefix(md.Header.Get("Content-Type"), "text/markdown") ||
			!strings.Contains(md.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("report.md: %d %q %q", md.Code, md.Header.Get("Content-Type"), md.Header.Get("Content-Disposition"))
		}
		body := string(md.Body)
		for _, want := range []string{"# Post-incident report: Primary database down", "## Recovery objectives",
			"**RTO:** 30 min restored, target under 4 h: met", "**RPO:** not recorded",
			"## Compliance with the communication plan", "| Engineering", "## Who was told what, and when",
			"### Database failover — Completed", "Approved by Test Approver", "(Replication lag 35 ms, under 100 ms)",
			"## Timeline", "Failover action requested: Database failover"} {
			if !strings.Contains(body, want) {
				t.Errorf("the Markdown report lacks %q", want)
			}
		}
		if t.Failed() {
			t.Logf("report:\n%s", body)
		}
		printable := parseHTML(t, cmdr.do(http.MethodGet, "/console/incidents/"+in.ID+"/report", nil).Body)
		if d := text(queryOne(t, printable, `[data-testid="report-decision"]`)); !strings.Contains(d, "Approved by Test Approver") {
			t.Errorf("printable report decision: %q", d)
		}
		queryOne(t, printable, `[data-testid="report-compliance"]`)
	})
}
