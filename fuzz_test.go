package herald

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseIncidentCommand reads fuzzed /incident texts. A command read
// has a known verb and, where it names them, an incident id and a Slack
// member in the forms Herald writes and Slack sends; a declaration's title
// is the text after the verb, within the name limit. A refusal says why.
func FuzzParseIncidentCommand(f *testing.F) {
	for _, s := range []string{"", "  HELP ", "declare Card payments  failing", "declare", "status #abc123def", "resolve ABC123DEF",
		"commander <@U123ABC|ada> abc123def", "commander <@W99>", "commander @ada", "list all", "frobnicate",
		"declare " + strings.Repeat("x", MaxNameLen+1), "declare <!channel> <https://evil|bank>", "update\u00a0abc123"} {
		f.Add(s)
	}
	idPattern := regexp.MustCompile(`^[a-z0-9]{6,40}$`)
	memberPattern := regexp.MustCompile(`^[UW][A-Z0-9]+$`)
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseIncidentCommand(text)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		switch c.Verb {
		case VerbDeclare:
			if utf8.RuneCountInString(c.Title) > MaxNameLen || c.Title != strings.TrimSpace(c.Title) {
				t.Fatalf("title %q", c.Title)
			}
			if c.Title != "" && !strings.Contains(text, c.Title) {
				t.Fatalf("title %q is not in %q", c.Title, text)
			}
		case VerbUpdate, VerbStatus, VerbResolve, VerbCommander, VerbList, VerbHelp:
			if c.Title != "" {
				t.Fatalf("%s with a title %q", c.Verb, c.Title)
			}
		default:
			t.Fatalf("unknown verb %q accepted", c.Verb)
		}
		if c.IncidentID != "" && !idPattern.MatchString(c.IncidentID) {
			t.Fatalf("incident id %q", c.IncidentID)
		}
		if (c.Verb == VerbCommander) != (c.UserID != "") || c.UserID != "" && !memberPattern.MatchString(c.UserID) {
			t.Fatalf("%s with member %q", c.Verb, c.UserID)
		}
	})
}

// FuzzVerifyAutomation checks fuzzed signature headers, and a correct one
// built for the fuzzed body: a header is accepted only with a v1=
// signature one of the secrets makes over the timestamp and body within
// the replay window, and then the nonce returned is that signature in
// canonical form; a correct one is always accepted.
func FuzzVerifyAutomation(f *testing.F) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	secrets := []string{"automation-old-secret-0123", "", "automation-new-secret-4567"}
	body := []byte(`{"action_id":"act1","step":{"position":1,"state":"done"}}`)
	good := SignAutomation(secrets[2], now, body)
	ts := strconv.FormatInt(now.Unix(), 10)
	f.Add(good, ts, body, int64(0))
	f.Add("v1=00,"+strings.ToUpper(good), " "+ts+" ", body, int64(299))
	f.Add(strings.Repeat("v1=x,", 100)+good, ts, body, int64(-301))
	f.Add("", "", []byte{}, int64(0))
	f.Fuzz(func(t *testing.T, signature, timestamp string, body []byte, skew int64) {
		nonce, err := VerifyAutomation(secrets, signature, timestamp, body, now)
		if err != nil {
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v is not ErrBadSignature", err)
			}
		} else {
			sec, perr := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
			if perr != nil {
				t.Fatalf("accepted timestamp %q", timestamp)
			}
			at := time.Unix(sec, 0)
			if d := now.Sub(at); d > AutomationReplayWindow || d < -AutomationReplayWindow {
				t.Fatalf("accepted a timestamp %v from now", d)
			}
			if nonce != SignAutomation(secrets[0], at, body) && nonce != SignAutomation(secrets[2], at, body) {
				t.Fatalf("accepted signature %q, which no secret makes", nonce)
			}
			if !strings.Contains(strings.ToLower(signature), nonce) {
				t.Fatalf("nonce %q is not among the signatures sent %q", nonce, signature)
			}
		}
		// The sender's own signature, at any time within the window.
		at := now.Add(time.Duration(skew%int64(AutomationReplayWindow/time.Second)) * time.Second)
		sig := SignAutomation(secrets[0], at, body)
		if got, err := VerifyAutomation(secrets, sig, strconv.FormatInt(at.Unix(), 10), body, now); err != nil || got != sig {
			t.Fatalf("a correct signature is refused: %q, %v", got, err)
		}
	})
}

// FuzzRenderSubscriberMail renders fuzzed incident names, update texts and
// page names into what subscribers receive. A subject is one line (the
// email adapter refuses a subject with a line break, which would leave
// every subscriber untold); the mail carries the update's text and the
// unsubscribe links; the text message keeps its shape and its STOP line;
// the webhook owner's mail shows only the endpoint's host.
func FuzzRenderSubscriberMail(f *testing.F) {
	f.Add("Card payments failing", "We are investigating.\n\nNext update in 30 minutes.", "Kredete", "API Platform")
	f.Add("Outage\r\nBcc: everyone@example.com", "<script>alert(1)</script>", "Kredete\n", "A, B")
	f.Add(strings.Repeat("ünïcödé ", 20), strings.Repeat("x", 10000), "", "")
	f.Add("\u2028\u0085name\x00", " ", "Page\u2029", "\t")
	f.Fuzz(func(t *testing.T, name, body, pageName, component string) {
		page := Page{Name: pageName, URL: "https://status.example.com/"}
		in := Incident{ID: "inc42", Name: name, Kind: KindIncident, Status: Identified}
		up := Update{Status: Identified, Body: body, CreatedAt: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
		links := LinksFor(page.URL, "tok/en+=")
		m := RenderSubscriberMail(page, in, up, []string{component}, links, nil)
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Fatalf("subject %q is more than one line", m.Subject)
		}
		for k, v := range m.Headers {
			if strings.ContainsAny(k+v, "\r\n") {
				t.Fatalf("header %q: %q is more than one line", k, v)
			}
		}
		if !strings.Contains(m.Text, strings.TrimSpace(body)) || !strings.Contains(m.Text, links.Unsubscribe) || !strings.Contains(m.Text, links.Manage) {
			t.Fatalf("the mail lacks the update or its links:\n%s", m.Text)
		}
		sms := RenderSubscriberText(page, in, up)
		if !strings.HasSuffix(sms, ". Reply STOP to unsubscribe.") {
			t.Fatalf("text %q has lost its STOP line", sms)
		}
		if n := utf8.RuneCountInString(sms) - utf8.RuneCountInString(pageName); n > 80+len(": — . Reply STOP to unsubscribe.")+len(up.Status.Label()) {
			t.Fatalf("text %q carries more of the name than 80 characters", sms)
		}
		sub := Subscriber{Channel: SubscriberWebhook, Address: "https://hooks.example.com/" + name + "?token=" + body}
		subject, text := RenderWebhookDisabledMail(page, sub, 3, body, "https://status.example.com/subscribe?via=webhook")
		if strings.ContainsAny(subject, "\r\n") {
			t.Fatalf("subject %q is more than one line", subject)
		}
		if host := EndpointHost(sub.Address); strings.Contains(host, "/") || strings.Contains(host, "?") {
			t.Fatalf("the endpoint is shown as %q, more than its host", host)
		}
		_ = text
	})
}

// markdownMarks counts, line by line, what Markdown reads as markup: the
// characters mdText escapes, when not escaped. Rendering fuzzed text must
// give the same lines and marks as rendering a plain word in its place:
// then no user text made a heading, a table cell, a link, emphasis, code
// or HTML.
func markdownMarks(doc string) []string {
	var out []string
	for _, line := range strings.Split(doc, "\n") {
		var marks []byte
		escaped := false
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case strings.IndexByte("<>*_`[]|#", c) >= 0:
				marks = append(marks, c)
			}
		}
		out = append(out, string(marks))
	}
	return out
}

// FuzzReportMarkdown writes the post-incident report with fuzzed user text
// in every field that carries some (names, update and message texts,
// timeline lines, people, regulator calls, action reasons and notes).
func FuzzReportMarkdown(f *testing.F) {
	f.Add("Card payments failing", "We are investigating.", "Ada Lovelace")
	f.Add("<script>alert(1)</script>", "[click](javascript:alert(1)) ![x](https://evil/x.png)", "*bold* _it_ `code` | cell | # h")
	f.Add("line one\nline two", "\n\n# Heading\n\n| a | b |\n|---|---|\n", "\\*not escaped\\")
	f.Add("<https://evil.example>", "&lt;b&gt; &#60;img&#62;", "name\r\n---")
	f.Fuzz(func(t *testing.T, name, text, person string) {
		render := func(name, text, person string) string {
			at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
			done := at.Add(time.Hour)
			in := Incident{ID: "inc42", Name: name, Kind: KindIncident, Status: Resolved, Impact: ImpactMajor, CreatedAt: at, StartedAt: at,
				ResolvedAt: &done, RestoredAt: &done, RestoredBy: person, ComponentIDs: []string{"cmp_api"},
				Updates: []Update{{Status: Investigating, Body: text, CreatedAt: at}, {Status: Resolved, Body: text, CreatedAt: done}}}
			r := Report{
				Incident: in, Components: map[string]Component{"cmp_api": {ID: "cmp_api", Name: name}},
				Roles:          map[IncidentRole]string{SeatCommander: person},
				Timeline:       []TimelineEvent{{Kind: "note", Actor: person, Summary: text, At: at}},
				Communications: []Communication{{Audience: "executives", Author: person, Body: text, CreatedAt: at}},
				Reports:        []RegulatorReport{{Step: "initial", CalledBy: person, Whom: name, Reference: text, At: at}},
				Actions: []Action{{Name: "Database failover", State: ActionRefused, Reason: text, RequestedBy: Actor{Name: person},
					RequestedAt: at, DecidedBy: Actor{Name: person}, DecidedAt: &at, DecisionNote: text,
					Steps: []ActionStep{{Position: 1, Name: "Promote the replica"}}}},
				PagerDuty:   []PagerDutyLink{{PDIncidentID: "Q1", ServiceName: name, Direction: "in"}},
				GeneratedAt: done,
			}
			return r.Markdown()
		}
		// The stand-in keeps what the report looks at: whether there is
		// any text at all.
		plain := func(s string) string {
			if strings.TrimSpace(s) == "" {
				return s
			}
			return "x"
		}
		got := markdownMarks(render(name, text, person))
		want := markdownMarks(render(plain(name), plain(text), plain(person)))
		if len(got) != len(want) {
			t.Fatalf("user text changed the report's lines (%d, want %d):\n%s", len(got), len(want), render(name, text, person))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("user text made markup on line %d: %q, want %q:\n%s", i+1, got[i], want[i], render(name, text, person))
			}
		}
	})
}
