package smtptest_test

import (
	"context"
	"net/smtp"
	"testing"
	"time"

	"github.com/kredete/herald/comms/email/smtptest"
)

func waitConns(t *testing.T, s *smtptest.Server, cond func(smtptest.ConnStats) bool) smtptest.ConnStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := s.WaitForConns(ctx, cond)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func dial(t *testing.T, s *smtptest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConnStats(t *testing.T) {
	s := smtptest.Start(t)
	if st := s.ConnStats(); st != (smtptest.ConnStats{}) {
		t.Errorf("before any connection: %+v", st)
	}
	// SendMail QUITs.
	if err := send(s.Addr(), nil, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if st := s.ConnStats(); st.Opened != 1 || st.Quit != 1 {
		t.Errorf("after SendMail: %+v; want 1 opened and QUIT", st)
	}
	waitConns(t, s, func(st smtptest.ConnStats) bool { return st.Open == 0 })

	// A client that goes without QUIT.
	c := dial(t, s)
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if st := s.ConnStats(); st.Opened != 2 || st.Open != 1 {
		t.Errorf("with a client connected: %+v; want 2 opened, 1 open", st)
	}
	c.Close()
	st := waitConns(t, s, func(st smtptest.ConnStats) bool { return st.Open == 0 })
	if st.Quit != 1 {
		t.Errorf("a client that closed without QUIT is counted as QUIT: %+v", st)
	}
}

func TestWaitForConnsGivesUpWithTheContext(t *testing.T) {
	s := smtptest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.WaitForConns(ctx, func(st smtptest.ConnStats) bool { return st.Opened > 0 }); err == nil {
		t.Error("WaitForConns returned nil with no connection and a canceled context")
	}
}

func TestDropConnections(t *testing.T) {
	s := smtptest.Start(t)
	c := dial(t, s)
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	s.DropConnections()
	waitConns(t, s, func(st smtptest.ConnStats) bool { return st.Open == 0 })
	if err := c.Noop(); err == nil {
		t.Error("NOOP on a dropped connection succeeded")
	}
	// Still listening.
	if err := send(s.Addr(), nil, "ada@example.com"); err != nil {
		t.Fatalf("after DropConnections: %v", err)
	}
	wait(t, s, 1)
}

func TestRejectNextMail(t *testing.T) {
	s := smtptest.Start(t)
	c := dial(t, s)
	s.RejectNextMail(1, 451, "4.7.1 Slow down")
	if err := c.Mail("herald@example.com"); code(err) != 451 {
		t.Fatalf("MAIL FROM after RejectNextMail(1, 451): %v", err)
	}
	// A 451 leaves the connection open; the next MAIL FROM is accepted.
	if err := c.Mail("herald@example.com"); err != nil {
		t.Fatalf("second MAIL FROM: %v", err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}

	s.RejectNextMail(1, 421, "4.3.2 Shutting down")
	if err := c.Mail("herald@example.com"); code(err) != 421 {
		t.Fatalf("MAIL FROM after RejectNextMail(1, 421): %v", err)
	}
	// After a 421 the server hangs up.
	waitConns(t, s, func(st smtptest.ConnStats) bool { return st.Open == 0 })
	if err := c.Noop(); err == nil {
		t.Error("NOOP after a 421 succeeded")
	}
	if err := send(s.Addr(), nil, "ada@example.com"); err != nil {
		t.Fatalf("a new connection after the 421: %v", err)
	}
	wait(t, s, 1)
}

func TestSetRejectMail(t *testing.T) {
	s := smtptest.Start(t)
	s.SetRejectMail(451, "4.3.0 Temporary local problem")
	for i := range 3 {
		c := dial(t, s)
		if err := c.Mail("herald@example.com"); code(err) != 451 {
			t.Fatalf("MAIL FROM %d while rejecting: %v", i, err)
		}
		c.Close()
	}
	s.SetRejectMail(421, "4.3.2 Shutting down")
	if err := send(s.Addr(), nil, "ada@example.com"); code(err) != 421 {
		t.Fatalf("a message while rejecting with 421: %v", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("%d messages accepted while rejecting", n)
	}
	s.SetRejectMail(0, "")
	if err := send(s.Addr(), nil, "ada@example.com"); err != nil {
		t.Fatalf("a message after SetRejectMail(0): %v", err)
	}
	wait(t, s, 1)
}
