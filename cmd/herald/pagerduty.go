package main

import (
	"net/http"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
)

// pagerDutyWebhook verifies PagerDuty's webhooks with the configured
// secrets and reads them into Herald's event; nil when no secret is set
// (the endpoint answers 404).
func pagerDutyWebhook(cfg config.Config) handlers.PagerDutyWebhook {
	secrets := config.Reveal(cfg.PagerDutyWebhookSecrets)
	if len(secrets) == 0 {
		return nil
	}
	return func(r *http.Request) (herald.PagerDutyEvent, error) { return pagerduty.ReadWebhook(r, secrets) }
}
