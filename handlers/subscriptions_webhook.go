package handlers

import (
	"bytes"
	"context"
	"net/http"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// URLChecker refuses a webhook URL Herald must not call: a host that is
// private, loopback, link-local or otherwise not public (SSRF), or one
// that does not resolve. The error says why in words, naming the host.
// (*webhook.Client).CheckURL fits.
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// webhookConfirmed is what the confirmation page says of a webhook.
const webhookConfirmed = "Herald will post to the endpoint when an incident, a maintenance or a component's status changes on the components you chose, " +
	"signed with the secret in the confirmation mail (X-Herald-Signature: v1= the hex HMAC-SHA256 of X-Herald-Timestamp, a dot and the body)."

// mailWebhookOwner mails a webhook's owner its confirmation link and
// signing secret (or, confirmed already, the manage link) and shows the
// same "check your inbox" page for every URL.
func (s *Server) mailWebhookOwner(w http.ResponseWriter, r *http.Request, v components.SubscribeView, res herald.SubscribeResult) error {
	ctx := r.Context()
	sub := res.Subscriber
	if err := s.sendWebhookMail(ctx, res, v.Components); err != nil {
		s.log.Error("subscription mail failed", "channel", string(sub.Channel), "subscriber_id", sub.ID,
			"error", err, "request_id", requestID(ctx))
		v.Error = mailFailed
		s.renderStatus(w, r, http.StatusServiceUnavailable, components.SubscribePage(v))
		return nil
	}
	s.log.Info("subscription requested", "channel", string(sub.Channel), "subscriber_id", sub.ID, "request_id", requestID(ctx))
	// The owner typed now, not the stored one (a confirmed webhook keeps
	// its owner, who gets the mail): the page must not tell them apart.
	owner, _ := herald.NormalizeEmail(v.Form.OwnerEmail)
	s.render(w, r, components.SubscribeSent(components.SubscribeSentView{Site: s.site, Email: owner}))
	return nil
}

// sendWebhookMail writes to the webhook's owner (the stored one: for a
// confirmed webhook, not whoever asked now).
func (s *Server) sendWebhookMail(ctx context.Context, res herald.SubscribeResult, comps []herald.Component) error {
	sub := res.Subscriber
	links := herald.LinksFor(s.publicBase(), res.Token)
	names := componentNames(sub, comps)
	mv := components.WebhookMailView{SiteName: s.plan.Page.Name, URL: sub.Address, Links: links,
		Manage: res.Mail == herald.SubscriptionMailManage, Components: names, Window: "48 hours"}
	if !mv.Manage {
		mv.Secret = sub.WebhookSecret
	}
	var html bytes.Buffer
	if err := components.WebhookSubscriptionMail(mv).Render(ctx, &html); err != nil {
		return err
	}
	scope := componentScope(names)
	var subject, text string
	if mv.Manage {
		subject = "Your " + s.plan.Page.Name + " status webhook"
		text = "The endpoint " + sub.Address + " receives updates from the " + s.plan.Page.Name + " status page, for " + scope + ".\n\n" +
			"Change the components it hears about:\n" + links.Manage + "\n\n" +
			"Unsubscribe the endpoint:\n" + links.Unsubscribe + "\n"
	} else {
		subject = "Confirm the " + s.plan.Page.Name + " status webhook"
		text = "Someone, probably you, asked the " + s.plan.Page.Name + " status page to post updates, for " + scope + ", to\n" +
			sub.Address + "\nnaming you as its owner.\n\n" +
			"Confirm the webhook (the link works for " + mv.Window + "; nothing is posted until it is followed):\n" + links.Confirm + "\n\n" +
			"Verifying the posts: each carries X-Herald-Timestamp (Unix seconds) and\n" +
			"X-Herald-Signature: v1=<hex HMAC-SHA256 of timestamp + \".\" + raw body, keyed with the secret>.\n" +
			"Compute it, compare in constant time, and refuse a timestamp more than 5 minutes old.\n\n" +
			"Signing secret (keep it like a password; it is not shown again):\n" + sub.WebhookSecret + "\n\n" +
			"If it was not you, ignore this message.\n\n" +
			"Unsubscribe the endpoint:\n" + links.Unsubscribe + "\n"
	}
	mctx, cancel := context.WithTimeout(ctx, mailTimeout)
	defer cancel()
	return s.mailer.SendSubscriptionMail(mctx, sub.OwnerEmail, subject, text, html.String(), herald.UnsubscribeHeaders(links))
}

// componentNames names a subscriber's components in display order; none
// when it takes them all.
func componentNames(sub herald.Subscriber, comps []herald.Component) []string {
	if sub.AllComponents {
		return nil
	}
	var names []string
	for _, c := range comps {
		for _, id := range sub.ComponentIDs {
			if c.ID == id {
				names = append(names, c.Name)
			}
		}
	}
	return names
}
