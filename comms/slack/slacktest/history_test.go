package slacktest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald/comms/slack/slacktest"
)

// page is the answer of the read methods.
type page struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	HasMore  bool   `json:"has_more"`
	Messages []struct {
		TS         string          `json:"ts"`
		ThreadTS   string          `json:"thread_ts"`
		Text       string          `json:"text"`
		ReplyCount int             `json:"reply_count"`
		Metadata   json.RawMessage `json:"metadata"`
	} `json:"messages"`
	Channels []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		IsMember bool   `json:"is_member"`
	} `json:"channels"`
	ResponseMetadata struct {
		NextCursor string `json:"next_cursor"`
	} `json:"response_metadata"`
}

func read(t *testing.T, s *slacktest.Server, method string, v url.Values) page {
	t.Helper()
	v.Set("token", s.Token())
	resp, err := http.PostForm(s.URL()+method, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", method, resp.StatusCode)
	}
	var p page
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func post(t *testing.T, s *slacktest.Server, v url.Values) string {
	t.Helper()
	v.Set("token", s.Token())
	a, _ := form(t, s, "chat.postMessage", v)
	if !a.OK {
		t.Fatalf("post %v: %+v", v, a)
	}
	return a.TS
}

// Timestamps come from the clock, increase, and keep microseconds.
func TestTimestampsFollowTheClock(t *testing.T) {
	s := slacktest.New(t)
	ch := s.AddChannel("incident-response")
	before := time.Now()
	a := post(t, s, url.Values{"channel": {ch}, "text": {"a"}})
	b := post(t, s, url.Values{"channel": {ch}, "text": {"b"}})
	sec, _, _ := strings.Cut(a, ".")
	n, _ := strconv.ParseInt(sec, 10, 64)
	if d := time.Unix(n, 0).Sub(before); d < -time.Second || d > 5*time.Second {
		t.Errorf("ts %s is not the time of posting (%s)", a, before)
	}
	if b <= a || len(a) != len(b) || !strings.Contains(a, ".") || len(a[strings.Index(a, ".")+1:]) != 6 {
		t.Errorf("ts %s then %s", a, b)
	}
}

func TestMetadataIsKeptAndReturnedOnRequest(t *testing.T) {
	s := slacktest.New(t)
	ch := s.AddChannel("incident-response")
	meta := `{"event_type":"herald_delivery","event_payload":{"delivery_id":"d1"}}`
	ts := post(t, s, url.Values{"channel": {ch}, "text": {"with"}, "metadata": {meta}})
	post(t, s, url.Values{"channel": {ch}, "text": {"without"}})
	if m, _ := s.Message(ch, ts); m.Metadata != meta {
		t.Errorf("stored metadata %q", m.Metadata)
	}
	p := read(t, s, "conversations.history", url.Values{"channel": {ch}})
	if !p.OK || len(p.Messages) != 2 || p.Messages[1].Metadata != nil {
		t.Errorf("history without include_all_metadata: %+v", p)
	}
	p = read(t, s, "conversations.history", url.Values{"channel": {ch}, "include_all_metadata": {"true"}})
	if !p.OK || len(p.Messages) != 2 || string(p.Messages[1].Metadata) != meta || p.Messages[0].Metadata != nil {
		t.Errorf("history with include_all_metadata: %+v", p)
	}
	for _, bad := range []string{`{"event_type":""}`, `not json`, `{"event_type":"x","event_payload":3}`} {
		a, _ := form(t, s, "chat.postMessage", url.Values{"token": {s.Token()}, "channel": {ch}, "text": {"x"}, "metadata": {bad}})
		if a.OK || a.Error != "invalid_metadata_format" {
			t.Errorf("metadata %s: %+v", bad, a)
		}
	}
}

func TestHistory(t *testing.T) {
	s := slacktest.New(t)
	ch := s.AddChannel("incident-response")
	var ts []string
	for i := range 5 {
		ts = append(ts, post(t, s, url.Values{"channel": {ch}, "text": {"m" + strconv.Itoa(i)}}))
	}
	post(t, s, url.Values{"channel": {ch}, "text": {"reply"}, "thread_ts": {ts[1]}})

	// Newest first, replies left in their thread, the parent counting them.
	p := read(t, s, "conversations.history", url.Values{"channel": {ch}})
	if len(p.Messages) != 5 || p.HasMore || p.Messages[0].Text != "m4" || p.Messages[4].Text != "m0" {
		t.Fatalf("history: %+v", p)
	}
	if m := p.Messages[3]; m.TS != ts[1] || m.ThreadTS != ts[1] || m.ReplyCount != 1 {
		t.Errorf("parent: %+v", m)
	}

	// oldest and latest are exclusive unless inclusive.
	p = read(t, s, "conversations.history", url.Values{"channel": {ch}, "oldest": {ts[1]}, "latest": {ts[3]}})
	if len(p.Messages) != 1 || p.Messages[0].TS != ts[2] {
		t.Errorf("exclusive range: %+v", p)
	}
	p = read(t, s, "conversations.history", url.Values{"channel": {ch}, "oldest": {ts[1]}, "latest": {ts[3]}, "inclusive": {"1"}})
	if len(p.Messages) != 3 {
		t.Errorf("inclusive range: %+v", p)
	}

	// Pages of two with a cursor, then the end.
	var got []string
	cursor := ""
	for range 5 {
		v := url.Values{"channel": {ch}, "limit": {"2"}}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		p = read(t, s, "conversations.history", v)
		for _, m := range p.Messages {
			got = append(got, m.Text)
		}
		if !p.HasMore {
			if p.ResponseMetadata.NextCursor != "" {
				t.Errorf("a last page with a cursor: %+v", p)
			}
			break
		}
		cursor = p.ResponseMetadata.NextCursor
		if cursor == "" {
			t.Fatalf("has_more without a cursor: %+v", p)
		}
	}
	if strings.Join(got, ",") != "m4,m3,m2,m1,m0" {
		t.Errorf("paged history: %v", got)
	}

	refusals := []struct {
		v    url.Values
		code string
	}{
		{url.Values{"channel": {"incident-response"}}, "channel_not_found"}, // ids only
		{url.Values{"channel": {"#incident-response"}}, "channel_not_found"},
		{url.Values{}, "channel_not_found"},
		{url.Values{"channel": {ch}, "oldest": {"soon"}}, "invalid_ts_oldest"},
		{url.Values{"channel": {ch}, "latest": {"1.2.3"}}, "invalid_ts_latest"},
		{url.Values{"channel": {ch}, "cursor": {"bm9wZQ=="}}, "invalid_cursor"},
	}
	for _, r := range refusals {
		if p := read(t, s, "conversations.history", r.v); p.OK || p.Error != r.code {
			t.Errorf("history %v: %+v, want %s", r.v, p, r.code)
		}
	}
	s.SetMember(ch, false)
	if p := read(t, s, "conversations.history", url.Values{"channel": {ch}}); p.Error != "not_in_channel" {
		t.Errorf("not a member: %+v", p)
	}
	s.SetMember(ch, true)
	s.Refuse("conversations.history", "missing_scope")
	if p := read(t, s, "conversations.history", url.Values{"channel": {ch}}); p.Error != "missing_scope" {
		t.Errorf("refused: %+v", p)
	}
	s.Refuse("conversations.history", "")
	if p := read(t, s, "conversations.history", url.Values{"channel": {ch}}); !p.OK {
		t.Errorf("refusal undone: %+v", p)
	}
}

func TestReplies(t *testing.T) {
	s := slacktest.New(t)
	ch := s.AddChannel("incident-response")
	parent := post(t, s, url.Values{"channel": {ch}, "text": {"parent"}})
	var replies []string
	for i := range 5 {
		replies = append(replies, post(t, s, url.Values{"channel": {ch}, "text": {"r" + strconv.Itoa(i)}, "thread_ts": {parent}}))
	}
	other := post(t, s, url.Values{"channel": {ch}, "text": {"alone"}})

	p := read(t, s, "conversations.replies", url.Values{"channel": {ch}, "ts": {parent}})
	if !p.OK || len(p.Messages) != 6 || p.Messages[0].TS != parent || p.Messages[1].Text != "r0" || p.Messages[5].Text != "r4" || p.HasMore {
		t.Fatalf("replies: %+v", p)
	}
	// By a reply's ts: the same thread.
	if p := read(t, s, "conversations.replies", url.Values{"channel": {ch}, "ts": {replies[2]}}); len(p.Messages) != 6 {
		t.Errorf("by a reply: %+v", p)
	}
	// oldest: the parent, then the replies after it.
	p = read(t, s, "conversations.replies", url.Values{"channel": {ch}, "ts": {parent}, "oldest": {replies[2]}})
	if len(p.Messages) != 3 || p.Messages[0].TS != parent || p.Messages[1].TS != replies[3] {
		t.Errorf("oldest: %+v", p)
	}
	// Pages of two replies, each led by the parent.
	var got []string
	cursor := ""
	for range 5 {
		v := url.Values{"channel": {ch}, "ts": {parent}, "limit": {"2"}}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		p = read(t, s, "conversations.replies", v)
		if p.Messages[0].TS != parent {
			t.Errorf("a page without its parent first: %+v", p)
		}
		for _, m := range p.Messages[1:] {
			got = append(got, m.Text)
		}
		if !p.HasMore {
			break
		}
		cursor = p.ResponseMetadata.NextCursor
	}
	if strings.Join(got, ",") != "r0,r1,r2,r3,r4" {
		t.Errorf("paged replies: %v", got)
	}
	// A message without replies is a thread of one.
	if p := read(t, s, "conversations.replies", url.Values{"channel": {ch}, "ts": {other}}); len(p.Messages) != 1 {
		t.Errorf("a lone message: %+v", p)
	}
	for _, r := range []struct {
		v    url.Values
		code string
	}{
		{url.Values{"channel": {ch}, "ts": {"1.000001"}}, "thread_not_found"},
		{url.Values{"channel": {ch}}, "invalid_arguments"},
		{url.Values{"channel": {"C404"}, "ts": {parent}}, "channel_not_found"},
	} {
		if p := read(t, s, "conversations.replies", r.v); p.OK || p.Error != r.code {
			t.Errorf("replies %v: %+v, want %s", r.v, p, r.code)
		}
	}
}

func TestList(t *testing.T) {
	s := slacktest.New(t)
	var ids []string
	for _, name := range []string{"incident-response", "general", "random"} {
		ids = append(ids, s.AddChannel(name))
	}
	s.SetMember(ids[2], false)
	uid := s.AddUser("ops@example.com", "Ops")
	form(t, s, "conversations.open", url.Values{"token": {s.Token()}, "users": {uid}})

	p := read(t, s, "conversations.list", url.Values{"limit": {"2"}})
	if !p.OK || len(p.Channels) != 2 || p.ResponseMetadata.NextCursor == "" {
		t.Fatalf("first page: %+v", p)
	}
	p2 := read(t, s, "conversations.list", url.Values{"limit": {"2"}, "cursor": {p.ResponseMetadata.NextCursor}})
	if len(p2.Channels) != 1 || p2.ResponseMetadata.NextCursor != "" {
		t.Fatalf("second page: %+v", p2)
	}
	all := append(p.Channels, p2.Channels...)
	byName := map[string]string{}
	for _, c := range all {
		byName[c.Name] = c.ID
	}
	if byName["incident-response"] != ids[0] || byName["random"] != ids[2] || len(byName) != 3 {
		t.Errorf("channels: %+v", all)
	}
	if p := read(t, s, "conversations.list", url.Values{"types": {"im"}}); len(p.Channels) != 1 || p.Channels[0].ID != s.DMChannel(uid) {
		t.Errorf("direct messages: %+v", p)
	}
	if p := read(t, s, "conversations.list", url.Values{"types": {"everything"}}); p.Error != "invalid_types" {
		t.Errorf("bad types: %+v", p)
	}
}

// The post hook runs after the message is stored and before the answer:
// while it blocks, the message is in the channel and the client waits.
func TestPostHookHoldsTheAnswer(t *testing.T) {
	s := slacktest.New(t)
	ch := s.AddChannel("incident-response")
	held := make(chan slacktest.Message, 1)
	release := make(chan struct{})
	s.SetPostHook(func(m slacktest.Message, r *http.Request) {
		if r.Header.Get("X-Who") == "held" {
			held <- m
			<-release
		}
	})
	var wg sync.WaitGroup
	answered := make(chan answer, 1)
	wg.Go(func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"chat.postMessage",
			strings.NewReader(url.Values{"token": {s.Token()}, "channel": {ch}, "text": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Who", "held")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		var a answer
		_ = json.NewDecoder(resp.Body).Decode(&a)
		answered <- a
	})
	m := <-held
	if got := s.Messages(ch); len(got) != 1 || got[0].TS != m.TS {
		t.Errorf("while held, the channel has %+v", got)
	}
	select {
	case a := <-answered:
		t.Fatalf("answered while held: %+v", a)
	case <-time.After(50 * time.Millisecond):
	}
	// Others are not held up meanwhile.
	post(t, s, url.Values{"channel": {ch}, "text": {"y"}})
	close(release)
	wg.Wait()
	if a := <-answered; !a.OK || a.TS != m.TS {
		t.Errorf("after release: %+v", a)
	}
}
