package smtptest_test

import (
	"context"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald/comms/email/smtptest"
)

const sample = "From: Herald <herald@example.com>\r\n" +
	"To: ada@example.com\r\n" +
	"Subject: =?UTF-8?q?Zahlungen_gest=C3=B6rt?=\r\n" +
	"List-Unsubscribe: <https://example.com/u/1>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b1\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Gr=C3=BC=C3=9Fe, a long line that is soft=\r\n" +
	" broken.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+R3LDvMOfZTwv\r\ncD4=\r\n" +
	"--b1--\r\n"

func send(addr string, a smtp.Auth, to ...string) error {
	return smtp.SendMail(addr, a, "herald@example.com", to, []byte(sample))
}

func wait(t *testing.T, s *smtptest.Server, n int) []smtptest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	msgs, err := s.WaitForMessages(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestReceiveAndParse(t *testing.T) {
	s := smtptest.Start(t)
	errc := make(chan error, 1)
	go func() { errc <- send(s.Addr(), nil, "ada@example.com", "cfo@example.com") }()
	got := wait(t, s, 1)[0]
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got.From != "herald@example.com" || strings.Join(got.To, " ") != "ada@example.com cfo@example.com" {
		t.Errorf("envelope = %s → %v", got.From, got.To)
	}
	if got.Subject != "Zahlungen gestört" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if v := got.HeaderValue("List-Unsubscribe"); v != "<https://example.com/u/1>" {
		t.Errorf("List-Unsubscribe = %q", v)
	}
	if string(got.Data) != sample {
		t.Errorf("Data differs from what was sent:\n%q", got.Data)
	}
	text, err := got.Part("text/plain")
	if err != nil || text != "Grüße, a long line that is soft broken." {
		t.Errorf("text/plain = %q, %v", text, err)
	}
	html, err := got.Part("text/html")
	if err != nil || html != "<p>Grüße</p>" {
		t.Errorf("text/html = %q, %v", html, err)
	}
	if _, err := got.Part("image/png"); err == nil {
		t.Error("Part found an image/png that is not there")
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("Messages() has %d; want 1", n)
	}
}

func TestWaitForMessagesGivesUpWithTheContext(t *testing.T) {
	s := smtptest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	msgs, err := s.WaitForMessages(ctx, 1)
	if !errors.Is(err, context.Canceled) || len(msgs) != 0 {
		t.Errorf("WaitForMessages = %v, %v; want no messages and context.Canceled", msgs, err)
	}
}

func TestRejections(t *testing.T) {
	s := smtptest.Start(t)

	s.RejectNext(1, 451, "4.3.0 Try again later")
	if err := send(s.Addr(), nil, "ada@example.com"); code(err) != 451 || !strings.Contains(err.Error(), "Try again later") {
		t.Errorf("after RejectNext(1, 451): %v", err)
	}
	if err := send(s.Addr(), nil, "ada@example.com"); err != nil {
		t.Errorf("RejectNext(1, ...) refused a second message: %v", err)
	}

	s.RejectRecipient("Gone@example.com", 550, "5.1.1 No such user")
	if err := send(s.Addr(), nil, "ada@example.com", "gone@example.com"); code(err) != 550 || !strings.Contains(err.Error(), "5.1.1 No such user") {
		t.Errorf("after RejectRecipient: %v", err)
	}
	s.RejectRecipient("gone@example.com", 0, "")
	if err := send(s.Addr(), nil, "gone@example.com"); err != nil {
		t.Errorf("after clearing RejectRecipient: %v", err)
	}

	s.RejectNextData(1, 554, "5.7.1 Spam")
	if err := send(s.Addr(), nil, "ada@example.com"); code(err) != 554 {
		t.Errorf("after RejectNextData(1, 554): %v", err)
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("%d messages recorded; want the 2 accepted", n)
	}
}

func TestSetDown(t *testing.T) {
	s := smtptest.Start(t)
	s.SetDown(true)
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("connected to a server that is down")
	}
	s.SetDown(true) // no-op
	s.SetDown(false)
	if err := send(s.Addr(), nil, "ada@example.com"); err != nil {
		t.Fatalf("after SetDown(false): %v", err)
	}
	wait(t, s, 1)
	s.Close()
	s.Close() // idempotent; the cleanup calls it again too
}

func TestAuth(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithAuth("herald", "s3cret"))
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); u.User.Username() != "herald" || pw != "s3cret" || u.Query().Get("tls") != "none" {
		t.Errorf("URL() = %s", s.URL())
	}
	if err := send(s.Addr(), nil, "ada@example.com"); err == nil {
		t.Error("sent without authenticating")
	}
	if err := send(s.Addr(), smtp.PlainAuth("", "herald", "wrong", "127.0.0.1"), "ada@example.com"); code(err) != 535 {
		t.Errorf("wrong password: %v; want 535", err)
	}
	if err := send(s.Addr(), smtp.PlainAuth("", "herald", "s3cret", "127.0.0.1"), "ada@example.com"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if got := wait(t, s, 1)[0]; got.AuthUser != "herald" {
		t.Errorf("AuthUser = %q", got.AuthUser)
	}
}
