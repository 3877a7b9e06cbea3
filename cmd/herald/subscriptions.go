package main

import (
	"context"
	"fmt"

	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
)

// subscriptionMailer sends the subscription pages' mails (confirm,
// manage) through the SMTP server the engine uses.
type subscriptionMailer struct{ c *email.Client }

var _ handlers.Mailer = subscriptionMailer{}

func (m subscriptionMailer) SendSubscriptionMail(ctx context.Context, to, subject, text, html string, headers map[string]string) error {
	_, err := m.c.Send(ctx, email.Message{To: []string{to}, Subject: subject, Text: text, HTML: html, Headers: headers})
	return err
}

// newSubscriptionMailer is the mailer of HERALD_SMTP_URL, or nil when it is
// not set (the subscribe page then says email subscriptions are
// unavailable).
func newSubscriptionMailer(cfg config.Config) (handlers.Mailer, error) {
	u := cfg.SMTPURL.Reveal()
	if u == "" {
		return nil, nil
	}
	ec, err := email.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("HERALD_SMTP_URL: %w", err)
	}
	c, err := email.New(ec)
	if err != nil {
		return nil, fmt.Errorf("HERALD_SMTP_URL: %w", err)
	}
	return subscriptionMailer{c: c}, nil
}
