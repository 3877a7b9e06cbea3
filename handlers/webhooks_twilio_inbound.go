package handlers

import (
	"errors"
	"net/http"

	"github.com/kredete/herald"
)

// InboundText is a text someone sent to Herald's number.
type InboundText struct {
	From string // E.164
	Body string
}

// InboundSMS verifies and reads one incoming-message webhook. An error
// wrapping ErrBadSignature is a forgery; any other error is a malformed
// request.
type InboundSMS func(r *http.Request) (InboundText, error)

// emptyTwiML answers an incoming message with no reply: the carrier (or
// Twilio) confirms STOP and START itself.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`

// twilioInboundText is POST /webhooks/twilio/inbound: texts to Herald's
// number. STOP and its synonyms unsubscribe the sender's number; START
// and UNSTOP resume it if it had been confirmed. Anything else, and a
// number Herald does not know, is acknowledged without a reply.
func (s *Server) twilioInboundText(w http.ResponseWriter, r *http.Request) error {
	if s.twilioInbound == nil || s.subscriptions == nil {
		writeJSONError(w, http.StatusNotFound, "SMS is not configured on this Herald", nil)
		return nil
	}
	in, err := s.twilioInbound(r)
	if errors.Is(err, ErrBadSignature) {
		s.log.Warn("twilio inbound message refused", "reason", err.Error())
		writeJSONError(w, http.StatusUnauthorized, "the request is not signed by Twilio", nil)
		return nil
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error(), nil)
		return nil
	}
	ctx := r.Context()
	kw := herald.ParseSMSKeyword(in.Body)
	if number, nerr := herald.NormalizePhone(in.From); nerr == nil && kw != herald.SMSOther {
		var sub herald.Subscriber
		if kw == herald.SMSStop {
			sub, err = s.subscriptions.UnsubscribeByAddress(ctx, herald.SubscriberSMS, number)
		} else {
			sub, err = s.subscriptions.ResubscribeByAddress(ctx, herald.SubscriberSMS, number)
		}
		switch {
		case errors.Is(err, herald.ErrNotFound):
			// Not a subscriber (an executive, someone else): Twilio's own
			// opt-out list still applies to it.
		case err != nil:
			return err
		default:
			s.log.Info("sms keyword", "keyword", map[herald.SMSKeyword]string{herald.SMSStop: "stop", herald.SMSStart: "start"}[kw],
				"channel", string(herald.SubscriberSMS), "subscriber_id", sub.ID, "state", string(sub.State), "request_id", requestID(ctx))
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(emptyTwiML))
	return nil
}
