package herald

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Automation requests and callbacks are signed the same way, in both
// directions: HMAC-SHA256 with the shared secret over the Unix timestamp, a
// dot and the body, sent as X-Herald-Signature: v1=<hex> with the timestamp
// in X-Herald-Timestamp (the scheme Stripe and Slack use). A receiver
// refuses a timestamp outside its replay window and a signature it has
// seen before.
const (
	AutomationSignatureHeader = "X-Herald-Signature"
	AutomationTimestampHeader = "X-Herald-Timestamp"
	// AutomationReplayWindow is how far a signed timestamp may be from now.
	AutomationReplayWindow = 5 * time.Minute
)

// ErrBadSignature means a signed request's signature is missing, wrong or
// outside the replay window.
var ErrBadSignature = errors.New("bad or missing signature")

// SignAutomation returns the signature header value for body at ts.
func SignAutomation(secret string, ts time.Time, body []byte) string {
	return "v1=" + hex.EncodeToString(automationMAC(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func automationMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyAutomation checks a signed request's headers against body: any of
// the v1= signatures (comma-separated, for secret rotation) made with one of
// the secrets, a timestamp within the replay window of now. It returns the
// matching signature, which the caller records to refuse a replay.
func VerifyAutomation(secrets []string, signature, timestamp string, body []byte, now time.Time) (string, error) {
	if len(secrets) == 0 {
		return "", errors.Join(ErrBadSignature, errors.New("no automation secret is configured"))
	}
	if signature == "" || timestamp == "" {
		return "", errors.Join(ErrBadSignature, errors.New("the request is not signed"))
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return "", errors.Join(ErrBadSignature, errors.New("the timestamp is not a Unix time"))
	}
	if d := now.Sub(time.Unix(sec, 0)); d > AutomationReplayWindow || d < -AutomationReplayWindow {
		return "", errors.Join(ErrBadSignature, errors.New("the timestamp is outside the replay window"))
	}
	for _, part := range strings.Split(signature, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue
		}
		got, err := hex.DecodeString(v)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if s != "" && hmac.Equal(got, automationMAC(s, strings.TrimSpace(timestamp), body)) {
				return "v1=" + v, nil
			}
		}
	}
	return "", errors.Join(ErrBadSignature, errors.New("no signature matches"))
}
