package sms

import (
	"errors"
	"fmt"
)

// Errors a refused message matches with errors.Is. None is worth retrying:
// the number, the recipient or the account must change first.
var (
	// ErrInvalidNumber: the number is not E.164 (refused before sending), or
	// Twilio says it is not a valid (mobile) number: 21211, 21614.
	ErrInvalidNumber = errors.New("invalid phone number")
	// ErrUnsubscribed: the recipient texted STOP to our sender: 21610.
	// Only they can undo it, by texting START.
	ErrUnsubscribed = errors.New("recipient has unsubscribed (STOP)")
	// ErrNotPermitted: the account may not text that number's country or
	// region (geographic permissions): 21408.
	ErrNotPermitted = errors.New("not permitted to text this region")
)

// Twilio error codes the adapter gives a meaning to.
const (
	CodeInvalidTo          = 21211 // The 'To' number is not a valid phone number
	CodeNotPermitted       = 21408 // Permission to send an SMS has not been enabled for the region
	CodeUnsubscribed       = 21610 // Attempt to send to unsubscribed recipient
	CodeNotMobile          = 21614 // 'To' number is not a valid mobile number
	CodeAuthenticate       = 20003 // Authenticate (wrong account SID or auth token)
	CodeTooManyRequests    = 20429 // Too Many Requests
	CodeServiceUnavailable = 20503 // Service Unavailable
)

// APIError is Twilio's answer to a request it refused.
type APIError struct {
	Status   int    // HTTP status
	Code     int    // Twilio's error code (0 when the answer was not Twilio's JSON)
	Message  string // Twilio's message
	MoreInfo string // https://www.twilio.com/docs/errors/<code>
}

func (e *APIError) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("twilio: HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("twilio error %d: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// Is matches the error codes Herald acts on to this package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrInvalidNumber:
		return e.Code == CodeInvalidTo || e.Code == CodeNotMobile
	case ErrUnsubscribed:
		return e.Code == CodeUnsubscribed
	case ErrNotPermitted:
		return e.Code == CodeNotPermitted
	}
	return false
}
