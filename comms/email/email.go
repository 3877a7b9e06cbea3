// Package email is Herald's email channel: executives' updates now,
// subscribers' later. It sends through any SMTP submission server (a
// provider's relay or a local MTA) with github.com/wneessen/go-mail, and maps
// the server's replies to comms.TemporaryError (4xx, refused or dropped
// connections, timeouts) or permanent errors (5xx) for the cadence engine.
//
// A Client keeps the connections it opened (after EHLO, STARTTLS and AUTH)
// and sends the next messages on them, one message at a time on each: a
// fan-out to many subscribers then does not pay a handshake per message.
// See WithPool and Client.Close.
//
// Package smtptest runs an in-process SMTP server for tests.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/kredete/herald/comms"
)

// Message is one email. From is optional (Config.From is the default). Text
// and HTML become a multipart/alternative message when both are given.
type Message struct {
	From    string
	To      []string
	Subject string
	Text    string
	HTML    string
	// Headers adds header fields, such as List-Unsubscribe and
	// List-Unsubscribe-Post. The fields Send writes itself (From, To, Cc,
	// Bcc, Subject, Date, Message-ID, References, MIME and content fields)
	// are refused.
	Headers map[string]string
	// MessageID, with or without angle brackets, is used as the Message-ID
	// when given: a stable id (say, one per delivery) lets the receiving side
	// drop the duplicate a retry after a lost reply can cause. Empty: Send
	// makes a random one in the sender's domain.
	MessageID string
	// References threads the message under earlier ones: their Message-IDs,
	// "<a@x> <b@x>". The last one also becomes In-Reply-To.
	References string
}

// Client sends email through one SMTP server. It is safe for concurrent use.
// Each Send has a connection to itself: an idle one from an earlier Send, or
// a new one when none is idle. After the message it goes back to the idle
// ones, unless an error left it in doubt (it is then closed), or it has
// carried its share of messages, or enough are idle already (it is then
// QUIT). See WithPool. Close ends the idle connections.
type Client struct {
	cfg       Config
	addr      string
	mc        *gomail.Client
	tlsConfig *tls.Config
	now       func() time.Time

	maxIdle     int
	idleTimeout time.Duration
	maxPerConn  int

	mu     sync.Mutex
	idle   []*conn // oldest first
	closed bool

	live atomic.Int64 // connections open, for the tests
	peak atomic.Int64 // the most ever open at once
}

// Connection pool defaults; see WithPool.
const (
	DefaultMaxIdle     = 10
	DefaultIdleTimeout = 30 * time.Second
	DefaultMaxPerConn  = 100
)

// quitTimeout bounds the QUIT that ends a connection which is not in doubt:
// a courtesy, not worth a long wait.
const quitTimeout = 5 * time.Second

// Option configures a Client.
type Option func(*Client)

// WithTLSConfig sets the TLS configuration for STARTTLS and implicit TLS,
// e.g. to trust a private relay's certificate authority. ServerName defaults
// to the configured host.
func WithTLSConfig(tc *tls.Config) Option {
	return func(c *Client) { c.tlsConfig = tc.Clone() }
}

// WithClock sets the clock that dates messages and ages idle connections
// (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
}

// WithPool sets how the Client reuses connections. It keeps at most maxIdle
// idle connections (DefaultMaxIdle without this option; 0 turns reuse off:
// each Send then opens a connection and QUITs it, as Herald did before). A
// connection idle for idleTimeout or longer is closed rather than reused:
// relays drop clients idle for 30 s to 5 minutes. A connection carries at
// most maxPerConn messages, then is QUIT. idleTimeout or maxPerConn ≤ 0 means
// the default (DefaultIdleTimeout, DefaultMaxPerConn).
func WithPool(maxIdle int, idleTimeout time.Duration, maxPerConn int) Option {
	return func(c *Client) {
		c.maxIdle = max(maxIdle, 0)
		c.idleTimeout = idleTimeout
		if idleTimeout <= 0 {
			c.idleTimeout = DefaultIdleTimeout
		}
		c.maxPerConn = maxPerConn
		if maxPerConn <= 0 {
			c.maxPerConn = DefaultMaxPerConn
		}
	}
}

// New returns a Client for cfg. It does not connect: a server that is down
// now is a temporary error at the first Send, not a failure to start.
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TLS == "" {
		cfg.TLS = StartTLS
	}
	cfg.Port = cfg.port()
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Client{
		cfg:         cfg,
		addr:        net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		now:         time.Now,
		maxIdle:     DefaultMaxIdle,
		idleTimeout: DefaultIdleTimeout,
		maxPerConn:  DefaultMaxPerConn,
	}
	for _, o := range opts {
		o(c)
	}
	if c.tlsConfig == nil {
		c.tlsConfig = &tls.Config{}
	}
	if c.tlsConfig.ServerName == "" {
		c.tlsConfig.ServerName = cfg.Host
	}
	if c.tlsConfig.MinVersion == 0 {
		c.tlsConfig.MinVersion = tls.VersionTLS12
	}

	policy := gomail.TLSMandatory
	if cfg.TLS != StartTLS {
		// Implicit TLS is set up by dial; none is none.
		policy = gomail.NoTLS
	}
	mopts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(c.tlsConfig),
		gomail.WithDialContextFunc(c.dial),
	}
	if cfg.Username != "" {
		// The first of these the server offers. PLAIN and LOGIN refuse to
		// send the password unencrypted except to this machine.
		mopts = append(mopts,
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
		)
	}
	mc, err := gomail.NewClient(cfg.Host, mopts...)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	c.mc = mc
	return c, nil
}

// dialState lets the Send that dials see the connection go-mail opens for
// it: to close it when go-mail gives up without closing it (a failed EHLO,
// STARTTLS or AUTH), and when the caller's context ends mid-conversation.
type dialState struct {
	ctx  context.Context
	conn net.Conn
	stop func() bool
}

type dialKey struct{}

func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn := raw
	if c.cfg.TLS == ImplicitTLS {
		tc := tls.Client(raw, c.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		conn = tc
	}
	if st, ok := ctx.Value(dialKey{}).(*dialState); ok {
		st.conn = raw
		st.stop = context.AfterFunc(st.ctx, closeRaw(raw))
	}
	return conn, nil
}

// closeRaw closes the socket, not the TLS layer: a TLS close writes, and a
// stuck write is what we may be getting out of.
func closeRaw(raw net.Conn) func() {
	return func() { raw.Close() }
}

// conn is one SMTP connection, past EHLO, STARTTLS and AUTH.
type conn struct {
	sc   *smtp.Client
	raw  net.Conn    // the socket under sc
	stop func() bool // ends the AfterFunc that closes raw when the current Send's ctx ends
	sent int         // mail transactions begun (MAIL FROM sent)
	idle time.Time   // when it went back to the pool
}

// Send delivers m and returns its Message-ID (with angle brackets) as the
// receipt's ProviderID. Either every recipient is accepted or the message
// goes to nobody (see RecipientsError). Temporary failures come back as
// *comms.TemporaryError; an invalid message wraps ErrInvalidMessage.
//
// On an idle connection Send starts with RSET. If that fails, or MAIL FROM
// finds the server gone (the connection dropped, or a 421 reply), Send
// tries once more on a new connection: the server has nothing of the message
// yet. Once the message's data is on its way, Send never tries again: the
// server may have it.
func (c *Client) Send(ctx context.Context, m Message) (comms.Receipt, error) {
	b, err := c.build(m)
	if err != nil {
		return comms.Receipt{}, err
	}
	if err := ctx.Err(); err != nil {
		return comms.Receipt{}, classify(ctx, "send "+b.id, err)
	}
	if cn := c.takeIdle(); cn != nil {
		if rcpt, retry, err := c.sendOn(ctx, cn, b); !retry {
			return rcpt, err
		}
	}
	cn, err := c.connect(ctx)
	if err != nil {
		return comms.Receipt{}, classify(ctx, "connect to "+c.addr, err)
	}
	rcpt, _, err := c.sendOn(ctx, cn, b)
	return rcpt, err
}

// connect opens a connection for a Send with context ctx: ctx's end closes
// it until the Send releases it.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	st := &dialState{ctx: ctx}
	sc, err := c.mc.DialToSMTPClientWithContext(context.WithValue(ctx, dialKey{}, st))
	if err != nil {
		if st.stop != nil {
			st.stop()
		}
		if st.conn != nil {
			st.conn.Close()
		}
		return nil, err
	}
	if st.conn == nil { // cannot happen: dial is go-mail's only way to connect
		return nil, errors.New("email: go-mail connected without the Client's dialer")
	}
	n := c.live.Add(1)
	for p := c.peak.Load(); n > p; p = c.peak.Load() {
		if c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return &conn{sc: sc, raw: st.conn, stop: st.stop}, nil
}

// sendOn sends b on cn, then returns cn to the pool or closes it. retry
// means that cn, an idle connection, turned out dead before the server had
// anything of the message; cn is closed, and the caller may try once on a
// new connection.
func (c *Client) sendOn(ctx context.Context, cn *conn, b built) (_ comms.Receipt, retry bool, _ error) {
	fail := func(command string, err error) (comms.Receipt, bool, error) {
		if se := smtpReply(command, "", err); se != nil {
			return comms.Receipt{}, false, classify(ctx, "send "+b.id, se)
		}
		return comms.Receipt{}, false, classify(ctx, "send "+b.id+": "+command, err)
	}
	reused := cn.sent > 0
	if reused {
		cn.stop = context.AfterFunc(ctx, closeRaw(cn.raw))
		// go-mail set one deadline when it dialed, for the whole
		// conversation: this Send gets its own.
		err := cn.sc.UpdateDeadline(c.cfg.Timeout)
		if err == nil {
			err = cn.sc.Reset()
		}
		if err != nil {
			c.discard(cn, err)
			if ctx.Err() != nil {
				return fail("RSET", err)
			}
			return comms.Receipt{}, true, nil
		}
	}
	cn.sent++
	if err := cn.sc.Mail(b.from); err != nil {
		c.discard(cn, err)
		if reused && ctx.Err() == nil && serverGone(err) {
			return comms.Receipt{}, true, nil
		}
		return fail("MAIL FROM", err)
	}
	var refused []*SMTPError
	for _, r := range b.rcpts {
		if err := cn.sc.Rcpt(r); err != nil {
			se := smtpReply("RCPT TO", r, err)
			if se == nil {
				c.discard(cn, err)
				return fail("RCPT TO <"+r+">", err)
			}
			refused = append(refused, se)
		}
	}
	if len(refused) > 0 {
		// The server refused politely: after RSET the connection is as good
		// as new. A 421 means it is going away.
		if closing(refused) || cn.sc.Reset() != nil {
			c.discard(cn, nil)
		} else {
			c.release(cn)
		}
		return comms.Receipt{}, false, classify(ctx, "send "+b.id, &RecipientsError{Failures: refused, Total: len(b.rcpts)})
	}
	w, err := cn.sc.Data()
	if err != nil {
		c.discard(cn, err)
		return fail("DATA", err)
	}
	if _, err := b.msg.WriteTo(w); err != nil {
		c.discard(cn, err)
		return fail("writing the message", err)
	}
	if err := w.Close(); err != nil {
		c.discard(cn, err)
		return fail("end of DATA", err)
	}
	c.release(cn)
	return comms.Receipt{ProviderID: b.id}, false, nil
}

// serverGone reports whether err says the server went away: it dropped the
// connection, or said 421 (closing the transmission channel).
func serverGone(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code == 421
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}

func closing(refused []*SMTPError) bool {
	for _, se := range refused {
		if se.Code == 421 {
			return true
		}
	}
	return false
}

// testHookRelease, when set, runs as a Send releases its connection.
var testHookRelease func()

// release ends a Send's use of cn, which is in a known state: idle, or
// about to be QUIT. The Send's context no longer closes it.
func (c *Client) release(cn *conn) {
	if testHookRelease != nil {
		testHookRelease()
	}
	c.mu.Lock()
	if !c.closed && len(c.idle) < c.maxIdle && cn.sent < c.maxPerConn {
		stop := cn.stop
		cn.stop = nil
		if stop() {
			cn.idle = c.now()
			c.idle = append(c.idle, cn)
			c.mu.Unlock()
			return
		}
		// The context ended: its AfterFunc closed the socket, or will.
		c.mu.Unlock()
		c.closeConn(cn)
		return
	}
	c.mu.Unlock()
	c.quit(cn)
}

// takeIdle returns the idle connection last used, or nil if none is idle,
// and closes those idle too long.
func (c *Client) takeIdle() *conn {
	c.mu.Lock()
	now := c.now()
	n := 0
	for n < len(c.idle) && now.Sub(c.idle[n].idle) >= c.idleTimeout {
		n++
	}
	stale := make([]*conn, n)
	copy(stale, c.idle)
	k := copy(c.idle, c.idle[n:])
	clear(c.idle[k:])
	c.idle = c.idle[:k]
	var cn *conn
	if k > 0 {
		cn = c.idle[k-1]
		c.idle[k-1] = nil
		c.idle = c.idle[:k-1]
	}
	c.mu.Unlock()
	// No QUIT: the server has likely dropped them already, and a QUIT into
	// a dead connection would hold this Send up.
	for _, s := range stale {
		c.closeConn(s)
	}
	return cn
}

// discard closes cn after an error: the connection is in doubt. After a
// reply (other than 421) the conversation is still in step, and it ends
// with QUIT.
func (c *Client) discard(cn *conn, err error) {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code != 421 {
		c.quit(cn)
		return
	}
	c.closeConn(cn)
}

// quit sends QUIT, a courtesy, then closes cn.
func (c *Client) quit(cn *conn) error {
	err := cn.sc.UpdateDeadline(min(c.cfg.Timeout, quitTimeout))
	if err == nil {
		err = cn.sc.Quit()
	}
	c.closeConn(cn)
	return err
}

func (c *Client) closeConn(cn *conn) {
	if cn.stop != nil {
		cn.stop()
		cn.stop = nil
	}
	cn.raw.Close()
	c.live.Add(-1)
}

// Close QUITs and closes the idle connections. Send still works after
// Close, but without reuse: each Send opens a connection and QUITs it, and
// the connections of Sends under way when Close is called are QUIT when they
// end. Close returns the QUITs' errors, for the log; the connections are
// closed either way. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	errs := make([]error, len(idle))
	var wg sync.WaitGroup
	for i, cn := range idle {
		wg.Go(func() {
			if err := c.quit(cn); err != nil {
				errs[i] = fmt.Errorf("email: QUIT: %w", err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

type built struct {
	msg   *gomail.Msg
	from  string   // envelope sender
	rcpts []string // envelope recipients
	id    string   // Message-ID with angle brackets
}

// reserved are the header fields Send writes itself.
var reserved = map[string]bool{
	"From": true, "Sender": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true,
	"Subject": true, "Date": true, "Message-Id": true, "References": true, "Return-Path": true,
	"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true, "Content-Disposition": true,
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("email: %w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}

func (c *Client) build(m Message) (built, error) {
	var b built
	fromText := m.From
	if fromText == "" {
		fromText = c.cfg.From
	}
	if fromText == "" {
		return b, invalid("no sender: set Message.From or from= in HERALD_SMTP_URL")
	}
	from, err := mail.ParseAddress(fromText)
	if err != nil {
		return b, invalid("sender %q: %v", fromText, err)
	}
	if len(m.To) == 0 {
		return b, invalid("no recipients")
	}
	to := make([]*mail.Address, 0, len(m.To))
	seen := map[string]bool{}
	for _, s := range m.To {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return b, invalid("recipient %q: %v", s, err)
		}
		to = append(to, a)
		if key := strings.ToLower(a.Address); !seen[key] {
			seen[key] = true
			b.rcpts = append(b.rcpts, a.Address)
		}
	}
	if m.Text == "" && m.HTML == "" {
		return b, invalid("no body: set Text, HTML or both")
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return b, invalid("the subject contains a line break")
	}

	id, err := messageID(m.MessageID, from.Address)
	if err != nil {
		return b, err
	}
	b.id = "<" + id + ">"
	b.from = from.Address

	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(from)
	msg.ToMailAddress(to...)
	msg.Subject(m.Subject)
	msg.SetDateWithValue(c.now())
	msg.SetMessageIDWithValue(id)
	msg.SetGenHeader(gomail.HeaderUserAgent, "Herald")
	// RFC 3834: no vacation replies to a robot.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	if m.References != "" {
		refs := strings.Fields(m.References)
		for _, r := range refs {
			if len(r) < 3 || r[0] != '<' || r[len(r)-1] != '>' || !printableASCII(r) {
				return b, invalid("References %q: want Message-IDs such as <a@example.com>", m.References)
			}
		}
		msg.SetGenHeader(gomail.HeaderReferences, strings.Join(refs, " "))
		msg.SetGenHeader(gomail.HeaderInReplyTo, refs[len(refs)-1])
	}
	for k, v := range m.Headers {
		name := textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		if name == "" || !headerName(name) {
			return b, invalid("header name %q", k)
		}
		if reserved[name] {
			return b, invalid("header %s is set by Send; use the Message fields", name)
		}
		if strings.ContainsAny(v, "\r\n") {
			return b, invalid("header %s contains a line break", name)
		}
		msg.SetGenHeader(gomail.Header(name), v)
	}
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	b.msg = msg
	return b, nil
}

// messageID returns the id without angle brackets: the one given, checked,
// or a random one in the sender's domain.
func messageID(given, from string) (string, error) {
	if given != "" {
		id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(given), "<"), ">")
		local, domain, ok := strings.Cut(id, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(id, "<>\"\\()[],;: ") || !printableASCII(id) {
			return "", invalid("MessageID %q: want an id such as delivery-42@kredete.com", given)
		}
		return id, nil
	}
	domain := "localhost"
	if i := strings.LastIndex(from, "@"); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	return strings.ToLower(rand.Text()) + "@" + domain, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// headerName reports whether s is a valid header field name (RFC 5322
// ftext: printable ASCII except the colon).
func headerName(s string) bool {
	return printableASCII(s) && !strings.Contains(s, ":")
}
