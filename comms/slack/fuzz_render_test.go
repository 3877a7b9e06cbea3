package slack

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/kredete/herald"
)

var (
	// What Herald itself writes between < and > in mrkdwn: a date, a link
	// made from a URL in the text (no |: it cannot be disguised), the
	// console link of a message cut short.
	slackDateTag = regexp.MustCompile(`^!date\^[0-9]+\^[{}a-z_ ]+\|[0-9: -]+UTC$`)
	slackLinkTag = regexp.MustCompile(`^https?://[^\s<>|"]+$`)
	slackCutTag  = regexp.MustCompile(`^https://herald\.example/console/incidents/[^\s<>|"]*\|Herald$`)
)

// safeMrkdwn checks a mrkdwn text: every < opens a tag Herald writes,
// every & an escape, no > stands alone. User text that could mention
// everyone (<!channel>), a member (<@U1>) or disguise a link
// (<https://evil|bank>) fails it.
func safeMrkdwn(t *testing.T, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				t.Fatalf("unclosed < in %q", s)
			}
			if tag := s[i+1 : i+j]; !slackDateTag.MatchString(tag) && !slackLinkTag.MatchString(tag) && !slackCutTag.MatchString(tag) {
				t.Fatalf("<%s> is not a tag Herald writes, in %q", tag, s)
			}
			i += j
		case '>':
			t.Fatalf("a > outside a tag in %q", s)
		case '&':
			if r := s[i:]; !strings.HasPrefix(r, "&amp;") && !strings.HasPrefix(r, "&lt;") && !strings.HasPrefix(r, "&gt;") {
				t.Fatalf("a bare & in %q", s)
			}
		}
	}
}

// texts walks blocks as Slack receives them and returns their mrkdwn
// texts; it checks each text against its block's limit on the way.
func texts(t *testing.T, blocks []Block) []string {
	t.Helper()
	if len(blocks) > maxBlocks {
		t.Fatalf("%d blocks; Slack takes %d", len(blocks), maxBlocks)
	}
	b, err := json.Marshal(slackapi.Blocks{BlockSet: blocks})
	if err != nil {
		t.Fatalf("marshal blocks: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any, parent string)
	walk = func(v any, parent string) {
		switch x := v.(type) {
		case map[string]any:
			typ, _ := x["type"].(string)
			if s, ok := x["text"].(string); ok {
				n := utf8.RuneCountInString(s)
				switch {
				case parent == "header" && n > maxHeader, typ == "mrkdwn" && n > maxSection:
					t.Fatalf("a %s text of %d characters in a %s", typ, n, parent)
				}
				if typ == "mrkdwn" {
					out = append(out, s)
				}
			}
			for _, c := range x {
				walk(c, typ)
			}
		case []any:
			for _, c := range x {
				walk(c, parent)
			}
		}
	}
	walk(v, "")
	return out
}

// unMrkdwn undoes Herald's escaping and linking, and drops whitespace, to
// compare what Slack shows with what was written.
func unMrkdwn(s string) string {
	s = regexp.MustCompile(`<(https?://[^<>|]+)>`).ReplaceAllString(s, "$1")
	return noSpace(strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s))
}

func noSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// FuzzSlackBlocks renders fuzzed user text (an update's body, an incident
// or component name, a person's name) into every kind of message Herald
// posts in Slack. The mrkdwn stays safe (safeMrkdwn), within Slack's
// limits, and the update's text is all there when nothing was cut; the
// plain fallback text is escaped.
func FuzzSlackBlocks(f *testing.F) {
	f.Add("We are investigating elevated errors; see https://status.kredete.com/incidents/1.", "Card payments <failing>")
	f.Add("<!channel> <https://evil.example|your bank> & <@U0THANDI> &amp; <!here|here>", "<script>alert(1)</script>")
	f.Add("https://a.example/x>y|z https://b.example/(c) http://.", "&lt;b&gt;")
	f.Add(strings.Repeat("word ", 1500), strings.Repeat("x", 300))
	f.Add(strings.Repeat("https://example.com/"+strings.Repeat("a", 600)+" ", 3), "*bold* _it_ `code`")
	f.Add(strings.Repeat("&", 4000), "\n\n")
	f.Fuzz(func(t *testing.T, body, name string) {
		at := time.Date(2026, 11, 25, 9, 16, 41, 0, time.UTC)
		c := New("xoxb-fuzz", Options{APIURL: "http://127.0.0.1:9/api/", ConsoleURL: "https://herald.example", Now: func() time.Time { return at }})
		in := herald.Incident{ID: "inc42", Kind: herald.KindIncident, Name: name, Status: herald.Identified, Impact: herald.ImpactMajor,
			ComponentIDs: []string{"cmp_api", "cmp_gone"}, StartedAt: at.Add(-time.Hour), UpdatedAt: at}
		comps := map[string]herald.Component{"cmp_api": {ID: "cmp_api", Name: name, Status: herald.MajorOutage}}
		up := herald.Update{Status: herald.Identified, Body: body, DisplayAt: at,
			Changes: []herald.ComponentChange{{ComponentID: "cmp_api", Name: name, Old: herald.Operational, New: herald.MajorOutage}}}

		check := func(text string, blocks []Block) []string {
			safeMrkdwn(t, fallback(text))
			ts := texts(t, blocks)
			for _, s := range ts {
				safeMrkdwn(t, s)
			}
			return ts
		}
		text, blocks := UpdateBlocks(up)
		ts := check(text, blocks)
		if len(blocks) < maxBlocks && utf8.ValidString(body) && !strings.Contains(unMrkdwn(strings.Join(ts, "")), noSpace(body)) {
			t.Fatalf("the update's text is not all there:\n%q\nrendered\n%q", body, ts)
		}
		check(c.parentBlocks(in, comps, name))
		check(RoleBlocks(herald.Assignment{Role: herald.SeatCommander, UserName: name, AssignedBy: body}))
		check(EventBlocks(body))
		check(ChangeBlocks(up.Changes))
	})
}
