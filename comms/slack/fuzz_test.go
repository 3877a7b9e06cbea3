package slack_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/slack"
	"github.com/kredete/herald/comms/slack/slacktest"
)

// fuzzApp is an app whose Slack is never called: Command and Interaction
// only read.
func fuzzApp() *slack.App {
	return slack.NewApp(slack.New("xoxb-fuzz", slack.Options{APIURL: "http://127.0.0.1:9/api/"}), []string{secretNew})
}

// FuzzCommand reads fuzzed slash command bodies (form-encoded, as Slack
// posts them once verified) and then their text as /incident. An accepted
// command has who typed it and which command; the text's reading is
// FuzzParseIncidentCommand's.
func FuzzCommand(f *testing.F) {
	for _, text := range []string{"declare Card payments failing & <@U1>", "", "commander <@U0SIPHO|sipho> #abc123def",
		"update 4f2a9c01", "list", "declare " + hostile} {
		f.Add(slacktest.CommandForm(text, "U0THANDI", "C0INCIDENT", "13345224609.738474920.8088930838d88f008e0").Encode())
	}
	f.Add("user_id=%zz&command=/incident")
	f.Add("user_id=U1&command=/incident&text=a&text=b")
	app := fuzzApp()
	f.Fuzz(func(t *testing.T, body string) {
		c, err := app.Command([]byte(body))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "slack: reading the slash command") {
				t.Fatalf("error %q does not say what was being read", err)
			}
			return
		}
		if c.UserID == "" || c.Command == "" {
			t.Fatalf("accepted without user or command: %+v", c)
		}
		_, _ = herald.ParseIncidentCommand(c.Text)
	})
}

// FuzzInteraction reads fuzzed interactivity payloads: seeded with the
// payloads Slack's fake sends for Herald's own modals (submitted with
// hostile text, and closed) and for a button. An accepted interaction has
// a type and a user; a modal's values are never empty; its private
// metadata reads or is refused, never panics.
func FuzzInteraction(f *testing.F) {
	srv := slacktest.New(f)
	ch := srv.AddChannel("incident-response")
	opener := slack.NewApp(slack.New(srv.Token(), slack.Options{APIURL: strings.TrimSuffix(srv.URL(), "/")}), []string{secretNew})
	ctx := context.Background()
	if err := opener.OpenDeclare(ctx, srv.Trigger(), declareModal(ch)); err != nil {
		f.Fatal(err)
	}
	if err := opener.OpenComposer(ctx, srv.Trigger(), composerModal(ch, 4)); err != nil {
		f.Fatal(err)
	}
	for _, v := range srv.Views() {
		f.Add(v.Submit("U0THANDI", map[string][]string{herald.SlackFieldName: {hostile}, herald.SlackFieldBody: {"line one\n" + hostile},
			herald.SlackFieldImpact: {"major"}, herald.SlackFieldAudiences: {"engineering", "customers"}}))
		f.Add(v.Close("U0THANDI"))
	}
	f.Add(slacktest.BlockActionsPayload("U0THANDI", ch, "1764064800.000100", herald.SlackActionSnooze, "inc_42/public/1", srv.Trigger()))
	f.Add(`{"type":"view_submission","user":{"id":"U1"},"view":{"private_metadata":"{\"version\":\"x\"}","state":{"values":{"b":{"a":{"type":"multi_users_select","selected_users":["",""]}}}}}}`)
	app := fuzzApp()
	f.Fuzz(func(t *testing.T, payload string) {
		in, err := app.Interaction([]byte(url.Values{"payload": {payload}}.Encode()))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "slack: reading the interaction") {
				t.Fatalf("error %q does not say what was being read", err)
			}
			return
		}
		if in.Type == "" || in.UserID == "" {
			t.Fatalf("accepted without a type or a user: %+v", in)
		}
		for block, vs := range in.Values {
			if len(vs) == 0 {
				t.Fatalf("block %q has an empty list of values", block)
			}
			for _, v := range vs {
				if v == "" {
					t.Fatalf("block %q has an empty value", block)
				}
			}
		}
		if in.Value1("absent") != "" {
			t.Fatal("a block not sent has a value")
		}
		if m, err := herald.DecodeSlackModalMeta(in.PrivateMetadata); err == nil && in.PrivateMetadata != "" {
			_ = m.Encode()
		}
	})
}
