package herald_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
)

func defaultPlan(t *testing.T) herald.Plan {
	t.Helper()
	p, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	t0         = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	commander  = herald.User{ID: "u-cmd", Name: "Cora Commander", Role: herald.RoleCommander}
	commander2 = herald.User{ID: "u-cmd2", Name: "Cal Commander", Role: herald.RoleCommander}
	approver   = herald.User{ID: "u-vp", Name: "Vera VP", Role: herald.RoleApprover}
	approver2  = herald.User{ID: "u-vp2", Name: "Vic VP", Role: herald.RoleApprover}
	dba        = herald.User{ID: "u-dba", Name: "Dana DBA", Role: herald.RoleDBA}
	admin      = herald.User{ID: "u-admin", Name: "Ada Admin", Role: herald.RoleAdmin}
	viewer     = herald.User{ID: "u-view", Name: "Vin Viewer", Role: herald.RoleViewer}
	openInc    = herald.Incident{ID: "inc1", Kind: herald.KindIncident, Status: herald.Investigating, CreatedAt: t0}
)

func dbFailover(t *testing.T) herald.Procedure {
	t.Helper()
	p, ok := defaultPlan(t).Procedure(herald.ProcedureRunbook, "database-failover")
	if !ok {
		t.Fatal("the default plan has no database-failover runbook")
	}
	return p
}

func requested(t *testing.T, p herald.Procedure, by herald.User) herald.Action {
	t.Helper()
	a, err := herald.RequestAction(p, openInc, herald.ActionRequest{Kind: p.Kind, Key: p.Key, Reason: "Primary is down"}, by, t0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCatalogueAsProcedures(t *testing.T) {
	plan := defaultPlan(t)
	region, ok := plan.Procedure(herald.ProcedureRegion, "primary-region")
	if !ok || len(region.Steps) != 4 || region.Gated() {
		t.Fatalf("region failover: %+v", region)
	}
	wantEnds := []time.Duration{2 * time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute}
	for i, st := range region.Steps {
		if st.WindowEnd != wantEnds[i] {
			t.Errorf("region step %d (%s) ends at %s, want %s", i+1, st.Name, st.WindowEnd, wantEnds[i])
		}
	}
	db := dbFailover(t)
	if !db.Gated() || db.ApproverRole != herald.RoleApprover || db.ExecutorRole != herald.RoleDBA || len(db.Steps) != 6 ||
		db.MaxReplicationLag != 100*time.Millisecond {
		t.Errorf("database failover: gated %v approver %q executor %q steps %d lag %s", db.Gated(), db.ApproverRole,
			db.ExecutorRole, len(db.Steps), db.MaxReplicationLag)
	}
	full, _ := plan.Procedure(herald.ProcedureRunbook, "complete-system-recovery")
	// Stages of 30, 60, 30, 30 and 5 minutes end one after another.
	if got := full.Steps[4].WindowEnd; got != 155*time.Minute {
		t.Errorf("complete recovery's last stage is expected by %s, want 2h35m", got)
	}
	if n := len(plan.Procedures()); n != 1+2+5 {
		t.Errorf("%d procedures, want 8 (1 region, 2 runbooks, 5 component failovers)", n)
	}
}

func TestApprovalRules(t *testing.T) {
	p := dbFailover(t)
	tests := []struct {
		name string
		run  func(a *herald.Action) error
		want error
	}{
		{"self-approval refused", func(a *herald.Action) error {
			// The requester holds the approver role and asks: they still cannot approve.
			self := herald.User{ID: a.RequestedBy.ID, Name: "Same person", Role: herald.RoleApprover}
			return a.Decide(p, true, self, "", t0)
		}, herald.ErrForbidden},
		{"wrong role refused", func(a *herald.Action) error { return a.Decide(p, true, commander2, "", t0) }, herald.ErrForbidden},
		{"admin is not an approver", func(a *herald.Action) error { return a.Decide(p, true, admin, "", t0) }, herald.ErrForbidden},
		{"dba cannot approve", func(a *herald.Action) error { return a.Decide(p, true, dba, "", t0) }, herald.ErrForbidden},
		{"double approval refused", func(a *herald.Action) error {
			if err := a.Decide(p, true, approver, "", t0); err != nil {
				return err
			}
			return a.Decide(p, true, approver2, "", t0.Add(time.Minute))
		}, herald.ErrInvalidTransition},
		{"approval after cancel refused", func(a *herald.Action) error {
			if err := a.Cancel(commander, "False alarm", t0); err != nil {
				return err
			}
			return a.Decide(p, true, approver, "", t0.Add(time.Minute))
		}, herald.ErrInvalidTransition},
		{"approval after refusal refused", func(a *herald.Action) error {
			if err := a.Decide(p, false, approver, "Lag too high", t0); err != nil {
				return err
			}
			return a.Decide(p, true, approver2, "", t0.Add(time.Minute))
		}, herald.ErrInvalidTransition},
		{"refusal needs a note", func(a *herald.Action) error { return a.Decide(p, false, approver, " ", t0) }, herald.ErrInvalid},
		{"approved by another approver", func(a *herald.Action) error { return a.Decide(p, true, approver, "Go", t0) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := requested(t, p, commander)
			if a.State != herald.ActionAwaitingApproval {
				t.Fatalf("a gated action starts %s, want awaiting approval", a.State)
			}
			err := tt.run(&a)
			if tt.want == nil {
				if err != nil || a.State != herald.ActionApproved || a.DecidedBy.ID != approver.ID {
					t.Fatalf("err %v, state %s, decided by %+v", err, a.State, a.DecidedBy)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestExecuteAndSteps(t *testing.T) {
	p := dbFailover(t)
	lag := func(ms int) *time.Duration { d := time.Duration(ms) * time.Millisecond; return &d }
	t.Run("not before approval", func(t *testing.T) {
		a := requested(t, p, commander)
		if err := a.Execute(p, dba, lag(10), t0); !errors.Is(err, herald.ErrInvalidTransition) {
			t.Fatalf("err = %v, want invalid transition", err)
		}
	})
	a := requested(t, p, commander)
	if err := a.Decide(p, true, approver, "", t0); err != nil {
		t.Fatal(err)
	}
	for _, u := range []herald.User{commander, admin, approver, viewer} {
		if err := a.Execute(p, u, lag(10), t0); !errors.Is(err, herald.ErrForbidden) {
			t.Errorf("%s executes a database runbook: err = %v, want forbidden", u.Role, err)
		}
	}
	for _, tc := range []struct {
		lag  *time.Duration
		want string
	}{{nil, "enter the replication lag"}, {lag(100), "not under 100 ms"}, {lag(-1), "negative"}} {
		err := a.Execute(p, dba, tc.lag, t0)
		var ve *herald.ValidationError
		if !errors.As(err, &ve) || ve.Field != "replication_lag_ms" {
			t.Errorf("lag %v: err = %v, want a replication_lag_ms problem", tc.lag, err)
		}
	}
	if err := a.Execute(p, dba, lag(40), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if a.State != herald.ActionRunning || a.Precondition != "Replication lag 40 ms, under 100 ms" {
		t.Fatalf("state %s, precondition %q", a.State, a.Precondition)
	}
	// Steps: a commander cannot move a DBA's runbook; order is kept.
	if _, err := a.SetStep(p, herald.StepChange{Position: 1, State: herald.StepRunning}, &commander, t0); !errors.Is(err, herald.ErrForbidden) {
		t.Errorf("commander moves a DBA step: %v", err)
	}
	if _, err := a.SetStep(p, herald.StepChange{Position: 2, State: herald.StepRunning}, &dba, t0); !errors.Is(err, herald.ErrInvalidTransition) {
		t.Errorf("step 2 before step 1: %v", err)
	}
	if _, err := a.SetStep(p, herald.StepChange{Position: 1, State: herald.StepFailed}, &dba, t0); !errors.Is(err, herald.ErrInvalid) {
		t.Errorf("a failure without a note: %v", err)
	}
	if _, err := a.SetStep(p, herald.StepChange{Position: 7, State: herald.StepDone}, &dba, t0); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("step 7 of 6: %v", err)
	}
	for i := 1; i <= 6; i++ {
		if _, err := a.SetStep(p, herald.StepChange{Position: i, State: herald.StepDone}, &dba, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if a.State != herald.ActionCompleted || a.FinishedAt == nil {
		t.Fatalf("after every step: %s", a.State)
	}
	if _, err := a.SetStep(p, herald.StepChange{Position: 1, State: herald.StepRunning}, &dba, t0); !errors.Is(err, herald.ErrInvalidTransition) {
		t.Errorf("a step of a completed action moved: %v", err)
	}
	if err := a.Cancel(commander, "late", t0); !errors.Is(err, herald.ErrInvalidTransition) {
		t.Errorf("cancel after completion: %v", err)
	}
}

func TestLateSteps(t *testing.T) {
	plan := defaultPlan(t)
	p, _ := plan.Procedure(herald.ProcedureRegion, "primary-region")
	a := requested(t, p, commander)
	if a.State != herald.ActionRunning {
		t.Fatalf("an ungated action starts %s, want running", a.State)
	}
	if due, ok := a.NextDue(); !ok || !due.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("next due %v %v, want detection's end at +2m", due, ok)
	}
	if late := a.LateSteps(t0.Add(2 * time.Minute)); len(late) != 0 {
		t.Errorf("late at the window's end exactly: %v", late)
	}
	late := a.LateSteps(t0.Add(2*time.Minute + time.Second))
	if len(late) != 1 || late[0].Position != 1 {
		t.Fatalf("late after detection's window: %+v", late)
	}
	if _, err := a.SetStep(p, herald.StepChange{Position: 1, State: herald.StepDone}, &commander, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !a.Late(a.Steps[0], t0.Add(3*time.Minute)) {
		t.Error("a step done after its window is not shown late")
	}
	if late := a.LateSteps(t0.Add(4 * time.Minute)); len(late) != 0 {
		t.Errorf("a finished step is reported late: %+v", late)
	}
	a.Steps[1].LateReported = true
	if due, _ := a.NextDue(); !due.Equal(t0.Add(15 * time.Minute)) {
		t.Errorf("next due after a reported step: %v, want +15m", due)
	}
	// The DBA helps with the region failover; a viewer cannot.
	if _, err := a.SetStep(p, herald.StepChange{Position: 2, State: herald.StepRunning}, &dba, t0.Add(4*time.Minute)); err != nil {
		t.Errorf("dba on a region step: %v", err)
	}
	if _, err := a.SetStep(p, herald.StepChange{Position: 2, State: herald.StepDone}, &viewer, t0.Add(4*time.Minute)); !errors.Is(err, herald.ErrForbidden) {
		t.Errorf("viewer on a region step: %v", err)
	}
}

func TestRequestRules(t *testing.T) {
	p := dbFailover(t)
	if _, err := herald.RequestAction(p, openInc, herald.ActionRequest{Reason: "x"}, dba, t0); !errors.Is(err, herald.ErrForbidden) {
		t.Errorf("a DBA requests: %v", err)
	}
	if _, err := herald.RequestAction(p, openInc, herald.ActionRequest{}, commander, t0); !errors.Is(err, herald.ErrInvalid) {
		t.Errorf("a gated request without a reason: %v", err)
	}
	closed := openInc
	closed.Status = herald.Resolved
	if _, err := herald.RequestAction(p, closed, herald.ActionRequest{Reason: "x"}, commander, t0); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("on a resolved incident: %v", err)
	}
	// A rule asks as the engine: then any approver may decide.
	a, err := herald.RequestAction(p, openInc, herald.ActionRequest{Reason: "PagerDuty", Rule: "pagerduty:P1"}, herald.User{}, t0)
	if err != nil || a.RequestedBy.Name != herald.EngineActor {
		t.Fatalf("rule request: %v %+v", err, a.RequestedBy)
	}
	if err := a.Decide(p, true, approver, "", t0); err != nil {
		t.Errorf("approving a rule's request: %v", err)
	}
}

func TestAutomationSignature(t *testing.T) {
	body := []byte(`{"step":{"position":1,"state":"done"}}`)
	sig := herald.SignAutomation("s3cret-s3cret-s3cret", t0, body)
	ts := strconv.FormatInt(t0.Unix(), 10)
	cases := []struct {
		name    string
		secrets []string
		sig, ts string
		body    []byte
		now     time.Time
		ok      bool
	}{
		{"valid", []string{"s3cret-s3cret-s3cret"}, sig, ts, body, t0, true},
		{"rotation: one of several", []string{"new-secret-new-secret", "s3cret-s3cret-s3cret"}, "v1=00," + sig, ts, body, t0, true},
		{"tampered body", []string{"s3cret-s3cret-s3cret"}, sig, ts, []byte(`{"step":{"position":2,"state":"done"}}`), t0, false},
		{"wrong secret", []string{"other-secret-other"}, sig, ts, body, t0, false},
		{"unsigned", []string{"s3cret-s3cret-s3cret"}, "", ts, body, t0, false},
		{"stale", []string{"s3cret-s3cret-s3cret"}, sig, ts, body, t0.Add(6 * time.Minute), false},
		{"from the future", []string{"s3cret-s3cret-s3cret"}, sig, ts, body, t0.Add(-6 * time.Minute), false},
		{"no secret configured", nil, sig, ts, body, t0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := herald.VerifyAutomation(c.secrets, c.sig, c.ts, c.body, c.now)
			if c.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if !c.ok && !errors.Is(err, herald.ErrBadSignature) {
				t.Errorf("err = %v, want ErrBadSignature", err)
			}
			if c.ok && got != sig {
				t.Errorf("matched %q, want %q", got, sig)
			}
		})
	}
}
