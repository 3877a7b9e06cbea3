package handlers

import (
	"context"
	"errors"
	"net/http"
)

// DeliveryStatus is a vendor's later word on a message it accepted: Twilio's
// delivered, undelivered or failed for an SMS.
type DeliveryStatus struct {
	ProviderID string // the vendor's message id (Twilio's SM… SID)
	Status     string
	Problem    string // the vendor's error, for undelivered and failed
}

// ErrBadSignature marks a webhook whose signature is missing or wrong; it is
// answered 401 and nothing is stored.
var ErrBadSignature = errors.New("bad or missing signature")

// StatusCallback verifies and reads one delivery-status webhook. An error
// wrapping ErrBadSignature is a forgery; any other error is a malformed
// request.
type StatusCallback func(r *http.Request) (DeliveryStatus, error)

// DeliveryStatusStore records the vendor's word on a delivery.
type DeliveryStatusStore interface {
	SetProviderStatus(ctx context.Context, providerID, status, problem string) (bool, error)
}

// twilioStatus receives Twilio's status callbacks for the SMS Herald sent.
func (s *Server) twilioStatus(w http.ResponseWriter, r *http.Request) error {
	if s.twilioCallback == nil || s.deliveryStatus == nil {
		writeJSONError(w, http.StatusNotFound, "SMS is not configured on this Herald", nil)
		return nil
	}
	st, err := s.twilioCallback(r)
	if errors.Is(err, ErrBadSignature) {
		s.log.Warn("twilio status callback refused", "reason", err.Error())
		writeJSONError(w, http.StatusUnauthorized, "the request is not signed by Twilio", nil)
		return nil
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error(), nil)
		return nil
	}
	found, err := s.deliveryStatus.SetProviderStatus(r.Context(), st.ProviderID, st.Status, st.Problem)
	if err != nil {
		return err
	}
	if !found {
		// Twilio retries what is not 2xx; an SMS Herald does not know (sent
		// by another system on the same account) is acknowledged and logged.
		s.log.Info("twilio status for an unknown message", "provider_id", st.ProviderID, "status", st.Status)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
