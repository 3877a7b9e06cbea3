package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/slack"
	"github.com/kredete/herald/comms/slack/slacktest"
)

// Compile-time checks: Slack's refusals are errors, and the adapter's
// failures are what the engine's retry rule understands.
var (
	_ error = (*slack.APIError)(nil)
	_ error = (*comms.TemporaryError)(nil)
)

const console = "https://herald.kredete.com"

var (
	started = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	now     = started.Add(25 * time.Minute)
)

func setup(t *testing.T) (*slacktest.Server, *slack.Client, string) {
	t.Helper()
	srv := slacktest.New(t)
	ch := srv.AddChannel("incident-response")
	c := slack.New(srv.Token(), slack.Options{
		APIURL:     strings.TrimSuffix(srv.URL(), "/"), // New adds the slash slack-go needs
		ConsoleURL: console + "/",
		Now:        func() time.Time { return now },
	})
	return srv, c, ch
}

func components() map[string]herald.Component {
	return map[string]herald.Component{
		"cmp_api":  {ID: "cmp_api", Name: "API Platform", Status: herald.MajorOutage},
		"cmp_pay":  {ID: "cmp_pay", Name: "Payments", Status: herald.DegradedPerformance},
		"cmp_auth": {ID: "cmp_auth", Name: "Login", Status: herald.Operational},
	}
}

func incident() herald.Incident {
	return herald.Incident{
		ID: "inc_42", Kind: herald.KindIncident, Name: "Card payments failing",
		Status: herald.Investigating, Impact: herald.ImpactMajor,
		ComponentIDs: []string{"cmp_api", "cmp_pay"},
		StartedAt:    started, CreatedAt: started, UpdatedAt: started,
	}
}

// textObject is a Block Kit text object found anywhere in a message.
type textObject struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Verbatim bool   `json:"verbatim"`
}

// textObjects walks a blocks JSON array and returns every text object.
func textObjects(t *testing.T, blocksJSON string) []textObject {
	t.Helper()
	if blocksJSON == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(blocksJSON), &v); err != nil {
		t.Fatalf("blocks are not JSON: %v\n%s", err, blocksJSON)
	}
	var out []textObject
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if typ, _ := v["type"].(string); typ == "mrkdwn" || typ == "plain_text" {
				if text, ok := v["text"].(string); ok {
					verbatim, _ := v["verbatim"].(bool)
					out = append(out, textObject{typ, text, verbatim})
					return
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func allText(t *testing.T, m slacktest.Message) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(m.Text)
	for _, o := range textObjects(t, m.Blocks) {
		b.WriteString("\n" + o.Text)
	}
	return b.String()
}

func TestThreadPostReplyUpdate(t *testing.T) {
	srv, c, ch := setup(t)
	ctx := t.Context()
	in, comps := incident(), components()

	parent, err := c.PostIncident(ctx, "#incident-response", in, comps, "Thandi Nkosi")
	if err != nil {
		t.Fatalf("PostIncident: %v", err)
	}
	if parent.Channel != ch || parent.ProviderID == "" {
		t.Fatalf("receipt = %+v, want channel %s and a ts", parent, ch)
	}

	u := herald.Update{
		ID: "upd_2", IncidentID: in.ID, Status: herald.Identified, DisplayAt: now,
		Body:    "The card processor's TLS certificate expired. Rotating it now.",
		Changes: []herald.ComponentChange{{ComponentID: "cmp_pay", Name: "Payments", Old: herald.DegradedPerformance, New: herald.MajorOutage}},
	}
	text, blocks := slack.UpdateBlocks(u)
	r1, err := c.Reply(ctx, parent.Channel, parent.ProviderID, text, blocks...)
	if err != nil {
		t.Fatalf("Reply(update): %v", err)
	}
	text, blocks = slack.RoleBlocks(herald.Assignment{Role: herald.SeatDeputy, UserName: "Sipho Dlamini", AssignedBy: "Thandi Nkosi"})
	r2, err := c.Reply(ctx, parent.Channel, parent.ProviderID, text, blocks...)
	if err != nil {
		t.Fatalf("Reply(role): %v", err)
	}
	text, blocks = slack.EventBlocks("Failover: database promoted in eu-west-1b")
	r3, err := c.Reply(ctx, parent.Channel, parent.ProviderID, text, blocks...)
	if err != nil {
		t.Fatalf("Reply(event): %v", err)
	}

	in.Status, in.UpdatedAt = herald.Identified, now
	comps["cmp_pay"] = herald.Component{ID: "cmp_pay", Name: "Payments", Status: herald.MajorOutage}
	if err := c.UpdateIncident(ctx, parent.Channel, parent.ProviderID, in, comps, "Thandi Nkosi"); err != nil {
		t.Fatalf("UpdateIncident: %v", err)
	}

	msgs := srv.Messages(ch)
	if len(msgs) != 4 {
		t.Fatalf("channel holds %d messages, want the parent and 3 replies", len(msgs))
	}
	wantTS := []string{parent.ProviderID, r1.ProviderID, r2.ProviderID, r3.ProviderID}
	for i, m := range msgs {
		if m.TS != wantTS[i] {
			t.Errorf("message %d ts = %s, want %s (order kept)", i, m.TS, wantTS[i])
		}
		if i > 0 && m.TS <= msgs[i-1].TS {
			t.Errorf("ts not increasing: %s after %s", m.TS, msgs[i-1].TS)
		}
	}
	if msgs[0].ThreadTS != "" {
		t.Errorf("parent has thread_ts %q", msgs[0].ThreadTS)
	}
	replies := srv.Replies(ch, parent.ProviderID)
	if len(replies) != 3 {
		t.Fatalf("thread has %d replies, want 3", len(replies))
	}
	for _, r := range []comms.Receipt{r1, r2, r3} {
		if r.Channel != ch {
			t.Errorf("reply receipt channel = %s, want %s", r.Channel, ch)
		}
	}

	got := srv.Messages(ch)[0]
	if got.Edits != 1 {
		t.Errorf("parent edited %d times, want 1 (in place)", got.Edits)
	}
	all := allText(t, got)
	for _, want := range []string{"Identified", "*Payments*: Major outage", "*API Platform*: Major outage"} {
		if !strings.Contains(all, want) {
			t.Errorf("updated parent lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "Investigating") {
		t.Errorf("updated parent still says Investigating:\n%s", all)
	}
	upd := srv.CallsTo("chat.update")
	if len(upd) != 1 || upd[0].TS != parent.ProviderID || upd[0].Channel != ch || !upd[0].OK() {
		t.Errorf("chat.update calls = %+v", upd)
	}

	reply := allText(t, replies[0])
	for _, want := range []string{"*Identified*", "TLS certificate expired", "*Payments*: Degraded performance → Major outage"} {
		if !strings.Contains(reply, want) {
			t.Errorf("update reply lacks %q:\n%s", want, reply)
		}
	}
	if !strings.Contains(allText(t, replies[1]), "*Sipho Dlamini* is now Deputy (assigned by Thandi Nkosi)") {
		t.Errorf("role reply = %s", allText(t, replies[1]))
	}
	if !strings.Contains(replies[2].Text, "database promoted") {
		t.Errorf("event reply text = %q", replies[2].Text)
	}
}

func TestParentContent(t *testing.T) {
	srv, c, ch := setup(t)
	in := incident()
	in.ComponentIDs = append(in.ComponentIDs, "cmp_gone") // deleted since: shown by id
	r, err := c.PostIncident(t.Context(), ch, in, components(), "Thandi Nkosi")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := srv.Message(ch, r.ProviderID)
	if !ok {
		t.Fatal("parent not stored")
	}
	all := allText(t, m)
	for _, want := range []string{
		"Card payments failing", // header
		"*Status*\n", "Investigating",
		"*Impact*\nMajor",
		"*Commander*\nThandi Nkosi",
		"Open for 25m",
		"<!date^" + strconv.FormatInt(started.Unix(), 10) + "^",
		"• *API Platform*: Major outage",
		"• *Payments*: Degraded performance",
		"• *cmp_gone*",
		"Open in Herald",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("parent lacks %q:\n%s", want, all)
		}
	}
	link := console + "/console/incidents/inc_42"
	if !strings.Contains(m.Blocks, `"url":"`+link+`"`) {
		t.Errorf("parent has no button to %s:\n%s", link, m.Blocks)
	}
	if c.IncidentURL("inc_42") != link {
		t.Errorf("IncidentURL = %q", c.IncidentURL("inc_42"))
	}
	if !strings.HasPrefix(m.Text, "Card payments failing: Investigating, major impact") {
		t.Errorf("fallback text = %q", m.Text)
	}

	// Unassigned, resolved, and no console URL: no link at all.
	bare := slack.New(srv.Token(), slack.Options{APIURL: srv.URL(), Now: func() time.Time { return now }})
	resolved := now.Add(40 * time.Minute)
	in.Status, in.ResolvedAt = herald.Resolved, &resolved
	r, err = bare.PostIncident(t.Context(), ch, in, components(), "")
	if err != nil {
		t.Fatal(err)
	}
	m, _ = srv.Message(ch, r.ProviderID)
	all = allText(t, m)
	for _, want := range []string{"_Unassigned_", "*Duration*\n1h 5m", ":white_check_mark: Resolved"} {
		if !strings.Contains(all, want) {
			t.Errorf("resolved parent lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(m.Blocks, "console/incidents") || strings.Contains(m.Blocks, "button") {
		t.Errorf("parent links to a console it was not given:\n%s", m.Blocks)
	}
}

func TestDirectMessage(t *testing.T) {
	srv, c, _ := setup(t)
	uid := srv.AddUser("Thandi@Kredete.com", "Thandi Nkosi")

	r, err := c.DirectMessage(t.Context(), "thandi@kredete.com", "Reminder: the next public update on inc_42 is due in 5 minutes")
	if err != nil {
		t.Fatalf("DirectMessage: %v", err)
	}
	dm := srv.DMChannel(uid)
	if dm == "" || r.Channel != dm || r.ProviderID == "" {
		t.Fatalf("receipt = %+v, want the DM channel %q", r, dm)
	}
	msgs := srv.Messages(dm)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "due in 5 minutes") {
		t.Fatalf("DM channel holds %+v", msgs)
	}
	if calls := srv.CallsTo("users.lookupByEmail"); len(calls) != 1 || calls[0].Email != "thandi@kredete.com" {
		t.Errorf("lookup calls = %+v", calls)
	}

	_, err = c.DirectMessage(t.Context(), "nobody@kredete.com", "hello")
	if !errors.Is(err, slack.ErrUserNotFound) {
		t.Fatalf("unknown email: err = %v, want ErrUserNotFound", err)
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("unknown email is retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "users_not_found") || !strings.Contains(err.Error(), "no Slack member has this email") {
		t.Errorf("error does not say so: %v", err)
	}
	if n := len(srv.CallsTo("chat.postMessage")); n != 1 {
		t.Errorf("%d messages posted, want 1 (none for the unknown email)", n)
	}
}

func TestErrors(t *testing.T) {
	const secret = "xoxb-1111-2222-SuperSecretTokenValue"
	tests := []struct {
		name      string
		arrange   func(*slacktest.Server)
		token     string
		channel   string
		ctx       func(*testing.T) context.Context
		retryable bool
		after     time.Duration
		code      string // Slack's code, for refusals
	}{
		{name: "rate limited", arrange: func(s *slacktest.Server) { s.FailNext(1, http.StatusTooManyRequests, 30*time.Second) },
			retryable: true, after: 30 * time.Second},
		{name: "500", arrange: func(s *slacktest.Server) { s.FailNext(1, http.StatusInternalServerError, 0) }, retryable: true},
		{name: "503", arrange: func(s *slacktest.Server) { s.FailNext(1, http.StatusServiceUnavailable, 0) }, retryable: true},
		{name: "down", arrange: func(s *slacktest.Server) { s.SetDown(true) }, retryable: true},
		{name: "timeout", arrange: func(s *slacktest.Server) { s.SetLatency(time.Minute) }, retryable: true,
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			}},
		{name: "unknown channel", channel: "#no-such-channel", code: "channel_not_found"},
		{name: "not in channel", arrange: func(s *slacktest.Server) { s.SetMember("incident-response", false) }, code: "not_in_channel"},
		{name: "wrong token", token: "xoxb-9999-8888-WrongTokenValue", code: "invalid_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := slacktest.New(t)
			srv.SetToken(secret)
			srv.AddChannel("incident-response")
			if tt.arrange != nil {
				tt.arrange(srv)
			}
			token := secret
			if tt.token != "" {
				token = tt.token
			}
			ch := "#incident-response"
			if tt.channel != "" {
				ch = tt.channel
			}
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(t)
			}
			c := slack.New(token, slack.Options{APIURL: srv.URL(), ConsoleURL: console})

			_, err := c.PostIncident(ctx, ch, incident(), components(), "Thandi Nkosi")
			if err == nil {
				t.Fatal("PostIncident succeeded, want an error")
			}
			retryable, after := comms.Retryable(err)
			if retryable != tt.retryable || after != tt.after {
				t.Errorf("Retryable(%v) = %v, %v; want %v, %v", err, retryable, after, tt.retryable, tt.after)
			}
			if tt.code != "" {
				var ae *slack.APIError
				if !errors.As(err, &ae) || ae.Code != tt.code || ae.Method != "chat.postMessage" {
					t.Errorf("err = %#v, want an *APIError with code %s", err, tt.code)
				}
				if !strings.Contains(err.Error(), tt.code) {
					t.Errorf("error %q does not name %s", err, tt.code)
				}
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "SuperSecret") || strings.Contains(err.Error(), "WrongToken") {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

// The engine retries a temporary failure; the next attempt goes through.
func TestRecoversAfterFailure(t *testing.T) {
	srv, c, ch := setup(t)
	srv.FailNext(2, http.StatusServiceUnavailable, 0)
	for i := range 2 {
		if _, err := c.Reply(t.Context(), ch, "1732550000.000100", "x"); err == nil {
			t.Fatalf("attempt %d succeeded during the outage", i)
		}
	}
	r, err := c.PostIncident(t.Context(), ch, incident(), components(), "")
	if err != nil || r.ProviderID == "" {
		t.Fatalf("after the outage: %+v, %v", r, err)
	}
	calls := srv.Calls()
	if len(calls) != 3 || calls[0].Status != 503 || !calls[2].OK() {
		t.Errorf("calls = %+v", calls)
	}
	srv.SetDown(true)
	if err := c.AuthTest(t.Context()); err == nil {
		t.Fatal("AuthTest passed while Slack was down")
	}
	srv.SetDown(false)
	if err := c.AuthTest(t.Context()); err != nil {
		t.Fatalf("AuthTest: %v", err)
	}
}

func TestEscapesUserText(t *testing.T) {
	srv, c, ch := setup(t)
	hostile := "<!channel> Payments & <https://evil.example|your bank> <@U0BOSS> <!here>"
	in := incident()
	in.Name = hostile
	comps := components()
	comps["cmp_api"] = herald.Component{ID: "cmp_api", Name: "<!everyone> API", Status: herald.MajorOutage}

	p, err := c.PostIncident(t.Context(), ch, in, comps, "<@U0BOSS>")
	if err != nil {
		t.Fatal(err)
	}
	text, blocks := slack.UpdateBlocks(herald.Update{Status: herald.Identified, Body: hostile, DisplayAt: now,
		Changes: []herald.ComponentChange{{Name: "<!channel>", Old: herald.Operational, New: herald.MajorOutage}}})
	if _, err := c.Reply(t.Context(), ch, p.ProviderID, text, blocks...); err != nil {
		t.Fatal(err)
	}
	text, blocks = slack.EventBlocks(hostile)
	if _, err := c.Reply(t.Context(), ch, p.ProviderID, text, blocks...); err != nil {
		t.Fatal(err)
	}
	text, blocks = slack.RoleBlocks(herald.Assignment{Role: herald.SeatCommander, UserName: "<!channel>", AssignedBy: "<!here>"})
	if _, err := c.Reply(t.Context(), ch, p.ProviderID, text, blocks...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reply(t.Context(), ch, p.ProviderID, hostile); err != nil {
		t.Fatal(err)
	}

	// A bare URL may become a link showing itself; a disguised one may not.
	bad := []string{"<!channel>", "<!here>", "<!everyone>", "<@U0BOSS>", "<https://evil.example|"}
	for i, m := range srv.Messages(ch) {
		// Slack parses the top-level text and mrkdwn; plain_text (the
		// header) is shown as written and never pings.
		parsed := []string{m.Text}
		for _, o := range textObjects(t, m.Blocks) {
			if o.Type == "mrkdwn" {
				parsed = append(parsed, o.Text)
				if !o.Verbatim {
					t.Errorf("message %d: mrkdwn without verbatim lets Slack parse mentions: %q", i, o.Text)
				}
			}
		}
		for _, s := range parsed {
			for _, b := range bad {
				if strings.Contains(s, b) {
					t.Errorf("message %d carries %q unescaped: %q", i, b, s)
				}
			}
		}
		if !strings.Contains(strings.Join(parsed, "\n"), "&lt;!channel&gt;") {
			t.Errorf("message %d lost the escaped text: %q", i, parsed)
		}
	}
	if got := slack.Escape(`a & b <c> "d"`); got != `a &amp; b &lt;c&gt; "d"` {
		t.Errorf("Escape = %q", got)
	}
}

func TestLongBodyAndLinks(t *testing.T) {
	srv, c, ch := setup(t)
	p, err := c.PostIncident(t.Context(), ch, incident(), components(), "")
	if err != nil {
		t.Fatal(err)
	}
	// The longest body Herald accepts, made of the character that grows
	// most when escaped, plus a dashboard link.
	body := "See https://grafana.example/d/abc?from=1&to=2. " + strings.Repeat("R&D <ok> ", herald.MaxBodyLen/9-10)
	if n := utf8.RuneCountInString(body); n > herald.MaxBodyLen {
		t.Fatalf("test body is %d characters, over the limit", n)
	}
	text, blocks := slack.UpdateBlocks(herald.Update{Status: herald.Monitoring, Body: body, DisplayAt: now})
	if _, err := c.Reply(t.Context(), ch, p.ProviderID, text, blocks...); err != nil {
		t.Fatalf("long reply refused: %v", err)
	}
	reps := srv.Replies(ch, p.ProviderID)
	if len(reps) != 1 {
		t.Fatalf("%d replies", len(reps))
	}
	objs := textObjects(t, reps[0].Blocks)
	if len(objs) < 2 {
		t.Fatalf("a %d-character body fits one section?", len(body))
	}
	var joined strings.Builder
	for _, o := range objs {
		if n := utf8.RuneCountInString(o.Text); n > 3000 {
			t.Errorf("section of %d characters, over Slack's 3000", n)
		}
		joined.WriteString(o.Text)
	}
	all := joined.String()
	if !strings.Contains(all, "<https://grafana.example/d/abc?from=1&amp;to=2>. ") {
		t.Errorf("dashboard link not made a link: %.200s", all)
	}
	if got, want := strings.Count(all, "R&amp;D &lt;ok&gt;"), herald.MaxBodyLen/9-10; got != want {
		t.Errorf("body pieces = %d, want %d (nothing lost at the cuts)", got, want)
	}
	if n := utf8.RuneCountInString(reps[0].Text); n > 4000*5 {
		t.Errorf("fallback text is %d characters", n)
	}
}

func TestReplyNeedsThread(t *testing.T) {
	srv, c, ch := setup(t)
	if _, err := c.Reply(t.Context(), ch, "", "x"); err == nil {
		t.Fatal("Reply without a thread ts posted to the channel")
	}
	_, err := c.Reply(t.Context(), ch, "1.000000", "x")
	var ae *slack.APIError
	if !errors.As(err, &ae) || ae.Code != "invalid_thread_ts" {
		t.Fatalf("reply to an unknown thread: %v", err)
	}
	if len(srv.Messages(ch)) != 0 {
		t.Error("messages were posted")
	}
}
