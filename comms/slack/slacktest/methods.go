package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The Web API methods. Each runs with s.mu held and returns the answer's
// fields, or Slack's error code (and explanations, for invalid_blocks).

func (s *Server) postMessage(p url.Values, call *Call) (map[string]any, *Message, string, []string) {
	resp, m, code, extra := s.post(p, call)
	if code != "" {
		return nil, nil, code, extra
	}
	cp := *m
	return resp, &cp, "", nil
}

func (s *Server) post(p url.Values, call *Call) (map[string]any, *Message, string, []string) {
	target := p.Get("channel")
	if target == "" {
		return nil, nil, "channel_not_found", nil
	}
	c := s.lookup(target)
	if c == nil {
		if u := s.users[target]; u != nil {
			c = s.openDM(u)
		}
	}
	if c == nil {
		return nil, nil, "channel_not_found", nil
	}
	call.Channel = c.id
	if !c.member {
		return nil, nil, "not_in_channel", nil
	}
	text, blocks := p.Get("text"), p.Get("blocks")
	if code, extra := checkContent(text, blocks, p.Get("attachments")); code != "" {
		return nil, nil, code, extra
	}
	meta, ok := checkMetadata(p.Get("metadata"))
	if !ok {
		return nil, nil, "invalid_metadata_format", nil
	}
	thread := p.Get("thread_ts")
	if thread != "" {
		parent := find(c, thread)
		if parent == nil {
			return nil, nil, "invalid_thread_ts", nil
		}
		if parent.ThreadTS != "" {
			thread = parent.ThreadTS // a reply to a reply stays in the thread
		}
	}
	m := &Message{Channel: c.id, TS: s.nextTS(), ThreadTS: thread, Text: text, Blocks: blocks, Metadata: meta}
	c.messages = append(c.messages, m)
	call.TS = m.TS
	return map[string]any{"channel": c.id, "ts": m.TS, "message": messageJSON(c, m, true)}, m, "", nil
}

func (s *Server) update(p url.Values, call *Call) (map[string]any, string, []string) {
	// chat.update needs the channel id; a name is not found, as on Slack.
	c := s.channels[p.Get("channel")]
	if c == nil {
		return nil, "channel_not_found", nil
	}
	if !c.member {
		return nil, "not_in_channel", nil
	}
	m := find(c, p.Get("ts"))
	if m == nil {
		return nil, "message_not_found", nil
	}
	text, blocks := p.Get("text"), p.Get("blocks")
	if code, extra := checkContent(text, blocks, p.Get("attachments")); code != "" {
		return nil, code, extra
	}
	if p.Has("text") {
		m.Text = text
	}
	if p.Has("blocks") {
		m.Blocks = blocks
	}
	m.Edits++
	return map[string]any{"channel": c.id, "ts": m.TS, "text": m.Text, "message": messageJSON(c, m, true)}, "", nil
}

// lookupByEmail handles users.lookupByEmail. Should several members share
// an email, the first added is the one found.
func (s *Server) lookupByEmail(p url.Values) (map[string]any, string) {
	email := strings.ToLower(strings.TrimSpace(p.Get("email")))
	var found *user
	for _, u := range s.users {
		if u.email == email && email != "" && !u.bot && (found == nil || u.id < found.id) {
			found = u
		}
	}
	if found == nil {
		return nil, "users_not_found"
	}
	return map[string]any{"user": userJSON(found)}, ""
}

// open handles conversations.open for one user (a direct message); group
// DMs and reopening by channel are not modelled.
func (s *Server) open(p url.Values, call *Call) (map[string]any, string) {
	ids := strings.Split(p.Get("users"), ",")
	if len(ids) != 1 || ids[0] == "" {
		return nil, "invalid_arguments"
	}
	u := s.users[ids[0]]
	if u == nil {
		return nil, "user_not_found"
	}
	already := u.dm != ""
	c := s.openDM(u)
	call.Channel = c.id
	return map[string]any{"channel": map[string]any{"id": c.id}, "already_open": already}, ""
}

func (s *Server) openDM(u *user) *channel {
	if u.dm != "" {
		return s.channels[u.dm]
	}
	s.ids++
	c := &channel{id: fmt.Sprintf("D%09d", s.ids), member: true, dmUser: u.id}
	s.channels[c.id] = c
	u.dm = c.id
	return c
}

func find(c *channel, ts string) *Message {
	for _, m := range c.messages {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// messageJSON is a message as Slack's methods return it; the metadata only
// when asked for (include_all_metadata), and for a thread's parent its
// reply count and latest reply.
func messageJSON(c *channel, m *Message, withMetadata bool) map[string]any {
	out := map[string]any{"type": "message", "user": BotUserID, "bot_id": BotID, "ts": m.TS, "text": m.Text}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
		out["parent_user_id"] = BotUserID
	} else if n, latest := replyCount(c, m.TS); n > 0 {
		out["thread_ts"] = m.TS
		out["reply_count"] = n
		out["reply_users_count"] = 1
		out["reply_users"] = []string{BotUserID}
		out["latest_reply"] = latest
	}
	if m.Blocks != "" {
		out["blocks"] = json.RawMessage(m.Blocks)
	}
	if withMetadata && m.Metadata != "" {
		out["metadata"] = json.RawMessage(m.Metadata)
	}
	return out
}

func replyCount(c *channel, parent string) (int, string) {
	n, latest := 0, ""
	for _, m := range c.messages {
		if m.ThreadTS == parent {
			n, latest = n+1, m.TS
		}
	}
	return n, latest
}

// checkMetadata validates chat.postMessage's metadata argument as Slack
// does: a JSON object with an event_type and an event_payload object. It
// returns the metadata to store, compacted, "" when none was sent.
func checkMetadata(raw string) (string, bool) {
	if strings.TrimSpace(raw) == "" {
		return "", true
	}
	var meta struct {
		EventType    string          `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if err := json.Unmarshal([]byte(raw), &meta); err != nil || meta.EventType == "" {
		return "", false
	}
	var payload map[string]any
	if err := json.Unmarshal(meta.EventPayload, &payload); err != nil || payload == nil {
		return "", false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(raw)); err != nil {
		return "", false
	}
	return buf.String(), true
}

// readParams reads a Web API call's arguments from the query, a form body
// or a JSON body, as Slack accepts them. JSON arrays and objects (blocks)
// become their JSON text, as they would be in a form.
func readParams(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method == http.MethodPost && ct == "application/json" {
		vals := r.URL.Query()
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return vals, err
		}
		for k, raw := range body {
			var str string
			switch {
			case json.Unmarshal(raw, &str) == nil:
				vals.Set(k, str)
			case len(raw) > 0 && (raw[0] == '[' || raw[0] == '{'):
				vals.Set(k, string(raw))
			default: // numbers, booleans
				vals.Set(k, strings.TrimSpace(string(raw)))
			}
		}
		return vals, nil
	}
	if err := r.ParseForm(); err != nil {
		return r.URL.Query(), err
	}
	return r.Form, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// checkContent applies Slack's rules for a message's content: some text,
// blocks or attachments; text within 40,000 characters; valid blocks.
func checkContent(text, blocks, attachments string) (string, []string) {
	if strings.TrimSpace(text) == "" && blocks == "" && attachments == "" {
		return "no_text", nil
	}
	if utf8.RuneCountInString(text) > 40000 {
		return "msg_too_long", nil
	}
	if blocks == "" {
		return "", nil
	}
	if errs := CheckBlocks(blocks); len(errs) > 0 {
		return "invalid_blocks", errs
	}
	return "", nil
}
