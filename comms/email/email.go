// Package email is Herald's email channel: executives' updates now,
// subscribers' later. It sends through any SMTP submission server (a
// provider's relay or a local MTA) with github.com/wneessen/go-mail, and maps
// the server's replies to comms.TemporaryError (4xx, refused or dropped
// connections, timeouts) or permanent errors (5xx) for the cadence engine.
//
// Package smtptest runs an in-process SMTP server for tests.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

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

// Client sends email through one SMTP server. It is safe for concurrent use;
// each Send opens its own connection.
type Client struct {
	cfg       Config
	addr      string
	mc        *gomail.Client
	tlsConfig *tls.Config
	now       func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithTLSConfig sets the TLS configuration for STARTTLS and implicit TLS,
// e.g. to trust a private relay's certificate authority. ServerName defaults
// to the configured host.
func WithTLSConfig(tc *tls.Config) Option {
	return func(c *Client) { c.tlsConfig = tc.Clone() }
}

// WithClock sets the clock that dates messages (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
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
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		now:  time.Now,
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

// dialState lets one Send see the connection go-mail dials for it: to close
// it when go-mail gives up without closing it (a failed EHLO, STARTTLS or
// AUTH), and when the caller's context ends mid-conversation.
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
		// Closing the socket, not the TLS layer: a TLS close writes, and a
		// stuck write is what we may be getting out of.
		st.stop = context.AfterFunc(st.ctx, func() { raw.Close() })
	}
	return conn, nil
}

// Send delivers m and returns its Message-ID (with angle brackets) as the
// receipt's ProviderID. Either every recipient is accepted or the message
// goes to nobody (see RecipientsError). Temporary failures come back as
// *comms.TemporaryError; an invalid message wraps ErrInvalidMessage.
func (c *Client) Send(ctx context.Context, m Message) (comms.Receipt, error) {
	b, err := c.build(m)
	if err != nil {
		return comms.Receipt{}, err
	}

	st := &dialState{ctx: ctx}
	sc, err := c.mc.DialToSMTPClientWithContext(context.WithValue(ctx, dialKey{}, st))
	defer func() {
		if st.stop != nil {
			st.stop()
		}
	}()
	if err != nil {
		if st.conn != nil {
			st.conn.Close()
		}
		return comms.Receipt{}, classify(ctx, "connect to "+c.addr, err)
	}
	defer c.mc.CloseWithSMTPClient(sc) //nolint:errcheck // QUIT is a courtesy; the message is sent or not by now

	fail := func(command string, err error) (comms.Receipt, error) {
		if se := smtpReply(command, "", err); se != nil {
			return comms.Receipt{}, classify(ctx, "send "+b.id, se)
		}
		return comms.Receipt{}, classify(ctx, "send "+b.id+": "+command, err)
	}
	if err := sc.Mail(b.from); err != nil {
		return fail("MAIL FROM", err)
	}
	var refused []*SMTPError
	for _, r := range b.rcpts {
		if err := sc.Rcpt(r); err != nil {
			se := smtpReply("RCPT TO", r, err)
			if se == nil {
				return fail("RCPT TO <"+r+">", err)
			}
			refused = append(refused, se)
		}
	}
	if len(refused) > 0 {
		_ = sc.Reset()
		return comms.Receipt{}, classify(ctx, "send "+b.id, &RecipientsError{Failures: refused, Total: len(b.rcpts)})
	}
	w, err := sc.Data()
	if err != nil {
		return fail("DATA", err)
	}
	if _, err := b.msg.WriteTo(w); err != nil {
		return fail("writing the message", err)
	}
	if err := w.Close(); err != nil {
		return fail("end of DATA", err)
	}
	return comms.Receipt{ProviderID: b.id}, nil
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
