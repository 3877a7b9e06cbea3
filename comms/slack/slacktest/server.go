// Package slacktest is a local server that speaks the parts of Slack's Web
// API Herald uses (auth.test, chat.postMessage, chat.update,
// users.lookupByEmail, users.info, conversations.open, views.open, and for
// reconciliation conversations.list, conversations.history and
// conversations.replies), so the Slack adapter and the cadence engine can be
// tested with the real slack-go client and no network. It also plays Slack's
// other side, for the slash command and interactivity handlers: it signs
// requests as Slack does (Sign) and builds what Slack sends (CommandForm,
// BlockActionsPayload, View.Submit).
//
// It answers as Slack does: form-encoded or JSON bodies, the token as a form
// field or a Bearer header, HTTP 200 with {"ok":false,"error":"..."} for
// refusals, 429 with a Retry-After header in seconds when rate limited, and
// the Block Kit limits that make Slack answer invalid_blocks. Messages get
// timestamps from the clock (seconds.microseconds, increasing) and keep the
// message metadata they were posted with. It records every call, keeps each
// channel's messages in order, and can be told to fail, go down, slow down,
// refuse a method (missing_scope) or hold its answer to a post; or fail
// every call for as long as a test wants (SetFailing).
package slacktest

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the bot token the server accepts until SetToken says
// otherwise.
const DefaultToken = "xoxb-herald-test-token"

// Workspace identifiers that auth.test reports.
const (
	TeamID    = "T0HERALD01"
	BotUserID = "U0HERALDBOT"
	BotID     = "B0HERALDBOT"
)

// Call is one request the server received, in arrival order.
type Call struct {
	Method   string // Web API method, e.g. "chat.postMessage"
	Channel  string // the channel id the call resolved to, else as sent
	TS       string // the message's ts: assigned (postMessage) or targeted (update)
	ThreadTS string // thread_ts as sent
	Text     string // text as sent (already mrkdwn-escaped by the caller)
	Blocks   string // blocks JSON as sent, "" when none
	Email    string // users.lookupByEmail
	User     string // users.info
	Status   int    // HTTP status answered; 0 when none was (down, or the client gave up)
	Error    string // Slack's error code when ok was false; "down"; "canceled"; the status text of an injected failure; "" when ok
}

// OK reports whether Slack accepted the call.
func (c Call) OK() bool { return c.Status == http.StatusOK && c.Error == "" }

// Message is a message as it stands in a channel.
type Message struct {
	Channel  string // channel id
	TS       string
	ThreadTS string // the parent's ts for a thread reply; "" for a top-level message
	Text     string
	Blocks   string // JSON array, "" when none
	Metadata string // message metadata as posted (JSON object), "" when none
	Edits    int    // how many times chat.update replaced it
}

// Server is a fake Slack Web API. Its methods are safe for concurrent use.
type Server struct {
	srv    *httptest.Server
	closed chan struct{}

	mu       sync.Mutex
	token    string
	lastTS   int64 // microseconds of the last ts given
	ids      int
	channels map[string]*channel // by id
	users    map[string]*user    // by id
	calls    []Call
	failN    int
	failCode int
	failWait time.Duration
	failing  []int // SetFailing's statuses, in turn
	failings int   // calls failed by SetFailing so far
	down     bool
	latency  time.Duration
	refused  map[string]string // method → error code
	postHook func(Message, *http.Request)
	now      func() time.Time    // the clock triggers expire by
	triggers map[string]*trigger // by trigger id
	views    []View              // opened by views.open, in order
}

type channel struct {
	id, name string
	member   bool
	dmUser   string // for a direct message channel
	messages []*Message
}

type user struct {
	id, email, name string
	bot, deleted    bool
	dm              string // the DM channel id, once opened
}

// New starts a server, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		closed:   make(chan struct{}),
		token:    DefaultToken,
		channels: map[string]*channel{},
		users:    map[string]*user{},
		refused:  map[string]string{},
		now:      time.Now,
		triggers: map[string]*trigger{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	// Cleanups run last-in first-out: release slow handlers, then close.
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.closed) })
	return s
}

// URL is the API base URL to give the client, with the trailing slash
// slack-go needs (https://slack.com/api/ in production).
func (s *Server) URL() string { return s.srv.URL + "/api/" }

// Token is the token the server accepts.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// SetToken changes the token the server accepts.
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// AddChannel creates a public channel the bot is a member of and returns its
// id. Calls may name it by id, by name or by #name.
func (s *Server) AddChannel(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.TrimPrefix(name, "#")
	s.ids++
	id := fmt.Sprintf("C%09d", s.ids)
	s.channels[id] = &channel{id: id, name: name, member: true}
	return id
}

// SetMember adds the bot to a channel or removes it; posting to a channel
// the bot is not in answers not_in_channel, as Slack does.
func (s *Server) SetMember(ch string, member bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.lookup(ch); c != nil {
		c.member = member
	}
}

// AddUser creates a workspace member and returns its user id. An empty
// email makes a member without one (see AddMember for bots and deactivated
// members).
func (s *Server) AddUser(email, name string) string {
	return s.AddMember(Member{Email: email, Name: name})
}

// DMChannel is the id of the direct message channel with the user, "" if
// none was opened yet.
func (s *Server) DMChannel(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		return u.dm
	}
	return ""
}

// FailNext makes the next n calls fail with the HTTP status: 429 carries a
// Retry-After header in whole seconds (rounded up) as Slack sends it; 5xx
// answers carry an HTML body, as Slack's do.
func (s *Server) FailNext(n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode, s.failWait = n, status, retryAfter
}

// SetFailing makes every call fail until SetFailing is called with no
// status: with the statuses given, in turn (429 with a Retry-After of
// retryAfter, 5xx with an HTML body, as FailNext answers), as a Slack in
// trouble does for minutes. FailNext's failures come after these.
func (s *Server) SetFailing(retryAfter time.Duration, statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing, s.failWait = slices.Clone(statuses), retryAfter
}

// SetDown makes the server drop every connection without an answer (true)
// or answer again (false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetLatency delays every answer by d. A client that gives up earlier ends
// the wait.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Refuse makes every call to method answer ok:false with code (e.g.
// "missing_scope" for a token without the scope the method needs), as
// Slack does; Refuse(method, "") undoes it.
func (s *Server) Refuse(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.refused, method)
		return
	}
	s.refused[method] = code
}

// SetPostHook makes hook run for every message chat.postMessage stores,
// after storing it and before answering: a hook that blocks holds the
// answer, as a Slack that accepted a message and then went quiet, or a
// client that died before reading the answer. r is the request (its
// headers say who sent it). nil removes the hook.
func (s *Server) SetPostHook(hook func(m Message, r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.postHook = hook
}

// Calls returns a copy of every call received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the calls to one method, in order.
func (s *Server) CallsTo(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns every message in the channel (named by id, name or
// #name), thread replies included, in the order they were posted.
func (s *Server) Messages(ch string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookup(ch)
	if c == nil {
		return nil
	}
	out := make([]Message, len(c.messages))
	for i, m := range c.messages {
		out[i] = *m
	}
	return out
}

// Message returns one message of the channel by ts.
func (s *Server) Message(ch, ts string) (Message, bool) {
	for _, m := range s.Messages(ch) {
		if m.TS == ts {
			return m, true
		}
	}
	return Message{}, false
}

// Replies returns the replies in a thread, in order.
func (s *Server) Replies(ch, threadTS string) []Message {
	var out []Message
	for _, m := range s.Messages(ch) {
		if m.ThreadTS == threadTS {
			out = append(out, m)
		}
	}
	return out
}

// lookup finds a channel by id, name or #name. Call with mu held.
func (s *Server) lookup(ch string) *channel {
	if c := s.channels[ch]; c != nil {
		return c
	}
	name := strings.TrimPrefix(ch, "#")
	for _, c := range s.channels {
		if c.name != "" && c.name == name {
			return c
		}
	}
	return nil
}

// nextTS returns timestamps in Slack's "seconds.micros" form from the
// clock, strictly increasing. Call with mu held.
func (s *Server) nextTS() string {
	micros := max(time.Now().UnixMicro(), s.lastTS+1)
	s.lastTS = micros
	return formatTS(micros)
}

func formatTS(micros int64) string {
	return fmt.Sprintf("%d.%06d", micros/1_000_000, micros%1_000_000)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok || method == "" {
		http.NotFound(w, r)
		return
	}
	params, perr := readParams(r)

	call := Call{
		Method:   method,
		Channel:  params.Get("channel"),
		TS:       params.Get("ts"),
		ThreadTS: params.Get("thread_ts"),
		Text:     params.Get("text"),
		Blocks:   params.Get("blocks"),
		Email:    params.Get("email"),
		User:     params.Get("user"),
	}
	record := func(status int, errCode string) {
		call.Status, call.Error = status, errCode
		s.calls = append(s.calls, call)
	}

	// The delay comes before Slack acts: a client that gives up in the
	// meantime has posted nothing.
	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			s.mu.Lock()
			record(0, "canceled")
			s.mu.Unlock()
			return
		case <-s.closed:
			return
		}
	}

	resp, posted, hook := s.answer(w, method, params, perr, r.Header.Get("Authorization"), &call, record)
	if resp == nil {
		return // answered already: a fault or a refusal
	}
	if posted != nil && hook != nil {
		hook(*posted, r)
	}
	writeJSON(w, http.StatusOK, resp)
}

// fail answers an injected failure with status, holding mu: 429 with
// Retry-After, or an HTML error page.
func (s *Server) fail(w http.ResponseWriter, status int, record func(int, string)) {
	if status == http.StatusTooManyRequests {
		record(status, "ratelimited")
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.failWait.Seconds()))))
		writeJSON(w, status, map[string]any{"ok": false, "error": "ratelimited"})
		return
	}
	record(status, http.StatusText(status))
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", status, http.StatusText(status))
}

// answer does what Slack does with a call, holding mu. It writes faults and
// refusals itself and returns nil; otherwise the answer to write, and for
// chat.postMessage the message stored and the post hook to run first.
func (s *Server) answer(w http.ResponseWriter, method string, params url.Values, perr error, authorization string,
	call *Call, record func(int, string)) (map[string]any, *Message, func(Message, *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.down {
		record(0, "down")
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return nil, nil, nil
			}
		}
		panic(http.ErrAbortHandler)
	}
	if len(s.failing) > 0 {
		status := s.failing[s.failings%len(s.failing)]
		s.failings++
		s.fail(w, status, record)
		return nil, nil, nil
	}
	if s.failN > 0 {
		s.failN--
		s.fail(w, s.failCode, record)
		return nil, nil, nil
	}

	fail := func(code string, extra ...string) {
		record(http.StatusOK, code)
		body := map[string]any{"ok": false, "error": code}
		if len(extra) > 0 {
			body["errors"] = extra
			body["response_metadata"] = map[string]any{"messages": extra}
		}
		writeJSON(w, http.StatusOK, body)
	}
	if perr != nil {
		fail("invalid_form_data")
		return nil, nil, nil
	}
	tok := params.Get("token")
	if b, ok := strings.CutPrefix(authorization, "Bearer "); ok && tok == "" {
		tok = b
	}
	switch {
	case tok == "":
		fail("not_authed")
		return nil, nil, nil
	case tok != s.token:
		fail("invalid_auth")
		return nil, nil, nil
	}
	if code := s.refused[method]; code != "" {
		fail(code)
		return nil, nil, nil
	}

	var resp map[string]any
	var posted *Message
	var code string
	var extra []string
	switch method {
	case "auth.test":
		resp = map[string]any{"url": "https://herald-test.slack.com/", "team": "Herald Test", "user": "herald",
			"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID}
	case "chat.postMessage":
		resp, posted, code, extra = s.postMessage(params, call)
	case "chat.update":
		resp, code, extra = s.update(params, call)
	case "chat.postEphemeral":
		// Seen by one member only, and never stored in the channel: the
		// call is the record.
		switch {
		case params.Get("channel") == "":
			code = "channel_not_found"
		case s.users[params.Get("user")] == nil:
			code = "user_not_in_channel"
		case params.Get("text") == "" && params.Get("blocks") == "":
			code = "no_text"
		default:
			resp = map[string]any{"message_ts": s.nextTS()}
		}
	case "users.lookupByEmail":
		resp, code = s.lookupByEmail(params)
	case "users.info":
		resp, code = s.userInfo(params)
	case "views.open":
		resp, code, extra = s.openView(params)
	case "conversations.open":
		resp, code = s.open(params, call)
	case "conversations.list":
		resp, code = s.list(params)
	case "conversations.history":
		resp, code = s.history(params)
	case "conversations.replies":
		resp, code = s.replies(params)
	default:
		code = "unknown_method"
	}
	if code != "" {
		fail(code, extra...)
		return nil, nil, nil
	}
	record(http.StatusOK, "")
	resp["ok"] = true
	if posted != nil {
		return resp, posted, s.postHook
	}
	return resp, nil, nil
}
