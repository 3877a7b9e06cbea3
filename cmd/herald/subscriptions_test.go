package main

import (
	"context"
	"strings"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/email/smtptest"
	"github.com/kredete/herald/config"
)

// The subscription mailer sends through the real SMTP adapter: the
// one-click unsubscribe headers reach the wire.
func TestSubscriptionMailer(t *testing.T) {
	if m, err := newSubscriptionMailer(config.Config{}); err != nil || m != nil {
		t.Fatalf("without HERALD_SMTP_URL: %v, %v; want no mailer", m, err)
	}
	srv := smtptest.Start(t)
	m, err := newSubscriptionMailer(config.Config{SMTPURL: config.Secret(srv.URL())})
	if err != nil || m == nil {
		t.Fatalf("newSubscriptionMailer: %v", err)
	}
	links := herald.LinksFor("https://status.example.com", "tok")
	if err := m.SendSubscriptionMail(context.Background(), "ada@example.com", "Confirm your subscription",
		"Confirm: "+links.Confirm, "<p>Confirm</p>", herald.UnsubscribeHeaders(links)); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	got := msgs[0]
	if got.To[0] != "ada@example.com" || got.Subject != "Confirm your subscription" {
		t.Errorf("message to %v, subject %q", got.To, got.Subject)
	}
	if v := got.Header.Get("List-Unsubscribe"); v != "<https://status.example.com/subscriptions/unsubscribe?token=tok>" {
		t.Errorf("List-Unsubscribe = %q", v)
	}
	if v := got.Header.Get("List-Unsubscribe-Post"); v != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", v)
	}
	if !strings.Contains(string(got.Data), "multipart/alternative") {
		t.Error("not text and HTML")
	}
}
