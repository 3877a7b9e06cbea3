package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// SubscriptionStore keeps the status page's subscribers.
type SubscriptionStore interface {
	Components(ctx context.Context) ([]herald.Component, error)
	Subscribe(ctx context.Context, req herald.SubscriptionRequest, now time.Time) (herald.SubscribeResult, error)
	ConfirmSubscriber(ctx context.Context, token string) (herald.Subscriber, error)
	SubscriberByToken(ctx context.Context, token string) (herald.Subscriber, error)
	UpdateSubscriberComponents(ctx context.Context, token string, all bool, componentIDs []string) (herald.Subscriber, error)
	Unsubscribe(ctx context.Context, token string) (herald.Subscriber, error)
	RecordSubscribeAttempt(ctx context.Context, key string) error
	SubscribeAttempts(ctx context.Context, key string, since time.Time) (int, error)
	// SMS (subscriptions_sms.go): the code, STOP and START.
	ConfirmSubscriberCode(ctx context.Context, number, code string) (herald.Subscriber, string, error)
	UnsubscribeByAddress(ctx context.Context, ch herald.SubscriberChannel, address string) (herald.Subscriber, error)
	ResubscribeByAddress(ctx context.Context, ch herald.SubscriberChannel, address string) (herald.Subscriber, error)
}

// Mailer sends the mails of the subscription pages (confirm, manage) at
// once, while the requester waits: they belong to no incident, so they are
// not the engine's deliveries. headers carries List-Unsubscribe and
// List-Unsubscribe-Post.
type Mailer interface {
	SendSubscriptionMail(ctx context.Context, to, subject, text, html string, headers map[string]string) error
}

const (
	// tooManySubscribes is the one message for either limit: it says
	// nothing of the address.
	tooManySubscribes = "Too many subscription requests. Please try again later."
	mailFailed        = "We could not send the email just now. Please try again in a few minutes."
	// mailTimeout bounds the wait for the mail server.
	mailTimeout = 20 * time.Second
)

// publicBase is the status page's URL for links in mails: the plan's page
// URL, else HERALD_PUBLIC_URL.
func (s *Server) publicBase() string {
	if s.plan.Page.URL != "" {
		return strings.TrimRight(s.plan.Page.URL, "/")
	}
	return strings.TrimRight(s.publicURL, "/")
}

func (s *Server) subscribeView(ctx context.Context, form components.SubscribeForm, errs map[string]string) (components.SubscribeView, error) {
	comps, err := s.subscriptions.Components(ctx)
	if err != nil {
		return components.SubscribeView{}, err
	}
	return components.SubscribeView{Site: s.site, Components: comps, Form: form, Errors: errs,
		Unavailable: !s.channelAvailable(form.Channel)}, nil
}

// channelAvailable reports whether a channel's sign-up can work: email
// needs a mail server and a base for links; SMS, Twilio; a webhook, the
// URL check and a mail to its owner.
func (s *Server) channelAvailable(ch herald.SubscriberChannel) bool {
	mail := s.mailer != nil && s.publicBase() != ""
	switch ch {
	case herald.SubscriberSMS:
		return s.texter != nil
	case herald.SubscriberWebhook:
		return mail && s.urlChecker != nil
	}
	return mail
}

// subscribeChannel reads the tab asked for (?via= on the page, channel=
// in the form); anything unknown is email.
func subscribeChannel(v string) herald.SubscriberChannel {
	switch ch := herald.SubscriberChannel(v); ch {
	case herald.SubscriberSMS, herald.SubscriberWebhook:
		return ch
	}
	return herald.SubscriberEmail
}

// subscribePage is GET /subscribe.
func (s *Server) subscribePage(w http.ResponseWriter, r *http.Request) error {
	form := components.SubscribeForm{All: true, Channel: subscribeChannel(r.URL.Query().Get("via"))}
	v, err := s.subscribeView(r.Context(), form, nil)
	if err != nil {
		return err
	}
	// The page exists either way; without a mail server it says so
	// instead of showing a form (the POST answers 503).
	s.render(w, r, components.SubscribePage(v))
	return nil
}

// readComponentChoice reads the form's scope and components.
func readComponentChoice(r *http.Request) components.SubscribeForm {
	ids := r.PostForm["component"]
	return components.SubscribeForm{All: r.PostFormValue("scope") != "some", ComponentIDs: ids}
}

// subscribe is POST /subscribe: validated, rate limited per network and
// per address, then the same "check your inbox" page for every address.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("the form could not be read")
	}
	ctx := r.Context()
	form := readComponentChoice(r)
	form.Channel = subscribeChannel(r.PostFormValue("channel"))
	form.Email = strings.TrimSpace(r.PostFormValue("email"))
	form.Phone = strings.TrimSpace(r.PostFormValue("phone"))
	form.URL = strings.TrimSpace(r.PostFormValue("url"))
	form.OwnerEmail = strings.TrimSpace(r.PostFormValue("owner_email"))
	address := form.Email
	switch form.Channel {
	case herald.SubscriberSMS:
		address = form.Phone
	case herald.SubscriberWebhook:
		address = form.URL
	}
	v, err := s.subscribeView(ctx, form, nil)
	if err != nil {
		return err
	}
	if v.Unavailable {
		s.renderStatus(w, r, http.StatusServiceUnavailable, components.SubscribePage(v))
		return nil
	}
	since := s.now().Add(-herald.SubscribeLimitWindow)
	netKey := herald.SubscribeNetworkKey(clientAddress(r))
	if limited, err := s.overLimit(ctx, netKey, herald.MaxSubscribesPerNetwork, since); err != nil || limited {
		if err != nil {
			return err
		}
		return s.subscribeLimited(w, r, v)
	}
	if err := s.subscriptions.RecordSubscribeAttempt(ctx, netKey); err != nil {
		return err
	}
	known := make(map[string]herald.Component, len(v.Components))
	for _, c := range v.Components {
		known[c.ID] = c
	}
	req, err := herald.SubscriptionRequest{Channel: form.Channel, Address: address, AllComponents: form.All,
		ComponentIDs: form.ComponentIDs, OwnerEmail: form.OwnerEmail, Source: herald.SourceWeb}.Normalize(known)
	if err != nil {
		return s.subscribeInvalid(w, r, v, err)
	}
	if req.Channel == herald.SubscriberWebhook {
		// SSRF: the reason (a private address, a name that does not
		// resolve) is shown next to the field.
		if err := s.urlChecker.CheckURL(ctx, req.Address); err != nil {
			s.log.Info("webhook URL refused", "reason", err.Error(), "request_id", requestID(ctx))
			v.Errors = map[string]string{"address": strings.TrimPrefix(err.Error(), "webhook: ")}
			s.renderStatus(w, r, http.StatusUnprocessableEntity, components.SubscribePage(v))
			return nil
		}
	}
	addrKey := herald.SubscribeAddressKey(req.Channel, req.Address)
	if limited, err := s.overLimit(ctx, addrKey, herald.MaxSubscribesPerAddress, since); err != nil || limited {
		if err != nil {
			return err
		}
		return s.subscribeLimited(w, r, v)
	}
	if err := s.subscriptions.RecordSubscribeAttempt(ctx, addrKey); err != nil {
		return err
	}
	if req.Channel == herald.SubscriberSMS {
		// Before anything is stored or texted, and whatever the number.
		if capped, err := s.smsSignupsCapped(ctx, since); err != nil || capped {
			if err != nil {
				return err
			}
			return s.smsSignupsPaused(w, r, v)
		}
	}
	res, err := s.subscriptions.Subscribe(ctx, req, s.now())
	if err != nil {
		if errors.Is(err, herald.ErrInvalid) {
			return s.subscribeInvalid(w, r, v, err)
		}
		return err
	}
	switch req.Channel {
	case herald.SubscriberSMS:
		return s.textSubscriptionCode(w, r, v, res)
	case herald.SubscriberWebhook:
		return s.mailWebhookOwner(w, r, v, res)
	}
	if err := s.sendSubscriptionMail(ctx, req.Address, res, v.Components); err != nil {
		s.log.Error("subscription mail failed", "channel", string(req.Channel), "subscriber_id", res.Subscriber.ID,
			"error", err, "request_id", requestID(ctx))
		v.Error = mailFailed
		s.renderStatus(w, r, http.StatusServiceUnavailable, components.SubscribePage(v))
		return nil
	}
	s.log.Info("subscription requested", "channel", string(req.Channel), "subscriber_id", res.Subscriber.ID,
		"request_id", requestID(ctx))
	s.render(w, r, components.SubscribeSent(components.SubscribeSentView{Site: s.site, Email: req.Address}))
	return nil
}

func (s *Server) overLimit(ctx context.Context, key string, limit int, since time.Time) (bool, error) {
	n, err := s.subscriptions.SubscribeAttempts(ctx, key, since)
	return n >= limit, err
}

func (s *Server) subscribeLimited(w http.ResponseWriter, r *http.Request, v components.SubscribeView) error {
	s.log.Warn("subscribe throttled", "address", clientAddress(r), "request_id", requestID(r.Context()))
	v.Error = tooManySubscribes
	w.Header().Set("Retry-After", strconv.Itoa(int(herald.SubscribeLimitWindow.Seconds())))
	s.renderStatus(w, r, http.StatusTooManyRequests, components.SubscribePage(v))
	return nil
}

func (s *Server) subscribeInvalid(w http.ResponseWriter, r *http.Request, v components.SubscribeView, err error) error {
	v.Errors = errorFields(err)
	if v.Errors == nil {
		return err
	}
	s.renderStatus(w, r, http.StatusUnprocessableEntity, components.SubscribePage(v))
	return nil
}

// sendSubscriptionMail mails the confirm (or manage) links, with the
// one-click unsubscribe headers every subscriber mail carries.
func (s *Server) sendSubscriptionMail(ctx context.Context, to string, res herald.SubscribeResult, comps []herald.Component) error {
	links := herald.LinksFor(s.publicBase(), res.Token)
	var names []string
	if !res.Subscriber.AllComponents {
		for _, c := range comps {
			for _, id := range res.Subscriber.ComponentIDs {
				if c.ID == id {
					names = append(names, c.Name)
				}
			}
		}
	}
	mv := components.SubscriptionMailView{SiteName: s.plan.Page.Name, Links: links,
		Manage: res.Mail == herald.SubscriptionMailManage, Components: names, Window: "48 hours"}
	var html bytes.Buffer
	if err := components.SubscriptionMail(mv).Render(ctx, &html); err != nil {
		return err
	}
	scope := componentScope(names)
	var subject, text string
	if mv.Manage {
		subject = "Your " + s.plan.Page.Name + " status subscription"
		text = "You are subscribed to updates from the " + s.plan.Page.Name + " status page, for " + scope + ".\n\n" +
			"Change the components you hear about:\n" + links.Manage + "\n\n" +
			"Unsubscribe:\n" + links.Unsubscribe + "\n"
	} else {
		subject = "Confirm your subscription to " + s.plan.Page.Name + " status updates"
		text = "Someone, probably you, asked to receive updates from the " + s.plan.Page.Name + " status page, for " + scope + ".\n\n" +
			"Confirm your subscription (the link works for " + mv.Window + "):\n" + links.Confirm + "\n\n" +
			"If it was not you, ignore this message: nothing will be sent unless the link is followed.\n\n" +
			"Unsubscribe:\n" + links.Unsubscribe + "\n"
	}
	mctx, cancel := context.WithTimeout(ctx, mailTimeout)
	defer cancel()
	return s.mailer.SendSubscriptionMail(mctx, to, subject, text, html.String(), herald.UnsubscribeHeaders(links))
}

// renderStatus renders a page with a status other than 200.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.log.Error("render", "error", err, "path", r.URL.Path, "request_id", requestID(r.Context()))
	}
}

// notice renders a page that only says what a link did.
func (s *Server) notice(w http.ResponseWriter, r *http.Request, status int, v components.SubscriptionNoticeView) {
	v.Site = s.site
	s.renderStatus(w, r, status, components.SubscriptionNotice(v))
}

// linkError shows an unknown or expired link as a page; anything else is
// left to the adapter.
func (s *Server) linkError(w http.ResponseWriter, r *http.Request, err error) error {
	switch {
	case errors.Is(err, herald.ErrNotFound):
		s.notice(w, r, http.StatusNotFound, components.SubscriptionNoticeView{Title: "Link not valid", TestID: "link-invalid",
			Message:     "This subscription link is not valid. It may have been replaced by a newer one: use the link in the latest email we sent you.",
			Resubscribe: true})
		return nil
	case errors.Is(err, herald.ErrSubscriptionExpired):
		s.notice(w, r, http.StatusGone, components.SubscriptionNoticeView{Title: "Link expired", TestID: "link-expired",
			Message:     "This confirmation link has expired (they work for 48 hours) or the subscription has ended. Subscribe again to get a new link.",
			Resubscribe: true})
		return nil
	}
	return err
}

// confirmSubscription is GET /subscriptions/confirm?token=.
// confirmPage is GET /subscriptions/confirm?token=: the mail's link shows a
// Confirm button; only its POST confirms (mail scanners follow links).
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	sub, err := s.subscriptions.SubscriberByToken(r.Context(), token)
	if err != nil || herald.IsSubscriberLinkToken(token) {
		if err == nil {
			err = fmt.Errorf("a manage link does not confirm: %w", herald.ErrNotFound)
		}
		return s.linkError(w, r, err)
	}
	switch {
	case sub.State == herald.SubscriberConfirmed:
		return s.confirmSubscription(w, r) // already: the same page a confirmation shows
	case sub.State != herald.SubscriberPending, sub.ConfirmExpiresAt == nil || !s.now().Before(*sub.ConfirmExpiresAt):
		return s.linkError(w, r, herald.ErrSubscriptionExpired)
	}
	s.render(w, r, components.ConfirmSubscription(components.UnsubscribeView{Site: s.site, Token: token}))
	return nil
}

// confirmSubscription is POST /subscriptions/confirm?token=.
func (s *Server) confirmSubscription(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	sub, err := s.subscriptions.ConfirmSubscriber(r.Context(), token)
	if err != nil {
		return s.linkError(w, r, err)
	}
	s.log.Info("subscription confirmed", "channel", string(sub.Channel), "subscriber_id", sub.ID, "request_id", requestID(r.Context()))
	msg := "You will get an email when an incident or a maintenance affects the components you chose."
	if sub.Channel == herald.SubscriberWebhook {
		msg = webhookConfirmed
	}
	s.notice(w, r, http.StatusOK, components.SubscriptionNoticeView{Title: "Subscription confirmed", TestID: "confirmed",
		Message: msg, ManageURL: tokenPath("/subscriptions/manage", token)})
	return nil
}

func tokenPath(path, token string) string { return path + "?token=" + urlQueryEscape(token) }

func (s *Server) manageView(ctx context.Context, token string, sub herald.Subscriber) (components.ManageSubscriptionView, error) {
	comps, err := s.subscriptions.Components(ctx)
	if err != nil {
		return components.ManageSubscriptionView{}, err
	}
	return components.ManageSubscriptionView{Site: s.site, Token: token, Subscriber: sub, Components: comps,
		Form: components.SubscribeForm{All: sub.AllComponents, ComponentIDs: sub.ComponentIDs}}, nil
}

// manageSubscription is GET /subscriptions/manage?token=.
func (s *Server) manageSubscription(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	sub, err := s.subscriptions.SubscriberByToken(r.Context(), token)
	if err != nil {
		return s.linkError(w, r, err)
	}
	v, err := s.manageView(r.Context(), token, sub)
	if err != nil {
		return err
	}
	s.render(w, r, components.ManageSubscription(v))
	return nil
}

// updateSubscription is POST /subscriptions/manage?token=: the components.
func (s *Server) updateSubscription(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("the form could not be read")
	}
	ctx := r.Context()
	token := r.URL.Query().Get("token")
	form := readComponentChoice(r)
	sub, err := s.subscriptions.UpdateSubscriberComponents(ctx, token, form.All, form.ComponentIDs)
	if errors.Is(err, herald.ErrInvalid) {
		cur, cerr := s.subscriptions.SubscriberByToken(ctx, token)
		if cerr != nil {
			return s.linkError(w, r, cerr)
		}
		v, verr := s.manageView(ctx, token, cur)
		if verr != nil {
			return verr
		}
		v.Form, v.Errors = form, errorFields(err)
		s.renderStatus(w, r, http.StatusUnprocessableEntity, components.ManageSubscription(v))
		return nil
	}
	if err != nil {
		return s.linkError(w, r, err)
	}
	v, err := s.manageView(ctx, token, sub)
	if err != nil {
		return err
	}
	v.Saved = true
	s.render(w, r, components.ManageSubscription(v))
	return nil
}

// unsubscribePage is GET /subscriptions/unsubscribe?token=: a button, as
// a GET must not unsubscribe (mail scanners follow links).
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if _, err := s.subscriptions.SubscriberByToken(r.Context(), token); err != nil {
		return s.linkError(w, r, err)
	}
	s.render(w, r, components.Unsubscribe(components.UnsubscribeView{Site: s.site, Token: token}))
	return nil
}

// unsubscribe is POST /subscriptions/unsubscribe?token=: the page's
// button and RFC 8058's one-click POST ("List-Unsubscribe=One-Click"),
// which mail clients send without cookies or an Origin header. The token
// is the only credential; a repeat answers 200 again.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	_ = r.ParseForm() // the body is optional; the token is in the URL
	token := r.URL.Query().Get("token")
	sub, err := s.subscriptions.Unsubscribe(r.Context(), token)
	if err != nil {
		return s.linkError(w, r, err)
	}
	s.log.Info("unsubscribed", "channel", string(sub.Channel), "subscriber_id", sub.ID,
		"one_click", r.PostFormValue("List-Unsubscribe") == "One-Click", "request_id", requestID(r.Context()))
	s.render(w, r, components.Unsubscribe(components.UnsubscribeView{Site: s.site, Token: token, Done: true}))
	return nil
}

// componentScope names what a subscription covers in its mails.
func componentScope(names []string) string {
	if len(names) == 0 {
		return "all components"
	}
	return strings.Join(names, ", ")
}
