package email_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/comms/email/smtptest"
)

var sentAt = time.Date(2026, 11, 25, 14, 47, 0, 0, time.UTC)

func newClient(t *testing.T, url string) *email.Client {
	t.Helper()
	cfg, err := email.ParseURL(url)
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	c, err := email.New(cfg, email.WithClock(func() time.Time { return sentAt }))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func waitFor(t *testing.T, srv *smtptest.Server, n int) []smtptest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	msgs, err := srv.WaitForMessages(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func simple(to ...string) email.Message {
	return email.Message{To: to, Subject: "Test", Text: "Hello."}
}

func TestSendMultipart(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())

	const (
		subject     = "[SEV Major] Zahlungen gestört — Identified ✓"
		text        = "Payments are failing for some customers.\nNext update by 15:15 UTC.\n"
		html        = "<p>Payments are failing for <strong>some</strong> customers.</p>\n<p>Größe: ünïcödé — ✓</p>\n"
		unsubscribe = "<https://status.kredete.com/unsubscribe/4f6b2c9e-0d1a-4c7e-9b9a-2f1e3d4c5b6a>, <mailto:unsubscribe@kredete.com?subject=4f6b2c9e>"
	)
	m := email.Message{
		To:      []string{"Ada Lovelace <ada@example.com>", "cfo@example.com"},
		Subject: subject,
		Text:    text,
		HTML:    html,
		Headers: map[string]string{
			"List-Unsubscribe":      unsubscribe,
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
		MessageID:  "delivery-42@kredete.com",
		References: "<incident-7@kredete.com>",
	}
	rcpt, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rcpt.ProviderID != "<delivery-42@kredete.com>" {
		t.Errorf("ProviderID = %q; want <delivery-42@kredete.com>", rcpt.ProviderID)
	}

	got := waitFor(t, srv, 1)[0]
	if got.From != "herald@example.com" {
		t.Errorf("MAIL FROM = %q; want the URL's from=", got.From)
	}
	if strings.Join(got.To, ",") != "ada@example.com,cfo@example.com" {
		t.Errorf("RCPT TO = %v", got.To)
	}
	if got.ParseErr != nil {
		t.Fatalf("the message does not parse: %v\n%s", got.ParseErr, got.Data)
	}
	if got.Subject != subject {
		t.Errorf("Subject = %q; want %q", got.Subject, subject)
	}
	// Headers travel as ASCII: the subject is RFC 2047-encoded.
	raw := string(got.Data)
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	for i := 0; i < len(head); i++ {
		if head[i] > '~' {
			t.Fatalf("non-ASCII byte in the header:\n%s", head)
		}
	}
	if !strings.Contains(strings.ToLower(got.Header.Get("Subject")), "=?utf-8?") {
		t.Errorf("raw Subject %q is not an encoded word", got.Header.Get("Subject"))
	}
	checks := map[string]string{
		"Message-Id":            "<delivery-42@kredete.com>",
		"References":            "<incident-7@kredete.com>",
		"In-Reply-To":           "<incident-7@kredete.com>",
		"List-Unsubscribe":      unsubscribe,
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"Auto-Submitted":        "auto-generated",
		"Mime-Version":          "1.0",
	}
	for k, want := range checks {
		if v := got.HeaderValue(k); v != want {
			t.Errorf("%s = %q; want %q", k, v, want)
		}
	}
	from, err := got.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "herald@example.com" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := got.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Name != "Ada Lovelace" || to[1].Address != "cfo@example.com" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if d, err := got.Header.Date(); err != nil || !d.Equal(sentAt) {
		t.Errorf("Date = %v (%v); want %v", d, err, sentAt)
	}
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
		t.Errorf("Content-Type = %q; want multipart/alternative", ct)
	}

	parts, err := got.Parts()
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].ContentType != "text/plain" || parts[1].ContentType != "text/html" {
		t.Fatalf("parts = %+v; want text/plain then text/html", parts)
	}
	for _, p := range parts {
		if cs := strings.ToLower(p.Params["charset"]); cs != "utf-8" {
			t.Errorf("%s charset = %q; want utf-8", p.ContentType, cs)
		}
	}
	crlf := strings.NewReplacer("\r\n", "\n")
	if got := crlf.Replace(parts[0].Body); got != text {
		t.Errorf("text part = %q; want %q", got, text)
	}
	if got := crlf.Replace(parts[1].Body); got != html {
		t.Errorf("HTML part = %q; want %q", got, html)
	}
}

func TestSendGeneratesAMessageIDInTheSendersDomain(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	m := simple("ada@example.com")
	m.From = "Herald Ops <ops@status.kredete.com>"
	m.HTML = "<p>Hello.</p>"
	rcpt, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^<[a-z0-9]{20,}@status\.kredete\.com>$`).MatchString(rcpt.ProviderID) {
		t.Errorf("ProviderID = %q; want a random id at status.kredete.com", rcpt.ProviderID)
	}
	got := waitFor(t, srv, 1)[0]
	if id := got.Header.Get("Message-Id"); id != rcpt.ProviderID {
		t.Errorf("Message-ID = %q; receipt says %q", id, rcpt.ProviderID)
	}
	if got.From != "ops@status.kredete.com" {
		t.Errorf("MAIL FROM = %q; want Message.From's address", got.From)
	}

	// A second message gets another id.
	rcpt2, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if rcpt2.ProviderID == rcpt.ProviderID {
		t.Errorf("two messages share the Message-ID %s", rcpt.ProviderID)
	}
}

func TestSendOnlyText(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	if _, err := c.Send(t.Context(), simple("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, srv, 1)[0]
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q; want text/plain", ct)
	}
	if body, err := got.Part("text/plain"); err != nil || strings.TrimSpace(body) != "Hello." {
		t.Errorf("body = %q, %v", body, err)
	}
}

func TestSendWithAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithAuth("herald", "p@ss:w/rd"))
	c := newClient(t, srv.URL())
	if _, err := c.Send(t.Context(), simple("ada@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := waitFor(t, srv, 1)[0]; got.AuthUser != "herald" {
		t.Errorf("authenticated as %q; want herald", got.AuthUser)
	}

	bad := newClient(t, strings.Replace(srv.URL(), "p%40ss", "wrong", 1))
	_, err := bad.Send(t.Context(), simple("ada@example.com"))
	if err == nil {
		t.Fatal("Send with a wrong password succeeded")
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("a refused login is retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "535") {
		t.Errorf("error %q lacks the 535 reply", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestTemporaryRefusalIsRetryable(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	srv.RejectNext(1, 451, "4.3.0 Try again later")

	_, err := c.Send(t.Context(), simple("ada@example.com"))
	var te *comms.TemporaryError
	if !errors.As(err, &te) {
		t.Fatalf("Send = %v; want a *comms.TemporaryError", err)
	}
	var se *email.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.Recipient != "ada@example.com" {
		t.Errorf("Send = %v; want the 451 for ada@example.com as an *email.SMTPError", err)
	}
	if len(srv.Messages()) != 0 {
		t.Error("a refused message was delivered")
	}

	// The refusal was for that attempt only: the retry goes through.
	if _, err := c.Send(t.Context(), simple("ada@example.com")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	waitFor(t, srv, 1)
}

func TestPermanentRefusal(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	srv.RejectNext(1, 550, "5.1.1 Mailbox unavailable")

	_, err := c.Send(t.Context(), simple("nobody@example.com"))
	if err == nil {
		t.Fatal("Send succeeded")
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("a 550 is retryable: %v", err)
	}
	for _, want := range []string{"550", "5.1.1 Mailbox unavailable", "nobody@example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRefusedRecipientsAreReported(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	srv.RejectRecipient("gone@example.com", 550, "5.1.1 No such user")

	_, err := c.Send(t.Context(), simple("ada@example.com", "gone@example.com", "cfo@example.com"))
	var re *email.RecipientsError
	if !errors.As(err, &re) {
		t.Fatalf("Send = %v; want an *email.RecipientsError", err)
	}
	if re.Total != 3 || len(re.Failures) != 1 || re.Failures[0].Recipient != "gone@example.com" || re.Failures[0].Code != 550 {
		t.Errorf("RecipientsError = %+v; want gone@example.com refused with 550, of 3", re)
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("a 550 for a recipient is retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "1 of 3 recipients refused") {
		t.Errorf("error %q does not say how many were refused", err)
	}
	// All or nothing: the others did not get it, so a retry without the
	// refused address sends nobody a duplicate.
	if len(srv.Messages()) != 0 {
		t.Errorf("the message went to the accepted recipients: %v", srv.Messages())
	}

	// A mix of temporary and permanent refusals is permanent.
	srv.RejectRecipient("busy@example.com", 452, "4.2.2 Mailbox full")
	_, err = c.Send(t.Context(), simple("busy@example.com", "gone@example.com"))
	if ok, _ := comms.Retryable(err); ok || !errors.As(err, &re) || len(re.Failures) != 2 {
		t.Errorf("Send = %v; want a permanent RecipientsError with two failures", err)
	}
	// Only temporary refusals: temporary.
	_, err = c.Send(t.Context(), simple("busy@example.com", "ada@example.com"))
	if ok, _ := comms.Retryable(err); !ok {
		t.Errorf("Send = %v; want a temporary error", err)
	}
}

func TestRefusalAtEndOfData(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())

	srv.RejectNextData(1, 554, "5.7.1 Message rejected as spam")
	_, err := c.Send(t.Context(), simple("ada@example.com"))
	if ok, _ := comms.Retryable(err); ok || err == nil {
		t.Fatalf("Send = %v; want a permanent error", err)
	}
	var se *email.SMTPError
	if !errors.As(err, &se) || se.Code != 554 || !strings.Contains(err.Error(), "554 5.7.1 Message rejected as spam") {
		t.Errorf("Send = %v; want the 554 with its text", err)
	}

	srv.RejectNextData(1, 451, "4.3.0 Queue full")
	_, err = c.Send(t.Context(), simple("ada@example.com"))
	if ok, _ := comms.Retryable(err); !ok {
		t.Errorf("Send = %v; want a temporary error", err)
	}
}

func TestServerDownIsTemporary(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())

	srv.SetDown(true)
	_, err := c.Send(t.Context(), simple("ada@example.com"))
	var te *comms.TemporaryError
	if !errors.As(err, &te) {
		t.Fatalf("Send to a server that is down = %v; want a *comms.TemporaryError", err)
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %q does not say the connection was refused", err)
	}

	srv.SetDown(false)
	if _, err := c.Send(t.Context(), simple("ada@example.com")); err != nil {
		t.Fatalf("Send after the server came back: %v", err)
	}
	waitFor(t, srv, 1)
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().String()
}

func TestTimeoutIsTemporary(t *testing.T) {
	addr := silentServer(t)
	c := newClient(t, "smtp://"+addr+"?from=herald@example.com&tls=none")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, simple("ada@example.com"))
	var te *comms.TemporaryError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a silent server = %v; want a temporary deadline error", err)
	}

	// The client's own timeout works without a deadline on ctx.
	cfg, _ := email.ParseURL("smtp://" + addr + "?from=herald@example.com&tls=none&timeout=100ms")
	c2, err := email.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.Send(t.Context(), simple("ada@example.com"))
	if ok, _ := comms.Retryable(err); !ok {
		t.Fatalf("Send with timeout=100ms = %v; want a temporary error", err)
	}
}

func TestCancelledSendIsNotRetried(t *testing.T) {
	addr := silentServer(t)
	c := newClient(t, "smtp://"+addr+"?from=herald@example.com&tls=none")
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, simple("ada@example.com"))
		errc <- err
	}()
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v; want context.Canceled", err)
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("a cancelled send is retryable: %v", err)
	}
}

func TestStartTLSIsMandatoryByDefault(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, "smtp://"+srv.Addr()+"?from=herald@example.com")
	_, err := c.Send(t.Context(), simple("ada@example.com"))
	if err == nil {
		t.Fatal("Send went through in clear text with tls=starttls")
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("a server without STARTTLS is retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error %q does not mention STARTTLS", err)
	}
	if len(srv.Messages()) != 0 {
		t.Error("a message was delivered without TLS")
	}
}

func TestInvalidMessages(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	tests := []struct {
		name string
		m    email.Message
		want string
	}{
		{"no recipients", email.Message{Subject: "s", Text: "t"}, "no recipients"},
		{"bad recipient", simple("not an address"), "recipient"},
		{"bad sender", email.Message{From: "herald", To: []string{"a@example.com"}, Text: "t"}, "sender"},
		{"no body", email.Message{To: []string{"a@example.com"}, Subject: "s"}, "no body"},
		{"reserved header", func() email.Message {
			m := simple("a@example.com")
			m.Headers = map[string]string{"bcc": "spy@example.com"}
			return m
		}(), "Bcc is set by Send"},
		{"header injection", func() email.Message {
			m := simple("a@example.com")
			m.Headers = map[string]string{"X-Note": "x\r\nBcc: spy@example.com"}
			return m
		}(), "line break"},
		{"bad header name", func() email.Message {
			m := simple("a@example.com")
			m.Headers = map[string]string{"X Note": "x"}
			return m
		}(), "header name"},
		{"subject injection", func() email.Message {
			m := simple("a@example.com")
			m.Subject = "hi\r\nBcc: spy@example.com"
			return m
		}(), "subject"},
		{"bad message id", func() email.Message {
			m := simple("a@example.com")
			m.MessageID = "no-at-sign"
			return m
		}(), "MessageID"},
		{"bad references", func() email.Message {
			m := simple("a@example.com")
			m.References = "incident-7"
			return m
		}(), "References"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Send(t.Context(), tt.m)
			if !errors.Is(err, email.ErrInvalidMessage) {
				t.Fatalf("Send = %v; want ErrInvalidMessage", err)
			}
			if ok, _ := comms.Retryable(err); ok {
				t.Errorf("an invalid message is retryable")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d invalid messages were delivered", n)
	}
}

func TestSendConcurrently(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	const n = 8
	errc := make(chan error, n)
	for i := range n {
		go func() {
			m := simple("ada@example.com")
			m.MessageID = "d" + string(rune('a'+i)) + "@kredete.com"
			_, err := c.Send(t.Context(), m)
			errc <- err
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	msgs := waitFor(t, srv, n)
	seen := map[string]bool{}
	for _, m := range msgs {
		seen[m.Header.Get("Message-Id")] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages; want %d", len(seen), n)
	}
}

// TestDeliverOneLineSubject: a delivery's subject made from an incident
// name with line breaks (typed through the API, or a PagerDuty title) is
// sent on one line, not refused; no header comes of it.
func TestDeliverOneLineSubject(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	d := herald.Delivery{ID: "dlv1", Channel: herald.ChannelEmail, Kind: herald.KindSubscriber, Recipient: "ops@example.com",
		Subject: "[Kredete] Outage\r\nBcc: everyone@example.com\n: Identified", Body: "We are investigating."}
	if _, err := c.Deliver(t.Context(), comms.Message{Delivery: d}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got := waitFor(t, srv, 1)[0]
	if want := "[Kredete] Outage Bcc: everyone@example.com : Identified"; got.Subject != want {
		t.Errorf("Subject = %q; want %q", got.Subject, want)
	}
	if got.Header.Get("Bcc") != "" || strings.Join(got.To, ",") != "ops@example.com" {
		t.Errorf("a header came of the subject: Bcc %q, RCPT TO %v", got.Header.Get("Bcc"), got.To)
	}
}
