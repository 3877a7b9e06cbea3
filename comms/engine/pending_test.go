package engine_test

import (
	"strings"
	"testing"

	"github.com/kredete/herald"
)

// TestPendingActionTellsPeople: a gated action waiting for approval tells
// every approver (not the requester) once, by Slack direct message and
// email; once approved, it tells the DBAs, once.
func TestPendingActionTellsPeople(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{})
		eng := e.engine(e.st, nil)
		mk := func(email, name string, role herald.Role) herald.User {
			u, err := e.st.CreateUser(e.ctx, herald.NewUser{Email: email, Name: name, Role: role,
				Password: "correct horse battery"}, "x", "test")
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		vp := mk("vusi@kredete.example", "Vusi VP", herald.RoleApprover)
		mk("dineo@kredete.example", "Dineo DBA", herald.RoleDBA)
		e.slack.AddUser("vusi@kredete.example", "Vusi VP")
		in := e.declare("Primary database down")
		p, _ := e.plan.Procedure(herald.ProcedureRunbook, "database-failover")
		a, err := e.st.RequestAction(e.ctx, in.ID, p, herald.ActionRequest{Reason: "Primary unreachable"}, e.boss)
		if err != nil {
			t.Fatal(err)
		}
		told := func(what string) map[string]int {
			out := map[string]int{}
			for _, d := range e.deliveries(in.ID) {
				if d.Kind == herald.KindReminder && strings.Contains(d.Subject, what) {
					out[string(d.Channel)+" "+d.Recipient]++
				}
			}
			return out
		}
		for range 2 { // the second pass tells nobody again
			if _, err := eng.ActionTick(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		got := told("needs your approval")
		want := map[string]int{"slack vusi@kredete.example": 1, "email vusi@kredete.example": 1}
		if len(got) != len(want) || got["slack vusi@kredete.example"] != 1 || got["email vusi@kredete.example"] != 1 {
			t.Errorf("approval requests %v; want %v (the approver, once, on both channels)", got, want)
		}
		if _, err := e.st.DecideAction(e.ctx, a.ID, 0, p, true, vp, "Go"); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := eng.ActionTick(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := told("waits for you to start it"); got["email dineo@kredete.example"] != 1 || len(got) > 2 {
			t.Errorf("the DBA told %v; want one email (and a Slack DM when Slack knows them)", got)
		}
	})
}
