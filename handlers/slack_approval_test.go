package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/slack/slacktest"
)

// TestSlackApprovalButtons: a gated failover action's request reaches the
// approver by Slack with Approve and Refuse; a commander's click is
// refused privately and decides nothing; Refuse asks why and will not take
// an empty reason; Approve decides, the request's buttons are replaced by
// who approved and when, and a second click says it is already decided.
func TestSlackApprovalButtons(t *testing.T) {
	forEachSlack(t, func(t *testing.T, e *slackEnv) {
		ctx := context.Background()
		eng := e.startEngine(t)
		in, err := e.store.DeclareIncident(ctx, herald.Declaration{Name: "Primary database down", Impact: herald.ImpactMajor,
			Body: "Investigating."}, e.users[herald.RoleCommander].ID, e.plan.DeclareAudiences(), "test")
		if err != nil {
			t.Fatal(err)
		}
		p, ok := e.plan.Procedure(herald.ProcedureRunbook, "database-failover")
		if !ok || !p.Gated() {
			t.Fatal("the plan has no gated database failover")
		}
		a, err := e.store.RequestAction(ctx, in.ID, p, herald.ActionRequest{Reason: "Primary unreachable"}, e.users[herald.RoleCommander])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.ActionTick(ctx); err != nil {
			t.Fatal(err)
		}
		approver := e.members[herald.RoleApprover]
		var msg slacktest.Message
		waitFor(t, "the approval request", func() (bool, string) {
			for _, m := range e.slack.Messages(e.slack.DMChannel(approver)) {
				if strings.Contains(m.Blocks, herald.SlackActionApprove) && strings.Contains(m.Blocks, a.ID) {
					msg = m
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d calls", len(e.slack.Calls()))
		})
		click := func(member, action string) response {
			t.Helper()
			r := e.interact(slacktest.BlockActionsPayload(member, msg.Channel, msg.TS, action, a.ID, e.slack.Trigger()))
			if r.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", action, r.Code, r.Body)
			}
			return r
		}
		state := func() herald.ActionState {
			t.Helper()
			got, err := e.store.Action(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.State
		}

		// Not the approver: refused, privately.
		boss := e.members[herald.RoleCommander]
		click(boss, herald.SlackActionApprove)
		eph := e.slack.CallsTo("chat.postEphemeral")
		if len(eph) == 0 || eph[len(eph)-1].User != boss || !strings.Contains(eph[len(eph)-1].Text, "approves") {
			t.Errorf("the commander's click was answered %+v", eph)
		}
		if st := state(); st != herald.ActionAwaitingApproval {
			t.Fatalf("state %s after a commander's click", st)
		}

		// Never the requester, even once given the approver role.
		if err := e.store.SetUserRole(ctx, e.users[herald.RoleCommander].ID, herald.RoleApprover, "test"); err != nil {
			t.Fatal(err)
		}
		click(boss, herald.SlackActionApprove)
		eph = e.slack.CallsTo("chat.postEphemeral")
		if len(eph) < 2 || eph[len(eph)-1].User != boss || !strings.Contains(eph[len(eph)-1].Text, "you asked for this action") {
			t.Errorf("the requester's click was answered %+v", eph[len(eph)-1])
		}
		if st := state(); st != herald.ActionAwaitingApproval {
			t.Fatalf("state %s after the requester's click", st)
		}

		// Refuse asks why; an empty reason is refused under the field.
		views := len(e.slack.Views())
		click(approver, herald.SlackActionRefuse)
		if len(e.slack.Views()) != views+1 {
			t.Fatal("Refuse opened no form")
		}
		v := e.lastView(t)
		if v.CallbackID != herald.SlackRefuseCallback {
			t.Fatalf("Refuse opened %s", v.CallbackID)
		}
		r := e.interact(v.Submit(approver, map[string][]string{herald.SlackFieldNote: {""}}))
		if errs := viewErrs(t, r); errs[herald.SlackFieldNote] == "" {
			t.Errorf("an empty reason: %v", errs)
		}
		if st := state(); st != herald.ActionAwaitingApproval {
			t.Fatalf("state %s after an empty refusal", st)
		}

		// Approve: decided, and the request says by whom.
		click(approver, herald.SlackActionApprove)
		if st := state(); st != herald.ActionApproved {
			t.Fatalf("state %s after Approve", st)
		}
		if got := lastUpdate(e.slack, msg.TS); !strings.Contains(got, "Approved by "+e.users[herald.RoleApprover].Name) {
			t.Errorf("the request now says %q", got)
		}
		// A second click (another approver's copy): already decided.
		click(approver, herald.SlackActionApprove)
		if got := lastUpdate(e.slack, msg.TS); !strings.Contains(got, "already approved") {
			t.Errorf("a second click: %q", got)
		}
		// The refusal form submitted late: refused under the field.
		r = e.interact(v.Submit(approver, map[string][]string{herald.SlackFieldNote: {"Too risky now."}}))
		if errs := viewErrs(t, r); !strings.Contains(errs[herald.SlackFieldNote], "cannot be decided") {
			t.Errorf("a late refusal: %v", errs)
		}
		if st := state(); st != herald.ActionApproved {
			t.Errorf("state %s after a late refusal", st)
		}
	})
}
