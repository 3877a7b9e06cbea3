package smtptest_test

import (
	"net/smtp"
	"testing"
	"time"

	"github.com/kredete/herald/comms/email/smtptest"
)

// The data hook runs with the message stored and the 250 not yet sent:
// while it blocks the sender waits; the message is there all the same.
func TestDataHookHoldsTheAnswer(t *testing.T) {
	s := smtptest.Start(t)
	held := make(chan smtptest.Message, 1)
	release := make(chan struct{})
	s.SetDataHook(func(m smtptest.Message) {
		if m.AuthUser == "replica-2" {
			held <- m
			<-release
		}
	})
	done := make(chan error, 1)
	go func() { done <- send(s.Addr(), smtp.PlainAuth("", "replica-2", "x", "127.0.0.1"), "ada@example.com") }()
	m := <-held
	if got := s.Messages(); len(got) != 1 || got[0].To[0] != "ada@example.com" || m.AuthUser != "replica-2" {
		t.Errorf("while held: %+v", got)
	}
	select {
	case err := <-done:
		t.Fatalf("the sender got an answer while held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := send(s.Addr(), smtp.PlainAuth("", "replica-1", "x", "127.0.0.1"), "bob@example.com"); err != nil {
		t.Errorf("another sender is held up: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("after release: %v", err)
	}
}

func TestLatency(t *testing.T) {
	s := smtptest.Start(t)
	s.SetLatency(150 * time.Millisecond)
	start := time.Now()
	if err := send(s.Addr(), nil, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("sent in %s with 150ms latency", d)
	}
	s.SetLatency(0)
	if len(wait(t, s, 1)) != 1 {
		t.Error("no message")
	}
}
