package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/comms/slack"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/store"
)

// TestSlackReminderToPublicUpdate is the commander's loop end to end, on
// the engine's clock: the public page's reminder arrives as a direct
// message with buttons; "Post public update" opens the composer for that
// audience; the submission updates the status page (its API shows it) and
// resets the public clock (the next obligation is due a full cadence
// later); the spent reminder's "Snooze" says it is no longer current. The
// next reminder is snoozed (its buttons replaced by who and until when, on
// the timeline too) and acknowledged. Every Slack call is asserted from
// the stand-in's record.
func TestSlackReminderToPublicUpdate(t *testing.T) {
	forEachSlack(t, func(t *testing.T, e *slackEnv) {
		ctx := context.Background()
		eng := e.startEngine(t)

		boss := e.users[herald.RoleCommander]
		member := e.members[herald.RoleCommander]
		in, err := e.store.DeclareIncident(ctx, herald.Declaration{Name: "Card payments failing", Impact: herald.ImpactMajor,
			Body: "We are investigating failed card payments."}, boss.ID, e.plan.DeclareAudiences(), "test")
		if err != nil {
			t.Fatal(err)
		}
		public := func() herald.Obligation {
			t.Helper()
			told, err := e.store.Communications(ctx, []string{in.ID})
			if err != nil {
				t.Fatal(err)
			}
			cur, err := e.store.Incident(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, ob := range herald.Obligations(e.plan, cur, told, nil) {
				if ob.Audience == "public" {
					return ob
				}
			}
			t.Fatal("no public obligation")
			return herald.Obligation{}
		}
		first := public()

		// The reminder 5 minutes before the public update is due.
		reminder := func(ob herald.Obligation) slacktest.Message {
			t.Helper()
			e.clock.Set(ob.Due.Add(-5*time.Minute + time.Second))
			if _, err := eng.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			var msg slacktest.Message
			waitFor(t, "the reminder's direct message", func() (bool, string) {
				dm := e.slack.DMChannel(member) // opened by the first direct message
				for _, m := range e.slack.Messages(dm) {
					if strings.Contains(m.Blocks, ob.Key()) {
						msg = m
						return true, ""
					}
				}
				ds, _ := e.store.Deliveries(ctx, in.ID, 100)
				var b strings.Builder
				for _, d := range ds {
					fmt.Fprintf(&b, "[%s %s %s %s %s] ", d.Kind, d.Channel, d.Recipient, d.State, d.LastError)
				}
				for _, c := range e.slack.Calls() {
					fmt.Fprintf(&b, "{%s %s %s} ", c.Method, c.Channel, c.Error)
				}
				return false, fmt.Sprintf("%d messages in the DM %s; deliveries %s", len(e.slack.Messages(dm)), dm, b.String())
			})
			for _, id := range []string{herald.SlackActionPostUpdate, herald.SlackActionSnooze, herald.SlackActionAck} {
				if !strings.Contains(msg.Blocks, id) {
					t.Errorf("the reminder has no %s button: %s", id, msg.Blocks)
				}
			}
			return msg
		}
		msg := reminder(first)

		// "Post public update": the composer, for the public audience.
		click := func(action, value string) response {
			t.Helper()
			return e.interact(slacktest.BlockActionsPayload(member, msg.Channel, msg.TS, action, value, e.slack.Trigger()))
		}
		if r := click(herald.SlackActionPostUpdate, in.ID+"|public"); r.Code != http.StatusOK {
			t.Fatalf("post update button: %d %s", r.Code, r.Body)
		}
		v := e.lastView(t)
		if v.CallbackID != herald.SlackComposerCallback || !strings.Contains(v.JSON, "Card payments failing") {
			t.Fatalf("the button opened %s: %s", v.CallbackID, v.JSON)
		}
		posted := e.clock.Now()
		r := e.interact(v.Submit(member, map[string][]string{herald.SlackFieldStatus: {"identified"},
			herald.SlackFieldMain: {"A card network certificate expired; renewing it now."}, herald.SlackFieldAudiences: {"public"}}))
		if r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("composer: %d %s", r.Code, r.Body)
		}
		// The status page's API shows it.
		var doc struct {
			Incidents []struct {
				Status          string `json:"status"`
				IncidentUpdates []struct {
					Body string `json:"body"`
				} `json:"incident_updates"`
			} `json:"incidents"`
		}
		page := e.do(http.MethodGet, "/api/v2/incidents/unresolved.json", nil)
		if err := json.Unmarshal(page.Body, &doc); err != nil || len(doc.Incidents) != 1 || doc.Incidents[0].Status != "identified" ||
			doc.Incidents[0].IncidentUpdates[0].Body != "A card network certificate expired; renewing it now." {
			t.Fatalf("the public API after the button: %s", page.Body)
		}
		// The reminder that opened it says so, its buttons gone.
		if got := lastUpdate(e.slack, msg.TS); !strings.Contains(got, "Update posted by "+boss.Name) {
			t.Errorf("the reminder after the post says %q", got)
		}
		// The public clock restarted: due a full cadence after the post.
		second := public()
		// (The test clock moves a second at each reading.)
		pa, _ := e.plan.AudienceByKey("public")
		if want := posted.Add(pa.Cadence.Interval); second.Due.Before(want) || second.Due.After(want.Add(10*time.Second)) || second.Key() == first.Key() {
			t.Errorf("the next public update is due %s; want a cadence after the post, %s", second.Due, want)
		}
		// The spent reminder's snooze: no longer current.
		if r := click(herald.SlackActionSnooze, first.Key()); r.Code != http.StatusOK {
			t.Fatalf("snooze: %d", r.Code)
		}
		if got := lastUpdate(e.slack, msg.TS); !strings.Contains(got, "no longer current") {
			t.Errorf("the spent reminder now says %q", got)
		}

		// The next reminder: snoozed, then acknowledged.
		msg = reminder(second)
		if r := click(herald.SlackActionSnooze, second.Key()); r.Code != http.StatusOK {
			t.Fatalf("snooze: %d", r.Code)
		}
		if got := lastUpdate(e.slack, msg.TS); !strings.Contains(got, "Snoozed by "+boss.Name) || !strings.Contains(got, "until") {
			t.Errorf("the snoozed reminder says %q", got)
		}
		// A second answer to the same message (a stale copy of its
		// buttons) changes nothing.
		if r := click(herald.SlackActionAck, second.Key()); r.Code != http.StatusOK {
			t.Fatalf("ack: %d", r.Code)
		}
		if eph := e.slack.CallsTo("chat.postEphemeral"); len(eph) == 0 || !strings.Contains(eph[len(eph)-1].Text, "already answered") {
			t.Errorf("a second answer to one reminder was not refused: %+v", eph)
		}
		// At due, the reminder "Due now" (the snooze ended at due, so no
		// extra one): acknowledged.
		e.clock.Set(second.Due.Add(time.Second))
		if _, err := eng.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		snoozed := msg.TS
		waitFor(t, "the due reminder", func() (bool, string) {
			for _, m := range e.slack.Messages(e.slack.DMChannel(member)) {
				if m.TS != snoozed && strings.Contains(m.Text, "Due now") {
					msg = m
					return true, ""
				}
			}
			return false, "no Due now message"
		})
		if r := click(herald.SlackActionAck, second.Key()); r.Code != http.StatusOK {
			t.Fatalf("ack: %d", r.Code)
		}
		if got := lastUpdate(e.slack, msg.TS); !strings.Contains(got, boss.Name+" is on it") {
			t.Errorf("the acknowledged reminder says %q", got)
		}
		answers, err := e.store.ReminderResponses(ctx, []string{in.ID})
		if err != nil || len(answers) != 2 || answers[0].Kind != herald.ResponseSnooze || answers[1].Kind != herald.ResponseAck ||
			!answers[0].Until.Equal(second.Due) {
			t.Errorf("answers %+v, %v; want a snooze until due (5 minutes away) and an acknowledgement", answers, err)
		}
		tl, err := e.store.Timeline(ctx, in.ID, "reminder")
		if err != nil || len(tl) != 2 {
			t.Errorf("timeline %+v, %v; want the snooze and the acknowledgement", tl, err)
		}
		// A member without the role: refused, privately.
		viewer := e.members[herald.RoleViewer]
		r = e.interact(slacktest.BlockActionsPayload(viewer, msg.Channel, msg.TS, herald.SlackActionSnooze, second.Key(), e.slack.Trigger()))
		if r.Code != http.StatusOK {
			t.Fatalf("viewer's snooze: %d", r.Code)
		}
		eph := e.slack.CallsTo("chat.postEphemeral")
		if len(eph) == 0 || !strings.Contains(eph[len(eph)-1].Text, "cannot answer reminders") || eph[len(eph)-1].User != viewer {
			t.Errorf("the viewer was told %+v", eph)
		}
		if answers, _ := e.store.ReminderResponses(ctx, []string{in.ID}); len(answers) != 2 {
			t.Errorf("a refused snooze was recorded: %+v", answers)
		}
	})
}

// lastUpdate is the text of the last chat.update of the message ts.
func lastUpdate(s *slacktest.Server, ts string) string {
	calls := s.CallsTo("chat.update")
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].TS == ts {
			return calls[i].Text + " " + calls[i].Blocks
		}
	}
	return ""
}

// waitFor polls cond every 20 ms for up to 15 s.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; saw %s", what, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startEngine runs the cadence engine on the env's store and clock, with
// the Slack channel (buttons on) against the stand-in, until the test ends.
func (e *slackEnv) startEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e.slack.AddChannel("incident-response")
	e.store.EnableDeliveries(e.plan)
	eng := engine.New(engine.Options{Plan: e.plan, Store: e.store, Now: e.clock.Now, Location: time.UTC,
		Channels: map[herald.Channel]comms.Channel{herald.ChannelSlack: slack.New(e.slack.Token(),
			slack.Options{APIURL: e.slack.URL(), Interactive: true})}})
	q, err := e.store.StartQueue(context.Background(), eng.Deliver, store.QueueOptions{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(sctx)
	})
	return eng
}
