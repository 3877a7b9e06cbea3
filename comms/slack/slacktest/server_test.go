package slacktest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald/comms/slack/slacktest"
)

type answer struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error"`
	Errors  []string `json:"errors"`
	Channel any      `json:"channel"`
	TS      string   `json:"ts"`
	User    struct {
		ID string `json:"id"`
	} `json:"user"`
	AlreadyOpen bool `json:"already_open"`
}

func form(t *testing.T, s *slacktest.Server, method string, v url.Values) (answer, *http.Response) {
	t.Helper()
	resp, err := http.PostForm(s.URL()+method, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return a, resp
}

func jsonCall(t *testing.T, s *slacktest.Server, method, bearer string, body any) answer {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+method, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestWireFormat(t *testing.T) {
	s := slacktest.New(t)
	ch := s.AddChannel("#incident-response")
	tok := s.Token()

	if a, _ := form(t, s, "auth.test", url.Values{}); a.Error != "not_authed" {
		t.Errorf("no token: %+v", a)
	}
	if a, _ := form(t, s, "auth.test", url.Values{"token": {"xoxb-wrong"}}); a.Error != "invalid_auth" {
		t.Errorf("wrong token: %+v", a)
	}
	if a, _ := form(t, s, "auth.test", url.Values{"token": {tok}}); !a.OK {
		t.Errorf("auth.test: %+v", a)
	}

	// JSON body with a Bearer token, blocks as an array.
	blocks := []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "hi"}}}
	a := jsonCall(t, s, "chat.postMessage", tok, map[string]any{"channel": "incident-response", "text": "hi", "blocks": blocks})
	if !a.OK || a.Channel != ch || a.TS == "" {
		t.Fatalf("JSON post: %+v", a)
	}
	parent := a.TS
	if m, ok := s.Message(ch, parent); !ok || !strings.Contains(m.Blocks, `"text":"hi"`) {
		t.Errorf("stored %+v", m)
	}

	// A thread reply, then chat.update of the parent without blocks keeps them.
	a, _ = form(t, s, "chat.postMessage", url.Values{"token": {tok}, "channel": {ch}, "thread_ts": {parent}, "text": {"reply"}})
	if !a.OK || a.TS <= parent {
		t.Fatalf("reply: %+v", a)
	}
	if a, _ = form(t, s, "chat.update", url.Values{"token": {tok}, "channel": {ch}, "ts": {parent}, "text": {"edited"}}); !a.OK {
		t.Fatalf("update: %+v", a)
	}
	m, _ := s.Message(ch, parent)
	if m.Text != "edited" || m.Edits != 1 || m.Blocks == "" {
		t.Errorf("after update: %+v", m)
	}
	if r := s.Replies(ch, parent); len(r) != 1 || r[0].Text != "reply" {
		t.Errorf("replies: %+v", r)
	}

	refusals := []struct {
		method string
		v      url.Values
		code   string
	}{
		{"chat.update", url.Values{"channel": {"incident-response"}, "ts": {parent}, "text": {"x"}}, "channel_not_found"}, // needs the id
		{"chat.update", url.Values{"channel": {ch}, "ts": {"1.000000"}, "text": {"x"}}, "message_not_found"},
		{"chat.postMessage", url.Values{"channel": {"#nope"}, "text": {"x"}}, "channel_not_found"},
		{"chat.postMessage", url.Values{"channel": {ch}}, "no_text"},
		{"chat.postMessage", url.Values{"channel": {ch}, "text": {"x"}, "thread_ts": {"1.000000"}}, "invalid_thread_ts"},
		{"chat.postMessage", url.Values{"channel": {ch}, "text": {"x"},
			"blocks": {`[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("a", 3001) + `"}}]`}}, "invalid_blocks"},
		{"chat.postMessage", url.Values{"channel": {ch}, "text": {"x"},
			"blocks": {`[{"type":"header","text":{"type":"mrkdwn","text":"h"}}]`}}, "invalid_blocks"},
		{"users.lookupByEmail", url.Values{"email": {"who@example.com"}}, "users_not_found"},
		{"conversations.open", url.Values{"users": {"U404"}}, "user_not_found"},
		{"no.such", url.Values{}, "unknown_method"},
	}
	for _, r := range refusals {
		r.v.Set("token", tok)
		a, resp := form(t, s, r.method, r.v)
		if resp.StatusCode != http.StatusOK || a.OK || a.Error != r.code {
			t.Errorf("%s %v: %d %+v, want ok:false %s", r.method, r.v, resp.StatusCode, a, r.code)
		}
		if r.code == "invalid_blocks" && len(a.Errors) == 0 {
			t.Errorf("invalid_blocks without errors: %+v", a)
		}
	}

	// Direct messages: lookup, open, post to the user id.
	uid := s.AddUser("Ops@Example.com", "Ops")
	if a, _ = form(t, s, "users.lookupByEmail", url.Values{"token": {tok}, "email": {"ops@example.com"}}); a.User.ID != uid {
		t.Errorf("lookup: %+v", a)
	}
	a, _ = form(t, s, "conversations.open", url.Values{"token": {tok}, "users": {uid}})
	dm, _ := a.Channel.(map[string]any)
	if !a.OK || dm["id"] != s.DMChannel(uid) || a.AlreadyOpen {
		t.Errorf("open: %+v", a)
	}
	if a, _ = form(t, s, "chat.postMessage", url.Values{"token": {tok}, "channel": {uid}, "text": {"psst"}}); a.Channel != s.DMChannel(uid) {
		t.Errorf("post to user: %+v", a)
	}
	if a, _ = form(t, s, "conversations.open", url.Values{"token": {tok}, "users": {uid}}); !a.AlreadyOpen {
		t.Errorf("reopen: %+v", a)
	}
}

func TestFaults(t *testing.T) {
	s := slacktest.New(t)
	v := url.Values{"token": {s.Token()}}

	s.FailNext(2, http.StatusTooManyRequests, 1500*time.Millisecond)
	for range 2 {
		a, resp := form(t, s, "auth.test", v)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || a.Error != "ratelimited" {
			t.Errorf("rate limited: %d %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), a)
		}
	}
	s.FailNext(1, http.StatusServiceUnavailable, 0)
	if _, resp := form(t, s, "auth.test", v); resp.StatusCode != 503 {
		t.Errorf("503: %d", resp.StatusCode)
	}
	if a, _ := form(t, s, "auth.test", v); !a.OK {
		t.Errorf("after faults: %+v", a)
	}

	s.SetDown(true)
	if resp, err := http.PostForm(s.URL()+"auth.test", v); err == nil {
		resp.Body.Close()
		t.Error("a down server answered")
	}
	s.SetDown(false)

	calls := s.Calls()
	want := []int{429, 429, 503, 200, 0}
	if len(calls) != len(want) {
		t.Fatalf("calls = %+v", calls)
	}
	for i, c := range calls {
		if c.Status != want[i] {
			t.Errorf("call %d status %d, want %d", i, c.Status, want[i])
		}
	}
}

// SetFailing fails every call, with its statuses in turn, until it is
// called with none; nothing is posted meanwhile.
func TestSetFailing(t *testing.T) {
	s := slacktest.New(t)
	ch := s.AddChannel("incident-response")
	v := url.Values{"token": {s.Token()}, "channel": {ch}, "text": {"x"}}

	s.SetFailing(3*time.Second, http.StatusTooManyRequests, http.StatusInternalServerError)
	for i := range 5 {
		a, resp := form(t, s, "chat.postMessage", v)
		if i%2 == 0 && (resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" || a.Error != "ratelimited") {
			t.Errorf("call %d: %d %q %+v, want 429 with Retry-After 3", i, resp.StatusCode, resp.Header.Get("Retry-After"), a)
		}
		if i%2 == 1 && (resp.StatusCode != 500 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html")) {
			t.Errorf("call %d: %d %s, want Slack's HTML 500", i, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if n := len(s.Messages(ch)); n != 0 {
		t.Errorf("%d messages posted while failing", n)
	}
	s.SetFailing(0)
	if a, _ := form(t, s, "chat.postMessage", v); !a.OK || len(s.Messages(ch)) != 1 {
		t.Errorf("after SetFailing(0): %+v, %d messages", a, len(s.Messages(ch)))
	}
}

// Calls and messages can be read while other goroutines post (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := slacktest.New(t)
	ch := s.AddChannel("incident-response")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				resp, err := http.PostForm(s.URL()+"chat.postMessage", url.Values{"token": {s.Token()}, "channel": {ch}, "text": {"x"}})
				if err == nil {
					resp.Body.Close()
				}
				_ = s.Calls()
				_ = s.Messages(ch)
			}
		})
	}
	wg.Wait()
	msgs := s.Messages(ch)
	if len(msgs) != 40 {
		t.Fatalf("%d messages, want 40", len(msgs))
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].TS <= msgs[i-1].TS {
			t.Errorf("ts out of order: %s then %s", msgs[i-1].TS, msgs[i].TS)
		}
	}
}
