package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// Texter sends the subscription pages' text messages (a confirmation
// code) at once, while the requester waits: like the subscription mails,
// they belong to no incident, so they are not the engine's deliveries.
type Texter interface {
	SendSubscriptionText(ctx context.Context, to, body string) error
}

const (
	// codeRefused is the one answer for a wrong code, an expired or voided
	// one and a number with no pending subscription: it says nothing of
	// the number.
	codeRefused = "This code is not right, or it is no longer valid. Check the number and the code, or ask for a new code."
	// textFailed says what may be wrong without saying whether the number
	// is known (Twilio refuses a number that replied STOP until START).
	textFailed = "We could not send the text message just now. If you replied STOP to our messages before, reply START first; otherwise please try again in a few minutes."
	// smsSignupsFull is the answer over the global cap on sign-ups by
	// text message (Deps.SMSSignupsPerHour): the same for every number.
	smsSignupsFull = "Sign-ups by text message are paused: too many were requested in the last hour. Please try again later, or subscribe by email."
)

// smsSignupsCapped counts one more sign-up by text message against the
// cap of Deps.SMSSignupsPerHour, shared by every replica through the
// store, and reports whether this one is over it. The attempt is recorded
// before counting, so replicas racing for the last places let fewer
// through, never more. Without a cap nothing is recorded.
func (s *Server) smsSignupsCapped(ctx context.Context, since time.Time) (bool, error) {
	if s.smsSignupsPerHour <= 0 {
		return false, nil
	}
	if err := s.subscriptions.RecordSubscribeAttempt(ctx, herald.SubscribeSMSGlobalKey); err != nil {
		return false, err
	}
	n, err := s.subscriptions.SubscribeAttempts(ctx, herald.SubscribeSMSGlobalKey, since)
	return n > s.smsSignupsPerHour, err
}

// smsSignupsPaused answers a sign-up by text message over the global cap:
// 429, nothing stored or sent, a message that says nothing of the number.
func (s *Server) smsSignupsPaused(w http.ResponseWriter, r *http.Request, v components.SubscribeView) error {
	s.log.Warn("sms sign-ups capped", "per_hour", s.smsSignupsPerHour, "address", clientAddress(r), "request_id", requestID(r.Context()))
	v.Error = smsSignupsFull
	w.Header().Set("Retry-After", strconv.Itoa(int(herald.SubscribeLimitWindow.Seconds())))
	s.renderStatus(w, r, http.StatusTooManyRequests, components.SubscribePage(v))
	return nil
}

// textSubscriptionCode texts a new or pending SMS subscriber its code, a
// confirmed one the link to its preferences, and shows the same code page
// either way.
func (s *Server) textSubscriptionCode(w http.ResponseWriter, r *http.Request, v components.SubscribeView, res herald.SubscribeResult) error {
	ctx := r.Context()
	name := s.plan.Page.Name
	var body string
	if res.Mail == herald.SubscriptionMailManage || res.Code == "" {
		body = name + " status: this number already gets updates. Change them: " +
			herald.LinksFor(s.publicBase(), res.Token).Manage + " Reply STOP to end them."
		if s.publicBase() == "" {
			body = name + " status: this number already gets updates. Reply STOP to end them."
		}
	} else {
		body = name + " status: your confirmation code is " + res.Code +
			". It works for 15 minutes. Not you? Ignore this text."
	}
	tctx, cancel := context.WithTimeout(ctx, mailTimeout)
	defer cancel()
	if err := s.texter.SendSubscriptionText(tctx, res.Subscriber.Address, body); err != nil {
		// Logged as a warning: a number Twilio refuses is the requester's
		// problem as often as Herald's.
		s.log.Warn("subscription text failed", "channel", string(herald.SubscriberSMS), "subscriber_id", res.Subscriber.ID,
			"error", err, "request_id", requestID(ctx))
		v.Error = textFailed
		s.renderStatus(w, r, http.StatusServiceUnavailable, components.SubscribePage(v))
		return nil
	}
	s.log.Info("subscription requested", "channel", string(herald.SubscriberSMS), "subscriber_id", res.Subscriber.ID,
		"request_id", requestID(ctx))
	s.render(w, r, components.SMSCode(components.SMSCodeView{Site: s.site, Number: res.Subscriber.Address}))
	return nil
}

// smsCodePage is GET /subscriptions/sms/confirm: the code form, for
// whoever comes back to it.
func (s *Server) smsCodePage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, components.SMSCode(components.SMSCodeView{Site: s.site, Number: r.URL.Query().Get("number")}))
	return nil
}

// confirmSMSCode is POST /subscriptions/sms/confirm: number and code.
// Codes are limited per network (across numbers) and per subscription
// (herald.MaxCodeTries, in the store); every refusal of a well-formed
// pair reads the same.
func (s *Server) confirmSMSCode(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("the form could not be read")
	}
	ctx := r.Context()
	v := components.SMSCodeView{Site: s.site, Number: strings.TrimSpace(r.PostFormValue("number"))}
	// People type codes with spaces ("123 456").
	code := strings.Join(strings.Fields(r.PostFormValue("code")), "")

	netKey := herald.SubscribeCodeNetworkKey(clientAddress(r))
	since := s.now().Add(-herald.SubscribeLimitWindow)
	if limited, err := s.overLimit(ctx, netKey, herald.MaxCodeTriesPerNetwork, since); err != nil || limited {
		if err != nil {
			return err
		}
		s.log.Warn("sms code throttled", "address", clientAddress(r), "request_id", requestID(ctx))
		v.Error = tooManySubscribes
		w.Header().Set("Retry-After", "3600")
		s.renderStatus(w, r, http.StatusTooManyRequests, components.SMSCode(v))
		return nil
	}
	if err := s.subscriptions.RecordSubscribeAttempt(ctx, netKey); err != nil {
		return err
	}
	errs := map[string]string{}
	number, err := herald.NormalizePhone(v.Number)
	if err != nil {
		errs["number"] = err.Error()
	}
	if !herald.ValidConfirmCode(code) {
		errs["code"] = "enter the 6-digit code from the text message"
	}
	if len(errs) == 0 {
		sub, token, err := s.subscriptions.ConfirmSubscriberCode(ctx, number, code)
		switch {
		case errors.Is(err, herald.ErrWrongCode), errors.Is(err, herald.ErrNotFound), errors.Is(err, herald.ErrSubscriptionExpired):
			errs["code"] = codeRefused
		case err != nil:
			return err
		default:
			s.log.Info("subscription confirmed", "channel", string(sub.Channel), "subscriber_id", sub.ID, "request_id", requestID(ctx))
			s.notice(w, r, http.StatusOK, components.SubscriptionNoticeView{Title: "Subscription confirmed", TestID: "confirmed",
				Message:   "You will get a text message when an incident starts or ends, or a maintenance starts, on the components you chose. Reply STOP to any of them to end it.",
				ManageURL: tokenPath("/subscriptions/manage", token)})
			return nil
		}
	}
	v.Errors = errs
	s.renderStatus(w, r, http.StatusUnprocessableEntity, components.SMSCode(v))
	return nil
}
