// Package smtptest runs an in-process SMTP server for tests, built on
// github.com/emersion/go-smtp: it records every message it accepts, and can
// refuse commands, go down, drop its connections, answer slowly or hold its
// answer on request, so tests can check how a sender handles 4xx and 5xx
// replies, refused and dropped connections and a sender that dies mid-way.
// It counts connections (ConnStats), so tests can check how a sender reuses
// them.
//
// As RFC 5321 has it, the server closes the connection after any 421 reply.
//
// It listens on 127.0.0.1 in clear text and accepts AUTH PLAIN without TLS,
// which only a test server should ever do.
package smtptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Server is a running test SMTP server. Its methods are safe for concurrent
// use.
type Server struct {
	t    testing.TB
	addr string
	user string // with WithAuth: the only credentials accepted, and required
	pass string

	mu     sync.Mutex
	srv    *smtp.Server
	ln     net.Listener
	served chan struct{} // closed when srv's Serve returns
	down   bool
	// gen counts the times the server went down: a session of an earlier
	// generation stores nothing (see session.Data).
	gen        atomic.Uint64
	closed     bool
	msgs       []Message
	arrived    chan struct{} // closed and replaced whenever a message arrives
	mailFaults []fault
	mailRefuse fault // SetRejectMail's: every MAIL FROM while code is set
	rcptFaults []fault
	dataFaults []fault
	byRcpt     map[string]fault
	latency    time.Duration
	dataHook   func(Message)

	// Connection bookkeeping has its own lock: go-smtp closes connections
	// while stop holds mu.
	connMu      sync.Mutex
	conns       map[*trackedConn]struct{}
	stats       ConnStats
	connChanged chan struct{} // closed and replaced whenever stats change
}

type fault struct {
	code int
	msg  string
}

// Option configures a Server.
type Option func(*Server)

// WithAuth makes the server require AUTH PLAIN with these credentials
// before MAIL FROM. URL includes them. Without it, AUTH is optional and any
// credentials are accepted.
func WithAuth(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// Start starts a server on 127.0.0.1 with a free port and stops it when the
// test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, arrived: make(chan struct{}), byRcpt: map[string]fault{},
		conns: map[*trackedConn]struct{}{}, connChanged: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.mu.Lock()
	s.serve(ln)
	s.mu.Unlock()
	t.Cleanup(s.Close)
	return s
}

// serve starts a go-smtp server on ln. s.mu is held.
func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "smtptest.localhost"
	srv.AllowInsecureAuth = true
	srv.MaxRecipients = 1000
	srv.ErrorLog = log.New(io.Discard, "", 0)
	served := make(chan struct{})
	s.srv, s.ln, s.served = srv, ln, served
	go func() {
		defer close(served)
		_ = srv.Serve(&trackingListener{Listener: ln, s: s})
	}()
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the server as a HERALD_SMTP_URL: smtp://[user:pass@]127.0.0.1:port
// with tls=none and from=herald@example.com.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr, RawQuery: "from=herald%40example.com&tls=none"}
	if s.user != "" {
		u.User = url.UserPassword(s.user, s.pass)
	}
	return u.String()
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitForMessages blocks until at least n messages have arrived, and returns
// them all, or until ctx ends, returning what arrived and ctx's error.
func (s *Server) WaitForMessages(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			msgs := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return msgs, nil
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			msgs := s.Messages()
			return msgs, fmt.Errorf("smtptest: %d of %d messages arrived: %w", len(msgs), n, ctx.Err())
		}
	}
}

// RejectNextMail answers the next n MAIL FROM commands with code and msg:
// 421 for a server that is going away (it then closes the connection), 451
// for a temporary refusal, 550 or 553 for a permanent one.
func (s *Server) RejectNextMail(n, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.mailFaults = append(s.mailFaults, fault{code, msg})
	}
}

// SetRejectMail answers every MAIL FROM with code and msg until it is
// called with code 0: a relay in trouble for minutes, as 421 (it closes
// each connection after saying so) or 451 (a local problem, try later).
// Connections are still accepted; SetDown refuses them. RejectNextMail's
// answers come first.
func (s *Server) SetRejectMail(code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailRefuse = fault{code, msg}
}

// RejectNext answers the next n RCPT TO commands, whatever the recipient,
// with code and msg: 451 or 452 for a temporary refusal, 550 or 553 for a
// permanent one.
func (s *Server) RejectNext(n, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.rcptFaults = append(s.rcptFaults, fault{code, msg})
	}
}

// RejectNextData refuses the next n messages at the end of DATA, after the
// recipients were accepted, with code and msg (e.g. 451, or 554 for
// content rejected as spam).
func (s *Server) RejectNextData(n, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.dataFaults = append(s.dataFaults, fault{code, msg})
	}
}

// RejectRecipient refuses RCPT TO for addr with code and msg until called
// again with code 0.
func (s *Server) RejectRecipient(addr string, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(addr)
	if code == 0 {
		delete(s.byRcpt, key)
		return
	}
	s.byRcpt[key] = fault{code, msg}
}

// SetLatency delays the answer to every MAIL FROM by d: a session takes
// that much longer, and a sender that dies meanwhile has sent nothing.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetDataHook makes hook run for every message accepted, after it is
// stored and before the server answers the end of DATA with 250: a hook
// that blocks holds the answer, as a server that took the message and then
// went quiet, or a sender that died before reading the answer (which has
// no way to learn that the message went). nil removes the hook.
func (s *Server) SetDataHook(hook func(Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataHook = hook
}

// SetDown(true) closes the listener and every open connection, so that
// connecting is refused; SetDown(false) listens again on the same address.
func (s *Server) SetDown(down bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || down == s.down {
		return
	}
	s.down = down
	if down {
		s.gen.Add(1)
		s.stop()
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Errorf("smtptest: listen again on %s: %v", s.addr, err)
		return
	}
	s.serve(ln)
}

// stop closes the go-smtp server and waits for its accept loop to end. s.mu
// is held; sessions never wait for s.mu while the server closes, because
// closing their connections unblocks them.
func (s *Server) stop() {
	srv, ln, served := s.srv, s.ln, s.served
	s.srv, s.ln, s.served = nil, nil, nil
	if srv == nil {
		return
	}
	_ = srv.Close()
	// go-smtp closes only the listeners Serve has registered, which it
	// may not have done yet.
	_ = ln.Close()
	<-served
}

// Close stops the server. Start arranges it at the end of the test.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.stop()
}

func (s *Server) newSession(*smtp.Conn) (smtp.Session, error) {
	return &session{s: s, gen: s.gen.Load()}, nil
}

// session is one SMTP connection's state.
type session struct {
	s        *Server
	gen      uint64 // the server's generation when the connection came
	authUser string
	from     string
	to       []string
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if ss.s.user != "" && (username != ss.s.user || password != ss.s.pass) {
			return smtp.ErrAuthFailed
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s := ss.s
	s.mu.Lock()
	latency := s.latency
	var f fault
	ok := len(s.mailFaults) > 0
	if ok {
		f = s.mailFaults[0]
		s.mailFaults = s.mailFaults[1:]
	} else if s.mailRefuse.code != 0 {
		f, ok = s.mailRefuse, true
	}
	s.mu.Unlock()
	time.Sleep(latency)
	if ok {
		return reply(f)
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := ss.s
	s.mu.Lock()
	f, ok := s.byRcpt[strings.ToLower(to)]
	if !ok && len(s.rcptFaults) > 0 {
		f, ok = s.rcptFaults[0], true
		s.rcptFaults = s.rcptFaults[1:]
	}
	s.mu.Unlock()
	if ok {
		return reply(f)
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	if s.gen.Load() != ss.gen {
		// The server went down (SetDown) while this message came in, its
		// connection closed: a relay that dies before it commits a message
		// has not taken it. Storing it now, after SetDown returned, would
		// make what the server had taken by the cut a race.
		s.mu.Unlock()
		return reply(fault{code: 421, msg: "4.3.2 Service shutting down"})
	}
	if len(s.dataFaults) > 0 {
		f := s.dataFaults[0]
		s.dataFaults = s.dataFaults[1:]
		s.mu.Unlock()
		return reply(f)
	}
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, AuthUser: ss.authUser}
	m.parse()
	s.msgs = append(s.msgs, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
	hook := s.dataHook
	s.mu.Unlock()
	if hook != nil {
		hook(m)
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// reply turns a fault into the server's answer. An enhanced status code at
// the start of the text ("5.1.1 No such user") is sent as one; without it,
// go-smtp sends X.0.0.
func reply(f fault) error {
	e := &smtp.SMTPError{Code: f.code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: f.msg}
	code, rest, _ := strings.Cut(f.msg, " ")
	var ec smtp.EnhancedCode
	if n, err := fmt.Sscanf(code, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); err == nil && n == 3 && ec[0] == f.code/100 {
		e.EnhancedCode, e.Message = ec, rest
	}
	return e
}

// errNoHeader is Message.ParseErr when the data has no header at all.
var errNoHeader = errors.New("smtptest: message has no header")

// Message is one accepted message: the envelope, the raw data and its
// header, parsed with net/mail.
type Message struct {
	From     string   // MAIL FROM
	To       []string // RCPT TO, in order
	AuthUser string   // the AUTH user name, if the client authenticated
	Data     []byte   // as received, CRLF line endings, dot-unstuffed
	Header   mail.Header
	Subject  string // decoded (RFC 2047)
	ParseErr error  // why Header is empty, if it is
}

func (m *Message) parse() {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		m.ParseErr = err
		return
	}
	if len(msg.Header) == 0 {
		m.ParseErr = errNoHeader
		return
	}
	m.Header = msg.Header
	m.Subject = decodeHeader(msg.Header.Get("Subject"))
}
