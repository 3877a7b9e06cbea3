package slacktest

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The read methods a reconciler uses: conversations.list to find a channel's
// id by name, conversations.history for a channel's top-level messages
// (newest first) and conversations.replies for a thread (the parent, then
// its replies, oldest first). They take channel ids only, as Slack does,
// and answer with Slack's fields, has_more and response_metadata.next_cursor.
// Each runs with s.mu held.

// list handles conversations.list: public channels (types=public_channel,
// the default) and direct messages (im). Private channels, archives and
// team ids are not modelled.
func (s *Server) list(p url.Values) (map[string]any, string) {
	types := map[string]bool{}
	for t := range strings.SplitSeq(p.Get("types"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			types[t] = true
		}
	}
	if len(types) == 0 {
		types["public_channel"] = true
	}
	for t := range types {
		switch t {
		case "public_channel", "private_channel", "mpim", "im":
		default:
			return nil, "invalid_types"
		}
	}
	limit, code := limitArg(p, 100, 1000)
	if code != "" {
		return nil, code
	}
	var chans []*channel
	for _, c := range s.channels {
		if (c.dmUser == "" && types["public_channel"]) || (c.dmUser != "" && types["im"]) {
			chans = append(chans, c)
		}
	}
	slices.SortFunc(chans, func(a, b *channel) int { return strings.Compare(a.id, b.id) })
	start := 0
	if cur := p.Get("cursor"); cur != "" {
		v, ok := decodeCursor(cur, "offset:")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || n > len(chans) {
			return nil, "invalid_cursor"
		}
		start = n
	}
	end := min(start+limit, len(chans))
	out := make([]map[string]any, 0, end-start)
	for _, c := range chans[start:end] {
		ch := map[string]any{"id": c.id, "created": 1700000000, "is_archived": false, "is_private": false,
			"is_channel": c.dmUser == "", "is_im": c.dmUser != "", "is_group": false, "is_mpim": false}
		if c.dmUser != "" {
			ch["user"] = c.dmUser
		} else {
			ch["name"] = c.name
			ch["name_normalized"] = c.name
			ch["is_member"] = c.member
		}
		out = append(out, ch)
	}
	next := ""
	if end < len(chans) {
		next = encodeCursor("offset:" + strconv.Itoa(end))
	}
	return map[string]any{"channels": out, "response_metadata": map[string]any{"next_cursor": next}}, ""
}

// history handles conversations.history: the channel's top-level messages
// (thread replies stay in their thread) between oldest and latest, newest
// first, limit at a time (100 by default, at most 999).
func (s *Server) history(p url.Values) (map[string]any, string) {
	c, code := s.readable(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	r, code := rangeArgs(p)
	if code != "" {
		return nil, code
	}
	limit, code := limitArg(p, 100, 999)
	if code != "" {
		return nil, code
	}
	if cur := p.Get("cursor"); cur != "" {
		v, ok := decodeCursor(cur, "next_ts:")
		ts, valid := parseTS(v)
		if !ok || !valid {
			return nil, "invalid_cursor"
		}
		r.latest, r.latestIn = ts, false // older than the last one given
	}
	var page []map[string]any
	more := false
	last := ""
	for _, m := range slices.Backward(c.messages) {
		if m.ThreadTS != "" || !r.holds(m.TS) {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, messageJSON(c, m, r.metadata))
		last = m.TS
	}
	resp := map[string]any{"messages": nonNil(page), "has_more": more, "pin_count": 0,
		"channel_actions_ts": nil, "channel_actions_count": 0}
	if more {
		resp["response_metadata"] = map[string]any{"next_cursor": encodeCursor("next_ts:" + last)}
	}
	return resp, ""
}

// replies handles conversations.replies: the thread of the message ts (a
// parent or any reply in it), the parent first on every page, then its
// replies between oldest and latest, oldest first, limit at a time (1000 by
// default). A message without replies is a thread of one.
func (s *Server) replies(p url.Values) (map[string]any, string) {
	c, code := s.readable(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	ts := p.Get("ts")
	if ts == "" {
		return nil, "invalid_arguments"
	}
	m := find(c, ts)
	if m == nil {
		return nil, "thread_not_found"
	}
	if m.ThreadTS != "" {
		if m = find(c, m.ThreadTS); m == nil {
			return nil, "thread_not_found"
		}
	}
	r, code := rangeArgs(p)
	if code != "" {
		return nil, code
	}
	limit, code := limitArg(p, 1000, 1000)
	if code != "" {
		return nil, code
	}
	after := ""
	if cur := p.Get("cursor"); cur != "" {
		v, ok := decodeCursor(cur, "next_ts:")
		if _, valid := parseTS(v); !ok || !valid {
			return nil, "invalid_cursor"
		}
		after = v
	}
	page := []map[string]any{messageJSON(c, m, r.metadata)}
	more := false
	last := ""
	for _, reply := range c.messages {
		if reply.ThreadTS != m.TS || !r.holds(reply.TS) || (after != "" && !tsAfter(reply.TS, after)) {
			continue
		}
		if len(page)-1 == limit {
			more = true
			break
		}
		page = append(page, messageJSON(c, reply, r.metadata))
		last = reply.TS
	}
	resp := map[string]any{"messages": page, "has_more": more}
	if more {
		resp["response_metadata"] = map[string]any{"next_cursor": encodeCursor("next_ts:" + last)}
	}
	return resp, ""
}

// readable finds a channel by id (a name is not found, as on Slack) that the
// bot may read.
func (s *Server) readable(id string) (*channel, string) {
	c := s.channels[id]
	if c == nil {
		return nil, "channel_not_found"
	}
	if !c.member {
		return nil, "not_in_channel"
	}
	return c, ""
}

// timeRange is the oldest, latest and inclusive arguments, and whether to
// include metadata.
type timeRange struct {
	oldest, latest     int64 // microseconds; latest 0: now
	oldestIn, latestIn bool
	metadata           bool
}

func rangeArgs(p url.Values) (timeRange, string) {
	r := timeRange{}
	incl := truthy(p.Get("inclusive"))
	if v := p.Get("oldest"); v != "" {
		ts, ok := parseTS(v)
		if !ok {
			return r, "invalid_ts_oldest"
		}
		r.oldest, r.oldestIn = ts, incl
	}
	if v := p.Get("latest"); v != "" {
		ts, ok := parseTS(v)
		if !ok {
			return r, "invalid_ts_latest"
		}
		r.latest, r.latestIn = ts, incl
	}
	r.metadata = truthy(p.Get("include_all_metadata"))
	return r, ""
}

func (r timeRange) holds(tsText string) bool {
	ts, _ := parseTS(tsText)
	if ts < r.oldest || (ts == r.oldest && !r.oldestIn && r.oldest != 0) {
		return false
	}
	if r.latest != 0 && (ts > r.latest || (ts == r.latest && !r.latestIn)) {
		return false
	}
	return true
}

// parseTS reads "seconds[.micros]" into microseconds.
func parseTS(v string) (int64, bool) {
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s < 0 || len(frac) > 6 {
		return 0, false
	}
	var us int64
	if frac != "" {
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 {
			return 0, false
		}
		us = f
		for range 6 - len(frac) {
			us *= 10
		}
	}
	return s*1_000_000 + us, true
}

func tsAfter(a, b string) bool {
	x, _ := parseTS(a)
	y, _ := parseTS(b)
	return x > y
}

func limitArg(p url.Values, def, most int) (int, string) {
	v := p.Get("limit")
	if v == "" {
		return def, ""
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, "invalid_limit"
	}
	if n == 0 {
		return def, ""
	}
	return min(n, most), ""
}

func truthy(v string) bool { return v == "1" || v == "true" }

// Cursors are base64 of "next_ts:<ts>" or "offset:<n>", the shape of
// Slack's opaque ones.
func encodeCursor(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }

func decodeCursor(cur, prefix string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(cur)
	if err != nil {
		return "", false
	}
	return strings.CutPrefix(string(b), prefix)
}

func nonNil(ms []map[string]any) []map[string]any {
	if ms == nil {
		return []map[string]any{}
	}
	return ms
}
