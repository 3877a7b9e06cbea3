package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/webhook"
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
	// A confirmation mail now and then: a connection each, none kept
	// open (the engine's client keeps the fan-out's).
	c, err := email.New(ec, email.WithPool(0, 0, 0))
	if err != nil {
		return nil, fmt.Errorf("HERALD_SMTP_URL: %w", err)
	}
	return subscriptionMailer{c: c}, nil
}

// subscriptionTexter texts the subscription pages' confirmation codes
// through the Twilio adapter, without a status callback (they are no
// engine delivery).
type subscriptionTexter struct{ c *sms.Client }

var _ handlers.Texter = subscriptionTexter{}

func (t subscriptionTexter) SendSubscriptionText(ctx context.Context, to, body string) error {
	_, err := t.c.SendText(ctx, to, body)
	return err
}

// newSubscriptionTexter is the texter of the HERALD_TWILIO_* settings, or
// nil when Twilio is not configured (the subscribe page then says SMS
// subscriptions are unavailable).
func newSubscriptionTexter(cfg config.Config) (handlers.Texter, error) {
	if cfg.TwilioAccountSID == "" {
		return nil, nil
	}
	c, err := sms.New(sms.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken.Reveal(), From: cfg.TwilioFrom,
		APIURL: cfg.TwilioAPIURL})
	if err != nil {
		return nil, fmt.Errorf("twilio: %w", err)
	}
	return subscriptionTexter{c: c}, nil
}

// twilioInbound verifies the texts Twilio posts to
// HERALD_PUBLIC_URL/webhooks/twilio/inbound (the number's or Messaging
// Service's incoming-message webhook), as twilioCallback does the status
// callbacks; nil when SMS is not configured or there is no public URL.
func twilioInbound(cfg config.Config, log *slog.Logger) (handlers.InboundSMS, error) {
	if cfg.TwilioAccountSID == "" {
		return nil, nil
	}
	if cfg.PublicURL == "" {
		log.Warn("HERALD_PUBLIC_URL is not set: Twilio's incoming-message webhook cannot be verified, so STOP does not reach Herald's subscribers")
		return nil, nil
	}
	c, err := sms.New(sms.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken.Reveal(), From: cfg.TwilioFrom,
		APIURL: cfg.TwilioAPIURL})
	if err != nil {
		return nil, fmt.Errorf("twilio: %w", err)
	}
	publicURL := strings.TrimRight(cfg.PublicURL, "/") + "/webhooks/twilio/inbound"
	return func(r *http.Request) (handlers.InboundText, error) {
		in, err := c.ParseInbound(r, publicURL)
		if errors.Is(err, sms.ErrSignature) {
			return handlers.InboundText{}, fmt.Errorf("%w: %v", handlers.ErrBadSignature, err)
		}
		if err != nil {
			return handlers.InboundText{}, err
		}
		return handlers.InboundText{From: in.From, Body: in.Body}, nil
	}, nil
}

// newURLChecker is the SSRF check of webhook subscriptions: the webhook
// adapter's, with the system resolver and HERALD_WEBHOOK_ALLOW's networks
// (empty in production: every address must be public).
func newURLChecker(log *slog.Logger, allow []netip.Prefix) handlers.URLChecker {
	return publicChecker{c: webhook.New(webhook.Config{Allow: allow}), log: log, allow: len(allow) > 0}
}

// publicChecker is what the public sign-up and the console see of the
// SSRF check: the reason for a URL's own form, or an IP literal's range,
// as it is; for a name, only that it is not a public address on the
// internet, so the form cannot map Herald's internal DNS (which names
// resolve, and to what). The detail goes to the log. The check is bounded
// to 5 s.
type publicChecker struct {
	c     *webhook.Client
	log   *slog.Logger
	allow bool // an allow-list is set (tests): the adapter alone judges http
}

func (p publicChecker) CheckURL(ctx context.Context, raw string) error {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "https" && !p.allow {
		// The adapter lets http through only to allow-listed test hosts,
		// which this check has none of: say what is wrong with the URL.
		return fmt.Errorf("%w: the URL must start with https://", errNotPublic)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := p.c.CheckURL(ctx, raw)
	var be *webhook.BlockedError
	switch {
	case err == nil, errors.Is(err, webhook.ErrInvalidURL):
		return err
	case errors.As(err, &be) && be.Host == "":
		return err // an IP literal: nothing learnt that was not sent
	}
	host := herald.EndpointHost(raw)
	p.log.Info("webhook URL refused", "host", host, "reason", err.Error())
	return fmt.Errorf("%w: %s is not a public address on the internet (%s)", errNotPublic, host, redactedReason)
}

var errNotPublic = errors.New("webhook")

// redactedReason stands in for the resolver's answer, which stays in the
// server's log.
const redactedReason = "private, loopback, link-local or not resolvable"
