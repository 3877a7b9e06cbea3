package sms

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/twilio/twilio-go/client"
)

// Errors ParseStatusCallback returns, for the handler to map to a status.
var (
	// ErrSignature: X-Twilio-Signature is missing or does not match the URL
	// and parameters. Answer 401.
	ErrSignature = errors.New("bad or missing X-Twilio-Signature")
	// ErrInvalidCallback: signed or not, the request is not a status
	// callback Herald can read. Answer 400.
	ErrInvalidCallback = errors.New("not a status callback")
)

// Message statuses Twilio reports (MessageStatus). It may add others; the
// adapter passes any status through.
const (
	StatusAccepted    = "accepted" // a Messaging Service is choosing the sender
	StatusQueued      = "queued"
	StatusSending     = "sending"
	StatusSent        = "sent" // handed to the carrier
	StatusDelivered   = "delivered"
	StatusUndelivered = "undelivered" // the carrier could not deliver it
	StatusFailed      = "failed"      // Twilio could not send it
	StatusRead        = "read"        // WhatsApp and RCS only
	StatusCanceled    = "canceled"
)

// Status is one delivery update Twilio posted to the status callback URL.
type Status struct {
	MessageSID    string // SM…, the receipt's ProviderID
	MessageStatus string // queued, sent, delivered, undelivered, failed, …
	ErrorCode     int    // for undelivered and failed, e.g. 30003 (unreachable handset); else 0
	AccountSID    string
	From          string
	To            string
}

// Final reports whether Twilio will send no further update for the message.
func (s Status) Final() bool {
	switch s.MessageStatus {
	case StatusDelivered, StatusUndelivered, StatusFailed, StatusRead, StatusCanceled:
		return true
	}
	return false
}

// Failed reports whether the message did not reach the phone.
func (s Status) Failed() bool {
	return s.MessageStatus == StatusUndelivered || s.MessageStatus == StatusFailed
}

// maxCallbackBytes bounds what an unauthenticated caller can make us read;
// a real status callback is a few hundred bytes.
const maxCallbackBytes = 64 << 10

var statusToken = regexp.MustCompile(`^[a-z_]+$`)

// ParseStatusCallback verifies that r is a status callback Twilio signed
// with this account's auth token and returns the update. publicURL is the
// exact URL Twilio called (scheme, host, port, path and query as configured,
// not as a proxy rewrote them); "" means Config.StatusCallbackURL. A missing
// or wrong signature matches ErrSignature (answer 401); anything else
// malformed matches ErrInvalidCallback (answer 400). r.Body is restored, so
// the handler may read it again.
func (c *Client) ParseStatusCallback(r *http.Request, publicURL string) (Status, error) {
	if publicURL == "" {
		publicURL = c.cfg.StatusCallbackURL
	}
	if publicURL == "" {
		return Status{}, errors.New("sms: status callback: no public URL to check the signature against")
	}
	form, err := c.verifiedForm(r, publicURL, ErrInvalidCallback)
	if err != nil {
		return Status{}, fmt.Errorf("sms: status callback: %w", err)
	}

	st := Status{
		MessageSID:    form.Get("MessageSid"),
		MessageStatus: form.Get("MessageStatus"),
		AccountSID:    form.Get("AccountSid"),
		From:          form.Get("From"),
		To:            form.Get("To"),
	}
	if st.MessageStatus == "" {
		st.MessageStatus = form.Get("SmsStatus") // the older name, still sent
	}
	if st.MessageSID == "" {
		return Status{}, fmt.Errorf("sms: status callback: %w: no MessageSid", ErrInvalidCallback)
	}
	if !statusToken.MatchString(st.MessageStatus) {
		return Status{}, fmt.Errorf("sms: status callback: %w: MessageStatus %q", ErrInvalidCallback, st.MessageStatus)
	}
	if v := form.Get("ErrorCode"); v != "" {
		code, err := strconv.Atoi(v)
		if err != nil {
			return Status{}, fmt.Errorf("sms: status callback: %w: ErrorCode %q", ErrInvalidCallback, v)
		}
		st.ErrorCode = code
	}
	return st, nil
}

// Sign computes X-Twilio-Signature as Twilio does for a form POST: the URL
// followed by each parameter's name and value, names sorted, HMAC-SHA1 with
// the auth token, base64. For tests and local tools; twilio-go only checks.
func Sign(authToken, rawURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(rawURL)
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// verifiedForm reads the form of a POST Twilio signed with this account's
// auth token for publicURL, the exact URL Twilio called. A missing or
// wrong signature matches ErrSignature; anything else malformed matches
// invalid. r.Body is restored. Status callbacks and inbound messages are
// verified alike.
func (c *Client) verifiedForm(r *http.Request, publicURL string, invalid error) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("%w: method %s, want POST", invalid, r.Method)
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return nil, fmt.Errorf("%w: no X-Twilio-Signature header", ErrSignature)
	}

	var form url.Values
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxCallbackBytes+1))
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: read body: %w", invalid, err)
		}
		if len(body) > maxCallbackBytes {
			return nil, fmt.Errorf("%w: body over %d bytes", invalid, maxCallbackBytes)
		}
		if form, err = url.ParseQuery(string(body)); err != nil {
			return nil, fmt.Errorf("%w: %w", invalid, err)
		}
	}
	if len(form) == 0 && r.PostForm != nil { // a middleware already parsed the body
		form = r.PostForm
	}

	// Twilio signs each parameter once; a repeated one would let a forger
	// show the validator one value and the reader another.
	params := make(map[string]string, len(form))
	for k, v := range form {
		if len(v) != 1 {
			return nil, fmt.Errorf("%w: parameter %q repeated", ErrSignature, k)
		}
		params[k] = v[0]
	}
	rv := client.NewRequestValidator(c.cfg.AuthToken)
	if !rv.Validate(publicURL, params, sig) {
		return nil, fmt.Errorf("%w: does not match %s and the posted parameters", ErrSignature, publicURL)
	}
	return form, nil
}
