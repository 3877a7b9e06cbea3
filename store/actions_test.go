package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// TestActions is the failover actions' part of the conformance suite:
// every case runs on SQLite and on PostgreSQL, each on a fresh database.
func TestActions(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, dialect string)
	}{
		{"RegionFailoverRunsAtOnce", testRegionFailoverRunsAtOnce},
		{"GatedRunbookWaitsForApproval", testGatedRunbookWaits},
		{"RefusedRequestsChangeNothing", testRefusedRequests},
		{"DecideAction", testDecideAction},
		{"ExecuteAction", testExecuteAction},
		{"StepsToCompletion", testStepsToCompletion},
		{"RunningActions", testRunningActions},
		{"ReportLateStepOnce", testReportLateStepOnce},
		{"AutomationQueuedWhenItStarts", testAutomationQueued},
		{"SetRestored", testSetRestored},
		{"UseNonce", testUseNonce},
	}
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, d) })
			}
		})
	}
}

// actionWorld is one action test's database: the default plan's
// components with deliveries enabled, a person of each role, and a
// critical incident commanded by Ada, declared an hour after base.
type actionWorld struct {
	s        *store.Store
	clk      *clock
	plan     herald.Plan
	in       herald.Incident
	declared time.Time

	boss, dba, approver, approver2, admin, viewer herald.User
}

// The automation endpoint the plan copies name.
const automationURL = "https://automation.kredete.example/hooks/failover?token=s3cret"

func newActionWorld(t *testing.T, dialect string, edit func(*herald.Plan)) *actionWorld {
	t.Helper()
	s, clk := open(t, dialect)
	plan, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&plan)
	}
	s.EnableDeliveries(plan)
	if err := s.SyncComponents(t.Context(), plan.Groups, plan.Components); err != nil {
		t.Fatal(err)
	}
	w := &actionWorld{s: s, clk: clk, plan: plan}
	user := func(email, name, phone string, role herald.Role) herald.User {
		u, err := s.CreateUser(t.Context(), herald.NewUser{Email: email, Name: name, Phone: phone, Role: role,
			Password: "correct horse battery"}, "x", "test")
		if err != nil {
			t.Fatalf("CreateUser %s: %v", email, err)
		}
		return u
	}
	w.boss = user("ada@kredete.example", "Ada Obi", "+27820000099", herald.RoleCommander)
	w.dba = user("dayo@kredete.example", "Dayo Bello", "+27820000098", herald.RoleDBA)
	w.approver = user("vera@kredete.example", "Vera Nkosi", "", herald.RoleApprover)
	w.approver2 = user("victor@kredete.example", "Victor Eze", "", herald.RoleApprover)
	w.admin = user("root@kredete.example", "Root Admin", "", herald.RoleAdmin)
	w.viewer = user("val@kredete.example", "Val Viewer", "", herald.RoleViewer)

	w.declared = clk.Set(base.Add(time.Hour))
	api := w.component(t, "api-platform")
	w.in, err = s.DeclareIncident(t.Context(), herald.Declaration{Name: "Primary region down", Impact: herald.ImpactCritical,
		Body: "We are investigating failed requests.", Components: []herald.ComponentTarget{{ComponentID: api.ID,
			Status: herald.MajorOutage}}}, w.boss.ID, []string{"public", "engineering"}, w.boss.Name)
	if err != nil {
		t.Fatalf("DeclareIncident: %v", err)
	}
	clk.Set(base.Add(time.Hour + time.Minute))
	return w
}

func (w *actionWorld) component(t *testing.T, key string) herald.Component {
	t.Helper()
	c, ok := componentsByKey(t, w.s)[key]
	if !ok {
		t.Fatalf("no component %q", key)
	}
	return c
}

func (w *actionWorld) procedure(t *testing.T, kind herald.ProcedureKind, key string) herald.Procedure {
	t.Helper()
	p, ok := w.plan.Procedure(kind, key)
	if !ok {
		t.Fatalf("no procedure %s:%s in the plan", kind, key)
	}
	return p
}

// request asks for a procedure on the world's incident as by.
func (w *actionWorld) request(t *testing.T, kind herald.ProcedureKind, key, reason string, by herald.User) herald.Action {
	t.Helper()
	return w.requestOn(t, w.in.ID, kind, key, reason, by)
}

func (w *actionWorld) requestOn(t *testing.T, incidentID string, kind herald.ProcedureKind, key, reason string, by herald.User) herald.Action {
	t.Helper()
	a, err := w.s.RequestAction(t.Context(), incidentID, w.procedure(t, kind, key),
		herald.ActionRequest{Kind: kind, Key: key, Reason: reason}, by)
	if err != nil {
		t.Fatalf("RequestAction %s:%s: %v", kind, key, err)
	}
	return a
}

// dbFailover requests the gated database runbook as Ada.
func (w *actionWorld) dbFailover(t *testing.T) herald.Action {
	t.Helper()
	return w.request(t, herald.ProcedureRunbook, "database-failover", "The primary stopped accepting writes", w.boss)
}

// approved is a database failover approved by Vera.
func (w *actionWorld) approved(t *testing.T) herald.Action {
	t.Helper()
	a := w.dbFailover(t)
	a, err := w.s.DecideAction(t.Context(), a.ID, a.Version, w.procedure(t, herald.ProcedureRunbook, "database-failover"), true,
		w.approver, "Go ahead")
	if err != nil {
		t.Fatalf("DecideAction: %v", err)
	}
	return a
}

func (w *actionWorld) action(t *testing.T, id string) herald.Action {
	t.Helper()
	a, err := w.s.Action(t.Context(), id)
	if err != nil {
		t.Fatalf("Action(%s): %v", id, err)
	}
	return a
}

// sameActionAsStored checks what a write returned is what a read gives back.
func (w *actionWorld) sameActionAsStored(t *testing.T, returned herald.Action) {
	t.Helper()
	if diff := gocmp.Diff(returned, w.action(t, returned.ID)); diff != "" {
		t.Errorf("stored action differs from the one returned (-returned +stored):\n%s", diff)
	}
}

// actionSnapshot is everything an action write may touch.
type actionSnapshot struct {
	Version    int64
	Actions    []herald.Action
	Incident   herald.Incident
	Timeline   []herald.TimelineEvent
	Audit      []herald.AuditEntry
	Deliveries []herald.Delivery
}

func (w *actionWorld) snapshot(t *testing.T) actionSnapshot {
	t.Helper()
	ctx := t.Context()
	var snap actionSnapshot
	var err error
	snap.Version = version(t, w.s)
	if snap.Actions, err = w.s.Actions(ctx, w.in.ID); err != nil {
		t.Fatal(err)
	}
	snap.Incident = mustIncident(t, w.s, w.in.ID)
	if snap.Timeline, err = w.s.Timeline(ctx, w.in.ID, ""); err != nil {
		t.Fatal(err)
	}
	if snap.Audit, err = w.s.Audit(ctx, "", 1000); err != nil {
		t.Fatal(err)
	}
	if snap.Deliveries, err = w.s.Deliveries(ctx, w.in.ID, 1000); err != nil {
		t.Fatal(err)
	}
	return snap
}

// unchanged checks a refused write left everything as it was.
func (w *actionWorld) unchanged(t *testing.T, what string, before actionSnapshot) {
	t.Helper()
	if diff := gocmp.Diff(before, w.snapshot(t)); diff != "" {
		t.Errorf("%s was refused but changed the database (-before +after):\n%s", what, diff)
	}
}

// trail is what the writes on the world's incident left: its action
// timeline lines (oldest first) and its action.* audit entries.
func (w *actionWorld) trail(t *testing.T) ([]herald.TimelineEvent, []herald.AuditEntry) {
	t.Helper()
	lines, err := w.s.Timeline(t.Context(), w.in.ID, "action")
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	entries, err := w.s.Audit(t.Context(), w.in.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var audit []herald.AuditEntry
	for i := len(entries) - 1; i >= 0; i-- {
		if strings.HasPrefix(entries[i].Action, "action.") {
			audit = append(audit, entries[i])
		}
	}
	return lines, audit
}

// threadReplies are the bodies of the Slack thread replies queued for an
// incident, oldest first.
func threadReplies(t *testing.T, s *store.Store, incidentID string) []string {
	t.Helper()
	ds, err := s.Deliveries(t.Context(), incidentID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(ds) - 1; i >= 0; i-- {
		if d := ds[i]; d.Channel == herald.ChannelSlack && d.Kind == herald.KindReply && d.Recipient == "#incident-response" {
			out = append(out, d.Body)
		}
	}
	return out
}

// wantTrail checks the writes since before added exactly these action
// lines (by summary, each by actor) and audit entries, and that each line
// was queued as a reply in the incident's Slack thread.
func (w *actionWorld) wantTrail(t *testing.T, what string, before actionSnapshot, actor string, audit []string, lines ...string) {
	t.Helper()
	gotLines, gotAudit := w.trail(t)
	var beforeLines, beforeAudit int
	for _, e := range before.Timeline {
		if e.Kind == "action" {
			beforeLines++
		}
	}
	for _, e := range before.Audit {
		if e.IncidentID == w.in.ID && strings.HasPrefix(e.Action, "action.") {
			beforeAudit++
		}
	}
	var newLines []string
	for _, e := range gotLines[beforeLines:] {
		newLines = append(newLines, e.Summary)
		if e.Actor != actor {
			t.Errorf("%s: timeline line %q by %q, want %q", what, e.Summary, e.Actor, actor)
		}
	}
	if diff := gocmp.Diff(lines, newLines); diff != "" {
		t.Errorf("%s: new action timeline lines (-want +got):\n%s", what, diff)
	}
	var newAudit []string
	for _, e := range gotAudit[beforeAudit:] {
		newAudit = append(newAudit, e.Action)
		if e.Actor != actor || e.Entity != "action" || e.EntityID == "" {
			t.Errorf("%s: audit entry %+v, want one by %q on an action", what, e, actor)
		}
	}
	if diff := gocmp.Diff(audit, newAudit); diff != "" {
		t.Errorf("%s: new audit entries (-want +got):\n%s", what, diff)
	}
	replies := threadReplies(t, w.s, w.in.ID)
	for _, l := range lines {
		want := l + " (" + actor + ")"
		found := false
		for _, r := range replies {
			found = found || r == want
		}
		if !found {
			t.Errorf("%s: no Slack thread reply %q among %q", what, want, replies)
		}
	}
}

// stepLines is the steps as the tests compare them.
func stepLines(a herald.Action) []string {
	var out []string
	for _, st := range a.Steps {
		out = append(out, fmt.Sprintf("%d %s %s-%s %s", st.Position, st.Name, st.WindowStart, st.WindowEnd, st.State))
	}
	return out
}

// problemField is the field a validation error names; "" for another error.
func problemField(err error) string {
	var ve *herald.ValidationError
	if errors.As(err, &ve) {
		return ve.Field
	}
	var ves herald.ValidationErrors
	if errors.As(err, &ves) && len(ves) > 0 {
		return ves[0].Field
	}
	return ""
}

func addrOf[T any](v T) *T { return &v }

// testRegionFailoverRunsAtOnce: a region failover asked for by a commander
// needs no approval: it runs at once, its four stages pending against their
// windows, with the timeline line, the audit entry and the thread reply.
func testRegionFailoverRunsAtOnce(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	before := w.snapshot(t)
	now := w.clk.Set(base.Add(time.Hour + 2*time.Minute))
	p := w.procedure(t, herald.ProcedureRegion, "primary-region")
	a, err := w.s.RequestAction(t.Context(), w.in.ID, p, herald.ActionRequest{Kind: herald.ProcedureRegion, Key: "primary-region",
		Reason: "  Route 53 health checks failing  "}, w.boss)
	if err != nil {
		t.Fatalf("RequestAction: %v", err)
	}
	ada := herald.Actor{ID: w.boss.ID, Name: "Ada Obi"}
	if a.ID == "" || a.IncidentID != w.in.ID || a.Kind != herald.ProcedureRegion || a.Key != "primary-region" ||
		a.Name != "Primary region failure" || a.State != herald.ActionRunning || a.Reason != "Route 53 health checks failing" ||
		a.RequestedBy != ada || !a.RequestedAt.Equal(now) || a.StartedBy != ada || a.StartedAt == nil ||
		!a.StartedAt.Equal(now) || a.DecidedAt != nil || a.FinishedAt != nil || a.Rule != "" || a.AutomationState != "" ||
		a.Version != 1 {
		t.Errorf("RequestAction returned %+v", a)
	}
	wantSteps := []string{
		"1 Detection 0s-2m0s pending",
		"2 Traffic redirect 2m0s-5m0s pending",
		"3 Database promotion 5m0s-15m0s pending",
		"4 Service activation 15m0s-30m0s pending",
	}
	if diff := gocmp.Diff(wantSteps, stepLines(a)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if d := a.Steps[0].Detail; d != "Route 53 health checks fail (3 consecutive)\nPagerDuty alert triggered automatically" {
		t.Errorf("step 1's detail %q", d)
	}
	w.sameActionAsStored(t, a)
	w.wantTrail(t, "request", before, "Ada Obi", []string{"action.request"},
		"Failover action requested: Primary region failure (Route 53 health checks failing). Running")
	if got := version(t, w.s); got != before.Version+1 {
		t.Errorf("version %d after the request; want %d", got, before.Version+1)
	}
	entries, err := w.s.Audit(t.Context(), w.in.ID, 1)
	if err != nil || len(entries) != 1 {
		t.Fatalf("Audit: %v, %d entries", err, len(entries))
	}
	if e := entries[0]; e.EntityID != a.ID || e.Before != "" || !strings.Contains(e.After, `"procedure":"region:primary-region"`) ||
		!strings.Contains(e.After, `"state":"running"`) {
		t.Errorf("audit entry %+v", e)
	}
	if list, err := w.s.Actions(t.Context(), w.in.ID); err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Errorf("Actions = %v, %v; want the one action", list, err)
	}
}

// testGatedRunbookWaits: the database runbook is gated: asked for, it waits
// for the approver with nothing started.
func testGatedRunbookWaits(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	before := w.snapshot(t)
	a := w.dbFailover(t)
	if a.State != herald.ActionAwaitingApproval || a.StartedAt != nil || a.StartedBy != (herald.Actor{}) || a.Version != 1 ||
		len(a.Steps) != 6 || a.Steps[0].Name != "Verify current primary status" || a.AutomationState != "" {
		t.Errorf("RequestAction returned %+v", a)
	}
	for _, st := range a.Steps {
		if st.State != herald.StepPending {
			t.Errorf("step %d is %s before approval", st.Position, st.State)
		}
	}
	w.sameActionAsStored(t, a)
	w.wantTrail(t, "request", before, "Ada Obi", []string{"action.request"},
		"Failover action requested: Database failover (The primary stopped accepting writes). Awaiting approval")
}

// testRefusedRequests: a request refused by the rules writes nothing.
func testRefusedRequests(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	resolved, err := w.s.Declare(t.Context(), herald.Declaration{Name: "Old", Body: "b", Impact: herald.ImpactMinor}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.PostUpdate(t.Context(), resolved.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Fixed."}, "alice"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		incident  string
		key       string
		kind      herald.ProcedureKind
		reason    string
		by        herald.User
		wantErr   error
		wantField string
	}{
		{"a viewer", w.in.ID, "primary-region", herald.ProcedureRegion, "r", w.viewer, herald.ErrForbidden, ""},
		{"a DBA", w.in.ID, "primary-region", herald.ProcedureRegion, "r", w.dba, herald.ErrForbidden, ""},
		{"an approver", w.in.ID, "database-failover", herald.ProcedureRunbook, "r", w.approver, herald.ErrForbidden, ""},
		{"a gated runbook without a reason", w.in.ID, "database-failover", herald.ProcedureRunbook, "  ", w.boss, herald.ErrInvalid, "reason"},
		{"a reason too long", w.in.ID, "primary-region", herald.ProcedureRegion, strings.Repeat("x", herald.MaxReasonLen+1), w.boss,
			herald.ErrInvalid, "reason"},
		{"a resolved incident", resolved.ID, "primary-region", herald.ProcedureRegion, "r", w.boss, herald.ErrClosed, ""},
		{"no such incident", "nosuchincident", "primary-region", herald.ProcedureRegion, "r", w.boss, herald.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.snapshot(t)
			_, err := w.s.RequestAction(t.Context(), tt.incident, w.procedure(t, tt.kind, tt.key),
				herald.ActionRequest{Kind: tt.kind, Key: tt.key, Reason: tt.reason}, tt.by)
			if !errors.Is(err, tt.wantErr) || problemField(err) != tt.wantField {
				t.Fatalf("RequestAction = %v; want %v (field %q)", err, tt.wantErr, tt.wantField)
			}
			w.unchanged(t, "RequestAction", before)
			if list, err := w.s.Actions(t.Context(), resolved.ID); err != nil || len(list) != 0 {
				t.Errorf("actions on the resolved incident: %v, %v", list, err)
			}
		})
	}
}

// testDecideAction: only the approver role decides, never the person who
// asked, once, on the version the approver saw; a refusal writes nothing.
func testDecideAction(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	p := w.procedure(t, herald.ProcedureRunbook, "database-failover")
	ctx := t.Context()

	// Cem asked as a commander and has since been made an approver.
	cem, err := w.s.CreateUser(ctx, herald.NewUser{Email: "cem@kredete.example", Name: "Cem Okafor", Role: herald.RoleCommander,
		Password: "correct horse battery"}, "x", "test")
	if err != nil {
		t.Fatal(err)
	}
	var cemsRequest herald.Action

	tests := []struct {
		name    string
		prepare func(t *testing.T) herald.Action
		by      herald.User
		approve bool
		note    string
		version func(a herald.Action) int
		wantErr error
		field   string
		want    herald.ActionState
		line    string
	}{
		{name: "a commander cannot approve", prepare: w.dbFailover, by: w.boss, approve: true, wantErr: herald.ErrForbidden},
		{name: "a DBA cannot approve", prepare: w.dbFailover, by: w.dba, approve: true, wantErr: herald.ErrForbidden},
		{name: "an admin cannot approve", prepare: w.dbFailover, by: w.admin, approve: true, wantErr: herald.ErrForbidden},
		{name: "a viewer cannot refuse", prepare: w.dbFailover, by: w.viewer, note: "no", wantErr: herald.ErrForbidden},
		{name: "the requester, made an approver since, cannot approve their own request",
			prepare: func(t *testing.T) herald.Action {
				cemsRequest = w.request(t, herald.ProcedureRunbook, "database-failover", "Cem wants it", cem)
				if err := w.s.SetUserRole(ctx, cem.ID, herald.RoleApprover, "test"); err != nil {
					t.Fatal(err)
				}
				return cemsRequest
			},
			by: herald.User{ID: cem.ID, Name: cem.Name, Email: cem.Email, Role: herald.RoleApprover}, approve: true,
			wantErr: herald.ErrForbidden},
		{name: "approved twice", prepare: w.approved, by: w.approver2, approve: true, wantErr: herald.ErrInvalidTransition},
		{name: "approved after a cancel",
			prepare: func(t *testing.T) herald.Action {
				a := w.dbFailover(t)
				a, err := w.s.CancelAction(ctx, a.ID, a.Version, w.boss, "The primary came back")
				if err != nil {
					t.Fatal(err)
				}
				return a
			},
			by: w.approver, approve: true, wantErr: herald.ErrInvalidTransition},
		{name: "approved after a refusal",
			prepare: func(t *testing.T) herald.Action {
				a := w.dbFailover(t)
				a, err := w.s.DecideAction(ctx, a.ID, a.Version, p, false, w.approver2, "Not yet")
				if err != nil {
					t.Fatal(err)
				}
				return a
			},
			by: w.approver, approve: true, wantErr: herald.ErrInvalidTransition},
		{name: "a stale form",
			prepare: func(t *testing.T) herald.Action {
				a := w.dbFailover(t)
				if _, err := w.s.DecideAction(ctx, a.ID, a.Version, p, true, w.approver2, ""); err != nil {
					t.Fatal(err)
				}
				return a // as the second approver's form saw it
			},
			by: w.approver, approve: true, wantErr: herald.ErrConflict},
		{name: "a wrong version", prepare: w.dbFailover, by: w.approver, approve: true,
			version: func(a herald.Action) int { return a.Version + 1 }, wantErr: herald.ErrConflict},
		{name: "a refusal without a note", prepare: w.dbFailover, by: w.approver, note: "  ", wantErr: herald.ErrInvalid, field: "note"},
		{name: "a region failover needs no approval",
			prepare: func(t *testing.T) herald.Action {
				return w.request(t, herald.ProcedureRegion, "primary-region", "", w.boss)
			},
			by: w.approver, approve: true, wantErr: herald.ErrInvalidTransition},

		{name: "the approver approves", prepare: w.dbFailover, by: w.approver, approve: true, note: " Lag is fine ",
			want: herald.ActionApproved, line: "Approved: Database failover (requested by Ada Obi): Lag is fine"},
		{name: "the approver refuses", prepare: w.dbFailover, by: w.approver, note: "Wait for the standby",
			want: herald.ActionRefused, line: "Refused: Database failover (requested by Ada Obi): Wait for the standby"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.prepare(t)
			v := a.Version
			if tt.version != nil {
				v = tt.version(a)
			}
			proc := p
			if a.Kind == herald.ProcedureRegion {
				proc = w.procedure(t, a.Kind, a.Key)
			}
			before := w.snapshot(t)
			now := w.clk.Advance(time.Minute)
			got, err := w.s.DecideAction(ctx, a.ID, v, proc, tt.approve, tt.by, tt.note)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || problemField(err) != tt.field {
					t.Fatalf("DecideAction = %v; want %v (field %q)", err, tt.wantErr, tt.field)
				}
				w.unchanged(t, "DecideAction", before)
				return
			}
			if err != nil {
				t.Fatalf("DecideAction: %v", err)
			}
			by := herald.Actor{ID: tt.by.ID, Name: tt.by.Name}
			if got.State != tt.want || got.DecidedBy != by || got.DecidedAt == nil || !got.DecidedAt.Equal(now) ||
				got.DecisionNote != strings.TrimSpace(tt.note) || got.Version != a.Version+1 || got.StartedAt != nil {
				t.Errorf("DecideAction returned %+v", got)
			}
			w.sameActionAsStored(t, got)
			verb := "action.refuse"
			if tt.approve {
				verb = "action.approve"
			}
			w.wantTrail(t, "decide", before, tt.by.Name, []string{verb}, tt.line)
		})
	}
	if a := w.action(t, cemsRequest.ID); a.State != herald.ActionAwaitingApproval {
		t.Errorf("Cem's own request is %s; want it still awaiting another approver", a.State)
	}
}

// testExecuteAction: only the DBA starts the approved database runbook,
// and only with a measured replication lag under the precondition's.
func testExecuteAction(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	p := w.procedure(t, herald.ProcedureRunbook, "database-failover")
	ctx := t.Context()
	ms := func(n int) *time.Duration { return addrOf(time.Duration(n) * time.Millisecond) }

	tests := []struct {
		name    string
		prepare func(t *testing.T) herald.Action
		by      herald.User
		lag     *time.Duration
		stale   bool
		wantErr error
		field   string
	}{
		{name: "a commander", prepare: w.approved, by: w.boss, lag: ms(40), wantErr: herald.ErrForbidden},
		{name: "the approver", prepare: w.approved, by: w.approver, lag: ms(40), wantErr: herald.ErrForbidden},
		{name: "an admin", prepare: w.approved, by: w.admin, lag: ms(40), wantErr: herald.ErrForbidden},
		{name: "before approval", prepare: w.dbFailover, by: w.dba, lag: ms(40), wantErr: herald.ErrInvalidTransition},
		{name: "without the lag", prepare: w.approved, by: w.dba, wantErr: herald.ErrInvalid, field: "replication_lag_ms"},
		{name: "a lag at the threshold", prepare: w.approved, by: w.dba, lag: ms(100), wantErr: herald.ErrInvalid,
			field: "replication_lag_ms"},
		{name: "a negative lag", prepare: w.approved, by: w.dba, lag: ms(-1), wantErr: herald.ErrInvalid, field: "replication_lag_ms"},
		{name: "a stale form", prepare: w.approved, by: w.dba, lag: ms(40), stale: true, wantErr: herald.ErrConflict},
		{name: "started twice",
			prepare: func(t *testing.T) herald.Action {
				a := w.approved(t)
				a, err := w.s.ExecuteAction(ctx, a.ID, a.Version, p, w.dba, ms(10))
				if err != nil {
					t.Fatal(err)
				}
				return a
			},
			by: w.dba, lag: ms(40), wantErr: herald.ErrInvalidTransition},
		{name: "the DBA with a lag of 40 ms", prepare: w.approved, by: w.dba, lag: ms(40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.prepare(t)
			v := a.Version
			if tt.stale {
				v--
			}
			before := w.snapshot(t)
			now := w.clk.Advance(time.Minute)
			got, err := w.s.ExecuteAction(ctx, a.ID, v, p, tt.by, tt.lag)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || problemField(err) != tt.field {
					t.Fatalf("ExecuteAction = %v; want %v (field %q)", err, tt.wantErr, tt.field)
				}
				w.unchanged(t, "ExecuteAction", before)
				return
			}
			if err != nil {
				t.Fatalf("ExecuteAction: %v", err)
			}
			dayo := herald.Actor{ID: w.dba.ID, Name: "Dayo Bello"}
			if got.State != herald.ActionRunning || got.Precondition != "Replication lag 40 ms, under 100 ms" ||
				got.StartedBy != dayo || got.StartedAt == nil || !got.StartedAt.Equal(now) || got.Version != a.Version+1 ||
				got.DecidedBy.Name != "Vera Nkosi" {
				t.Errorf("ExecuteAction returned %+v", got)
			}
			w.sameActionAsStored(t, got)
			w.wantTrail(t, "execute", before, "Dayo Bello", []string{"action.execute"},
				"Execution started: Database failover (Replication lag 40 ms, under 100 ms)")
		})
	}
}

// testStepsToCompletion: the DBA moves the runbook's steps in order to
// completion; every move is a timeline line, an audit entry and a thread
// reply, and every refused move writes nothing.
func testStepsToCompletion(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	p := w.procedure(t, herald.ProcedureRunbook, "database-failover")
	ctx := t.Context()
	a := w.approved(t)
	a, err := w.s.ExecuteAction(ctx, a.ID, a.Version, p, w.dba, addrOf(40*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	started := *a.StartedAt
	boss := w.boss

	tests := []struct {
		name    string
		change  herald.StepChange
		by      *herald.User
		wantErr error
		field   string
		line    string
		state   herald.ActionState
	}{
		{name: "step 3 before step 1", change: herald.StepChange{Position: 3, State: herald.StepRunning}, by: &w.dba,
			wantErr: herald.ErrInvalidTransition},
		{name: "a commander moves a DBA step", change: herald.StepChange{Position: 1, State: herald.StepRunning}, by: &boss,
			wantErr: herald.ErrForbidden},
		{name: "no step 7", change: herald.StepChange{Position: 7, State: herald.StepDone}, by: &w.dba, wantErr: herald.ErrNotFound},
		{name: "a time in the future", change: herald.StepChange{Position: 1, State: herald.StepRunning,
			At: started.Add(time.Hour)}, by: &w.dba, wantErr: herald.ErrInvalid, field: "at"},
		{name: "a time before the start", change: herald.StepChange{Position: 1, State: herald.StepRunning,
			At: started.Add(-time.Second)}, by: &w.dba, wantErr: herald.ErrInvalid, field: "at"},
		{name: "step 1 running", change: herald.StepChange{Position: 1, State: herald.StepRunning}, by: &w.dba,
			line: "Database failover, step 1 (Verify current primary status): running", state: herald.ActionRunning},
		{name: "step 1 pending again", change: herald.StepChange{Position: 1, State: herald.StepPending}, by: &w.dba,
			wantErr: herald.ErrInvalidTransition},
		{name: "step 1 done", change: herald.StepChange{Position: 1, State: herald.StepDone, Note: "available"}, by: &w.dba,
			line: "Database failover, step 1 (Verify current primary status): done: available", state: herald.ActionRunning},
		{name: "step 2 failed without a note", change: herald.StepChange{Position: 2, State: herald.StepFailed}, by: &w.dba,
			wantErr: herald.ErrInvalid, field: "note"},
		{name: "step 2 failed", change: herald.StepChange{Position: 2, State: herald.StepFailed, Note: "API timed out"}, by: &w.dba,
			line: "Database failover, step 2 (Check replication lag on standby): failed: API timed out", state: herald.ActionRunning},
		{name: "step 2 tried again", change: herald.StepChange{Position: 2, State: herald.StepRunning}, by: &w.dba,
			line: "Database failover, step 2 (Check replication lag on standby): running", state: herald.ActionRunning},
		{name: "step 2 done", change: herald.StepChange{Position: 2, State: herald.StepDone}, by: &w.dba,
			line: "Database failover, step 2 (Check replication lag on standby): done", state: herald.ActionRunning},
		{name: "step 3 reported by the automation", change: herald.StepChange{Position: 3, State: herald.StepDone}, by: nil,
			line: "Database failover, step 3 (Initiate failover (if lag < 100ms)): done", state: herald.ActionRunning},
		{name: "step 4 done", change: herald.StepChange{Position: 4, State: herald.StepDone}, by: &w.dba,
			line: "Database failover, step 4 (Update application configuration): done", state: herald.ActionRunning},
		{name: "step 5 skipped", change: herald.StepChange{Position: 5, State: herald.StepSkipped, Note: "checked by hand"}, by: &w.dba,
			line: "Database failover, step 5 (Verify connectivity): skipped: checked by hand", state: herald.ActionRunning},
		{name: "step 6 done", change: herald.StepChange{Position: 6, State: herald.StepDone}, by: &w.dba,
			line: "Database failover, step 6 (Clear application caches): done", state: herald.ActionCompleted},
		{name: "a step of a completed action", change: herald.StepChange{Position: 6, State: herald.StepSkipped}, by: &w.dba,
			wantErr: herald.ErrInvalidTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := w.action(t, a.ID)
			before := w.snapshot(t)
			now := w.clk.Advance(time.Minute)
			got, err := w.s.SetActionStep(ctx, a.ID, cur.Version, p, tt.change, tt.by)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || problemField(err) != tt.field {
					t.Fatalf("SetActionStep = %v; want %v (field %q)", err, tt.wantErr, tt.field)
				}
				w.unchanged(t, "SetActionStep", before)
				return
			}
			if err != nil {
				t.Fatalf("SetActionStep: %v", err)
			}
			st := got.Steps[tt.change.Position-1]
			actor := "automation"
			if tt.by != nil {
				actor = tt.by.Name
			}
			if got.State != tt.state || got.Version != cur.Version+1 || st.State != tt.change.State || st.Actor != actor {
				t.Errorf("SetActionStep returned %s, version %d, step %+v", got.State, got.Version, st)
			}
			if tt.change.State == herald.StepRunning && (st.StartedAt == nil || !st.StartedAt.Equal(now) || st.FinishedAt != nil) {
				t.Errorf("running step's times: %v - %v", st.StartedAt, st.FinishedAt)
			}
			if tt.change.State == herald.StepDone && (st.FinishedAt == nil || !st.FinishedAt.Equal(now) || st.StartedAt == nil) {
				t.Errorf("done step's times: %v - %v", st.StartedAt, st.FinishedAt)
			}
			w.sameActionAsStored(t, got)
			lines := []string{tt.line}
			if tt.state == herald.ActionCompleted {
				lines = append(lines, "Failover action completed: Database failover")
				if got.FinishedAt == nil || !got.FinishedAt.Equal(now) {
					t.Errorf("completed action's end %v; want %s", got.FinishedAt, now)
				}
			}
			w.wantTrail(t, tt.name, before, actor, []string{"action.step"}, lines...)
		})
	}
	final := w.action(t, a.ID)
	want := []string{
		"1 Verify current primary status 0s-0s done",
		"2 Check replication lag on standby 0s-0s done",
		"3 Initiate failover (if lag < 100ms) 0s-0s done",
		"4 Update application configuration 0s-0s done",
		"5 Verify connectivity 0s-0s skipped",
		"6 Clear application caches 0s-0s done",
	}
	if diff := gocmp.Diff(want, stepLines(final)); diff != "" || final.State != herald.ActionCompleted {
		t.Errorf("final action %s (-want +got steps):\n%s", final.State, diff)
	}
}

// testRunningActions: the engine's watch lists only the running actions,
// across incidents, with their steps.
func testRunningActions(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	ctx := t.Context()
	other, err := w.s.DeclareIncident(ctx, herald.Declaration{Name: "Second region", Body: "b", Impact: herald.ImpactMajor},
		w.boss.ID, nil, w.boss.Name)
	if err != nil {
		t.Fatal(err)
	}
	// A second apart: the list is in the order they were asked for.
	region := w.request(t, herald.ProcedureRegion, "primary-region", "", w.boss)
	w.clk.Advance(time.Second)
	w.dbFailover(t) // awaiting approval
	w.clk.Advance(time.Second)
	w.approved(t) // approved, not started
	w.clk.Advance(time.Second)
	cancelled := w.request(t, herald.ProcedureComponent, "database-primary", "", w.boss)
	w.clk.Advance(time.Second)
	if _, err := w.s.CancelAction(ctx, cancelled.ID, 0, w.boss, "It recovered"); err != nil {
		t.Fatal(err)
	}
	failed := w.requestOn(t, other.ID, herald.ProcedureRegion, "primary-region", "", w.boss)
	if _, err := w.s.FailAction(ctx, failed.ID, 0, w.procedure(t, herald.ProcedureRegion, "primary-region"), w.boss,
		"eu-west-1 is down too"); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(time.Second)
	second := w.requestOn(t, other.ID, herald.ProcedureComponent, "redis-primary", "", w.boss)

	got, err := w.s.RunningActions(ctx)
	if err != nil {
		t.Fatalf("RunningActions: %v", err)
	}
	want := []herald.Action{w.action(t, region.ID), w.action(t, second.ID)}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("RunningActions (-want +got):\n%s", diff)
	}
	if all, err := w.s.Actions(ctx, w.in.ID); err != nil || len(all) != 4 {
		t.Errorf("Actions on the first incident: %d, %v; want 4", len(all), err)
	}
}

// testReportLateStepOnce: the report of a late step is claimed once,
// however many engines ask at once, with its deliveries and its line.
func testReportLateStepOnce(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	ctx := t.Context()
	start := w.clk.Set(time.Date(2025, 3, 10, 10, 1, 0, 0, time.UTC))
	region := w.request(t, herald.ProcedureRegion, "primary-region", "", w.boss)
	now := w.clk.Set(start.Add(3 * time.Minute))
	a := w.action(t, region.ID)
	late := a.LateSteps(now)
	if len(late) != 1 || late[0].Position != 1 {
		t.Fatalf("late steps at +3m: %+v; want step 1 (Detection, due at +2m)", late)
	}
	ds := []herald.Delivery{
		{Channel: herald.ChannelSlack, Kind: herald.KindReminder, Recipient: w.boss.Email, Subject: "Late failover step",
			Body: "LATE: Detection", Key: w.in.ID + "/late/" + a.ID + "/1/slack/" + w.boss.Email},
		{Channel: herald.ChannelSMS, Kind: herald.KindReminder, Recipient: w.boss.Phone, Subject: "Late failover step",
			Body: "LATE: Detection", Key: w.in.ID + "/late/" + a.ID + "/1/sms/" + w.boss.Phone},
	}
	before := w.snapshot(t)

	// Three engines at once: one claims it.
	var wg sync.WaitGroup
	claims := make([]bool, 3)
	errs := make([]error, 3)
	for i := range claims {
		wg.Go(func() { claims[i], errs[i] = w.s.ReportLateStep(ctx, a, late[0], ds) })
	}
	wg.Wait()
	n := 0
	for i := range claims {
		if errs[i] != nil {
			t.Fatalf("ReportLateStep: %v", errs[i])
		}
		if claims[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 3 concurrent ReportLateStep calls claimed the report; want 1", n)
	}
	w.wantTrail(t, "late", before, herald.EngineActor, nil,
		"Late: Primary region failure, step 1 (Detection) was expected done by 2 min into the action (10:03 UTC) and is pending")
	reminders := func() []string {
		list, err := w.s.Deliveries(ctx, w.in.ID, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range list {
			if d.Kind == herald.KindReminder {
				out = append(out, string(d.Channel)+" "+d.Recipient+" "+string(d.State))
			}
		}
		return out
	}
	want := []string{"sms +27820000099 queued", "slack ada@kredete.example queued"}
	if diff := gocmp.Diff(want, reminders()); diff != "" {
		t.Errorf("reminders queued (-want +got):\n%s", diff)
	}
	reloaded := w.action(t, a.ID)
	if !reloaded.Steps[0].LateReported || reloaded.Steps[1].LateReported {
		t.Errorf("late_reported after the claim: %+v", reloaded.Steps)
	}
	if got := reloaded.LateSteps(now); len(got) != 0 {
		t.Errorf("late steps after the report: %+v; want none", got)
	}

	// Asked again (a later wake, another replica): nothing more. (The lost
	// claim's empty transaction still counts as a write for the page
	// version, as RecordHolding's does: the version is left out.)
	after := w.snapshot(t)
	claimed, err := w.s.ReportLateStep(ctx, a, late[0], ds)
	if err != nil || claimed {
		t.Fatalf("ReportLateStep again = %v, %v; want false", claimed, err)
	}
	again := w.snapshot(t)
	again.Version = after.Version
	if diff := gocmp.Diff(after, again); diff != "" {
		t.Errorf("a second ReportLateStep changed the database (-before +after):\n%s", diff)
	}
}

// testAutomationQueued: an action with an automation endpoint queues
// exactly one signed call, when it starts: at once when it needs no
// approval, at approval when it does, never when it is refused.
func testAutomationQueued(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, func(p *herald.Plan) {
		for i := range p.Failover.Runbooks {
			if p.Failover.Runbooks[i].Key == "database-failover" {
				// Approval alone lets an automation run a procedure that
				// names no executor and no precondition (with them, the
				// executor's start calls it: handlers' TestAutomationCallback).
				p.Failover.Runbooks[i].AutomationURL = automationURL
				p.Failover.Runbooks[i].ExecutorRole, p.Failover.Runbooks[i].ReplicationLagMs = "", 0
			}
		}
		for i := range p.Failover.Regions {
			p.Failover.Regions[i].AutomationURL = automationURL
		}
	})
	ctx := t.Context()
	db := w.procedure(t, herald.ProcedureRunbook, "database-failover")
	calls := func(t *testing.T, actionID string) []herald.Delivery {
		t.Helper()
		list, err := w.s.Deliveries(ctx, w.in.ID, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []herald.Delivery
		for _, d := range list {
			if d.Kind == herald.KindAutomation || d.Channel == herald.ChannelAutomation {
				var body struct {
					Action string `json:"action_id"`
				}
				if err := json.Unmarshal([]byte(d.Body), &body); err != nil {
					t.Fatalf("automation call body %q: %v", d.Body, err)
				}
				if body.Action == actionID {
					out = append(out, d)
				}
			}
		}
		return out
	}
	wantCall := func(t *testing.T, a herald.Action, procedure, approvedBy string, steps int) {
		t.Helper()
		list := calls(t, a.ID)
		if len(list) != 1 {
			t.Fatalf("%d automation calls for the action; want 1", len(list))
		}
		d := list[0]
		if d.Channel != herald.ChannelAutomation || d.Kind != herald.KindAutomation || d.Recipient != automationURL ||
			d.State != herald.DeliveryQueued || d.Subject != a.Name || d.Key != a.ID+"/automation/start" {
			t.Errorf("automation call %+v", d)
		}
		var body struct {
			Action     string           `json:"action_id"`
			Incident   string           `json:"incident_id"`
			Procedure  string           `json:"procedure"`
			Name       string           `json:"name"`
			ApprovedBy string           `json:"approved_by"`
			Steps      []map[string]any `json:"steps"`
			Drill      *bool            `json:"drill"`
		}
		if err := json.Unmarshal([]byte(d.Body), &body); err != nil {
			t.Fatal(err)
		}
		if body.Action != a.ID || body.Incident != w.in.ID || body.Procedure != procedure || body.Name != a.Name ||
			body.ApprovedBy != approvedBy || len(body.Steps) != steps || body.Drill == nil || *body.Drill {
			t.Errorf("automation call body %s", d.Body)
		}
	}

	t.Run("a region failover calls at once", func(t *testing.T) {
		a := w.request(t, herald.ProcedureRegion, "primary-region", "", w.boss)
		if a.State != herald.ActionRunning || a.AutomationURL != automationURL || a.AutomationState != "queued" {
			t.Errorf("RequestAction returned %+v", a)
		}
		w.sameActionAsStored(t, a)
		wantCall(t, a, "region:primary-region", "", 4)
		// Its steps, reported back, call nothing more.
		a, err := w.s.SetActionStep(ctx, a.ID, a.Version, w.procedure(t, herald.ProcedureRegion, "primary-region"),
			herald.StepChange{Position: 1, State: herald.StepDone}, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, a, "region:primary-region", "", 4)
	})

	t.Run("a gated runbook calls once approved", func(t *testing.T) {
		a := w.dbFailover(t)
		if a.AutomationURL != automationURL || a.AutomationState != "" {
			t.Errorf("RequestAction returned %+v", a)
		}
		if n := len(calls(t, a.ID)); n != 0 {
			t.Fatalf("%d automation calls before approval", n)
		}
		now := w.clk.Advance(time.Minute)
		a, err := w.s.DecideAction(ctx, a.ID, a.Version, db, true, w.approver, "")
		if err != nil {
			t.Fatal(err)
		}
		if a.State != herald.ActionRunning || a.StartedBy != (herald.Actor{Name: "automation"}) || a.StartedAt == nil ||
			!a.StartedAt.Equal(now) || a.AutomationState != "queued" {
			t.Errorf("approved action %+v; want it running under the automation", a)
		}
		w.sameActionAsStored(t, a)
		wantCall(t, a, "runbook:database-failover", "Vera Nkosi", 6)
		lines, _ := w.trail(t)
		if last := lines[len(lines)-1].Summary; last != "Approved: Database failover (requested by Ada Obi). The automation runs it now" {
			t.Errorf("last action line %q", last)
		}
		for _, c := range []herald.StepChange{{Position: 1, State: herald.StepRunning}, {Position: 1, State: herald.StepDone}} {
			cur := w.action(t, a.ID)
			if _, err := w.s.SetActionStep(ctx, a.ID, cur.Version, db, c, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.s.CancelAction(ctx, a.ID, 0, w.boss, "enough"); err != nil {
			t.Fatal(err)
		}
		wantCall(t, a, "runbook:database-failover", "Vera Nkosi", 6)
	})

	t.Run("a refused runbook calls nothing", func(t *testing.T) {
		a := w.dbFailover(t)
		if _, err := w.s.DecideAction(ctx, a.ID, a.Version, db, false, w.approver, "No"); err != nil {
			t.Fatal(err)
		}
		if n := len(calls(t, a.ID)); n != 0 {
			t.Errorf("%d automation calls for a refused action", n)
		}
	})
}

// testSetRestored: the restore time ends the RTO clock; it may not be in
// the future nor before the declaration.
func testSetRestored(t *testing.T, dialect string) {
	w := newActionWorld(t, dialect, nil)
	ctx := t.Context()
	now := w.clk.Set(w.declared.Add(2 * time.Hour))
	tests := []struct {
		name    string
		at      time.Time
		stale   bool
		wantErr error
		field   string
	}{
		{name: "in the future", at: now.Add(2 * time.Minute), wantErr: herald.ErrInvalid, field: "restored_at"},
		{name: "before the declaration", at: w.declared.Add(-time.Second), wantErr: herald.ErrInvalid, field: "restored_at"},
		{name: "restored 30 minutes in", at: w.declared.Add(30*time.Minute + 700*time.Millisecond)},
		{name: "a stale form", at: w.declared.Add(40 * time.Minute), stale: true, wantErr: herald.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := mustIncident(t, w.s, w.in.ID)
			v := cur.Version
			if tt.stale {
				v--
			}
			before := w.snapshot(t)
			got, err := w.s.SetRestored(ctx, w.in.ID, v, tt.at, "Ada Obi")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || problemField(err) != tt.field {
					t.Fatalf("SetRestored = %v; want %v (field %q)", err, tt.wantErr, tt.field)
				}
				w.unchanged(t, "SetRestored", before)
				return
			}
			if err != nil {
				t.Fatalf("SetRestored: %v", err)
			}
			want := tt.at.UTC().Truncate(time.Second)
			if got.RestoredAt == nil || !got.RestoredAt.Equal(want) || got.RestoredBy != "Ada Obi" || got.Version != cur.Version+1 ||
				!got.Open() {
				t.Errorf("SetRestored returned restored %v by %q, version %d", got.RestoredAt, got.RestoredBy, got.Version)
			}
			sameAsStored(t, w.s, got)
			tl, err := w.s.Timeline(ctx, w.in.ID, "rto")
			if err != nil {
				t.Fatal(err)
			}
			wantTL := []herald.TimelineEvent{{Kind: "rto", Actor: "Ada Obi", At: now,
				Summary: "Service restored at 2025-03-10 10:30 UTC: RTO 30 min"}}
			if diff := gocmp.Diff(wantTL, tl); diff != "" {
				t.Errorf("rto timeline (-want +got):\n%s", diff)
			}
		})
	}
}

// testUseNonce: an automation callback's nonce is good once.
func testUseNonce(t *testing.T, dialect string) {
	s, _ := open(t, dialect)
	ctx := t.Context()
	for _, step := range []struct {
		nonce string
		want  bool
	}{{"v1=abc", true}, {"v1=abc", false}, {"v1=def", true}, {"v1=abc", false}} {
		got, err := s.UseNonce(ctx, step.nonce, "action1")
		if err != nil || got != step.want {
			t.Errorf("UseNonce(%q) = %v, %v; want %v", step.nonce, got, err, step.want)
		}
	}
}
