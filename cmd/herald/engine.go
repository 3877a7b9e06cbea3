package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/automation"
	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/comms/slack"
	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/webhook"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store"
)

// channels builds the configured channel adapters; a channel not
// configured is absent, and its deliveries fail saying so.
func channels(cfg config.Config) (map[herald.Channel]comms.Channel, error) {
	out := map[herald.Channel]comms.Channel{}
	if tok := cfg.SlackToken.Reveal(); tok != "" {
		out[herald.ChannelSlack] = slack.New(tok, slack.Options{APIURL: cfg.SlackAPIURL, ConsoleURL: cfg.PublicURL,
			Interactive: len(cfg.SlackSigningSecrets) > 0})
	}
	if u := cfg.SMTPURL.Reveal(); u != "" {
		ec, err := email.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("HERALD_SMTP_URL: %w", err)
		}
		c, err := email.New(ec)
		if err != nil {
			return nil, fmt.Errorf("HERALD_SMTP_URL: %w", err)
		}
		out[herald.ChannelEmail] = c
	}
	if cfg.TwilioAccountSID != "" {
		sc := sms.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken.Reveal(), From: cfg.TwilioFrom,
			APIURL: cfg.TwilioAPIURL}
		if cfg.PublicURL != "" {
			sc.StatusCallbackURL = cfg.PublicURL + "/webhooks/twilio/status"
		}
		c, err := sms.New(sc)
		if err != nil {
			return nil, fmt.Errorf("twilio: %w", err)
		}
		out[herald.ChannelSMS] = c
	}
	// Webhook subscribers need no account: the client posts to their URLs,
	// public addresses only (plus HERALD_WEBHOOK_ALLOW's, for tests).
	out[herald.ChannelWebhook] = webhook.New(webhook.Config{Allow: cfg.WebhookAllow})
	if key := cfg.PagerDutyRoutingKey.Reveal(); key != "" {
		c, err := pagerduty.New(pagerduty.Config{RoutingKey: key, EventsURL: cfg.PagerDutyEventsURL, ConsoleURL: cfg.PublicURL})
		if err != nil {
			return nil, fmt.Errorf("HERALD_PAGERDUTY_ROUTING_KEY: %w", err)
		}
		out[herald.ChannelPagerDuty] = c
	}
	if secrets := config.Reveal(cfg.AutomationSecrets); len(secrets) > 0 {
		c, err := automation.New(automation.Config{Secret: secrets[0], PublicURL: cfg.PublicURL})
		if err != nil {
			return nil, fmt.Errorf("HERALD_AUTOMATION_SECRETS: %w", err)
		}
		out[herald.ChannelAutomation] = c
	}
	return out, nil
}

// runningEngine is the cadence engine and its delivery workers.
type runningEngine struct {
	queue    *store.Queue
	changes  chan struct{}
	done     chan struct{}
	chans    map[herald.Channel]comms.Channel
	log      *slog.Logger
	stopOnce sync.Once
}

// changed wakes the clocks after a write.
func (r *runningEngine) changed() {
	if r == nil {
		return
	}
	select {
	case r.changes <- struct{}{}:
	default:
	}
}

// stop finishes the deliveries in flight (bounded by ctx), then ends the
// clocks through cancel, the engine's context. Only the first call stops;
// later ones return at once.
func (r *runningEngine) stop(ctx context.Context, cancel context.CancelFunc) {
	if r == nil {
		return
	}
	r.stopOnce.Do(func() { r.stopNow(ctx, cancel) })
}

func (r *runningEngine) stopNow(ctx context.Context, cancel context.CancelFunc) {
	if err := r.queue.Stop(ctx); err != nil {
		// Past the deadline with deliveries still waiting on a vendor:
		// cancel them, so that each records its attempt as interrupted
		// for the next replica, rather than vanish with the process.
		r.log.Warn("shutdown: deliveries still in flight at the deadline are cancelled; another replica finishes them", "error", err)
		hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.queue.StopAndCancel(hctx)
		hcancel()
	}
	cancel()
	<-r.done
	// The deliveries in flight are finished: say goodbye to the mail
	// relay on the connections kept open for the next ones.
	for _, ch := range r.chans {
		if c, ok := ch.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

func startEngine(ctx context.Context, cfg config.Config, plan herald.Plan, st *store.Store, loc *time.Location, log *slog.Logger,
	pageServed func() uint64, m engine.Metrics) (*runningEngine, error) {
	chans, err := channels(cfg)
	if err != nil {
		return nil, err
	}
	r := &runningEngine{changes: make(chan struct{}, 1), done: make(chan struct{}), chans: chans, log: log}
	// The status page first: subscriber messages slow down while the
	// process is short of processor time.
	pressure := engine.NewPressure(pageServed, cfg.PageBusyRequests, 0)
	if cfg.SubscriberBusyRate > 0 {
		go watchPressure(ctx, pressure, log.With("component", "engine"))
	}
	eng := engine.New(engine.Options{Plan: plan, Store: st, Channels: chans, Logger: log.With("component", "engine"),
		ConsoleURL: cfg.PublicURL, Location: loc, Changes: r.changes, RetryFor: cfg.DeliveryRetryFor,
		SubscriberRates: map[herald.Channel]float64{herald.ChannelEmail: cfg.SubscriberEmailRate, herald.ChannelSMS: cfg.SubscriberSMSRate,
			herald.ChannelWebhook: cfg.SubscriberWebhookRate},
		Webhooks: webhook.Renderer{Page: plan.Page, Location: loc,
			Documentation: strings.TrimRight(publicBase(cfg, plan), "/") + "/subscribe?via=webhook"},
		WebhookDisableAfter: cfg.WebhookDisableAfter,
		Busy:                pressure.Busy, BusyRate: cfg.SubscriberBusyRate, Metrics: m})
	poll := time.Second
	if st.Dialect() == store.SQLite {
		poll = 200 * time.Millisecond // no LISTEN/NOTIFY: look for new work often
	}
	// The queue outlives ctx, which SIGTERM cancels: a cancelled start
	// context would cut the deliveries in flight (River's hard stop); stop
	// lets them finish first.
	q, err := st.StartQueue(context.WithoutCancel(ctx), eng.Deliver, store.QueueOptions{PollInterval: poll, Logger: log.With("component", "queue"),
		JobTimeout: cfg.QueueJobTimeout, RescueAfter: cfg.QueueRescueAfter, SubscriberWorkers: cfg.SubscriberWorkers})
	if err != nil {
		return nil, err
	}
	r.queue = q
	go func() {
		defer close(r.done)
		_ = eng.Run(ctx)
	}()
	names := make([]string, 0, len(chans))
	for ch := range chans {
		names = append(names, string(ch))
	}
	log.Info("cadence engine started", "channels", names)
	return r, nil
}

// twilioCallback verifies Twilio's status callbacks against the public URL
// Twilio was given; nil when SMS is not configured.
func twilioCallback(cfg config.Config, log *slog.Logger) (handlers.StatusCallback, error) {
	if cfg.TwilioAccountSID == "" {
		return nil, nil
	}
	if cfg.PublicURL == "" {
		log.Warn("HERALD_PUBLIC_URL is not set: Twilio cannot be given a status callback, so SMS delivery states stay at sent")
		return nil, nil
	}
	c, err := sms.New(sms.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken.Reveal(), From: cfg.TwilioFrom,
		APIURL: cfg.TwilioAPIURL, StatusCallbackURL: cfg.PublicURL + "/webhooks/twilio/status"})
	if err != nil {
		return nil, fmt.Errorf("twilio: %w", err)
	}
	return func(r *http.Request) (handlers.DeliveryStatus, error) {
		st, err := c.ParseStatusCallback(r, "")
		if errors.Is(err, sms.ErrSignature) {
			return handlers.DeliveryStatus{}, fmt.Errorf("%w: %v", handlers.ErrBadSignature, err)
		}
		if err != nil {
			return handlers.DeliveryStatus{}, err
		}
		problem := ""
		if st.ErrorCode != 0 {
			problem = fmt.Sprintf("Twilio error %d", st.ErrorCode)
		}
		return handlers.DeliveryStatus{ProviderID: st.MessageSID, Status: st.MessageStatus, Problem: problem}, nil
	}, nil
}

// publicBase is the public page's address for links: the page's URL from
// the configuration, else HERALD_PUBLIC_URL.
func publicBase(cfg config.Config, plan herald.Plan) string {
	if plan.Page.URL != "" {
		return plan.Page.URL
	}
	return cfg.PublicURL
}

// slackCommands is Herald's Slack app (/incident, buttons, modals) when
// both the bot token and a signing secret are configured; nil otherwise.
func slackCommands(cfg config.Config, log *slog.Logger) handlers.SlackApp {
	tok := cfg.SlackToken.Reveal()
	secrets := config.Reveal(cfg.SlackSigningSecrets)
	switch {
	case tok == "" && len(secrets) == 0:
		return nil
	case len(secrets) == 0:
		log.Info("HERALD_SLACK_SIGNING_SECRETS is not set: /incident and Slack's buttons are off")
		return nil
	case tok == "":
		log.Warn("HERALD_SLACK_SIGNING_SECRETS is set without HERALD_SLACK_TOKEN: /incident cannot open forms, so it is off")
		return nil
	}
	return slack.NewApp(slack.New(tok, slack.Options{APIURL: cfg.SlackAPIURL, ConsoleURL: cfg.PublicURL}), secrets)
}

// watchPressure samples the page's request rate and says when the page
// becomes flooded and when it is calm again.
func watchPressure(ctx context.Context, p *engine.Pressure, log *slog.Logger) {
	go p.Run(ctx)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	was := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if busy := p.Busy(); busy != was {
			was = busy
			if busy {
				log.Info("the status page is flooded: subscriber messages slowed to leave it the processor", "page_requests_per_second", p.Rate())
			} else {
				log.Info("the status page is calm again: subscriber messages at their full rate", "page_requests_per_second", p.Rate())
			}
		}
	}
}
