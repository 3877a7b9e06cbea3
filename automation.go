package herald

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
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
	// The expected MACs are computed once per secret, and only a few
	// well-formed signatures are looked at: a header of thousands of parts
	// costs nothing more than one.
	want := make([][]byte, 0, len(secrets))
	for _, sec := range secrets {
		if sec != "" {
			want = append(want, automationMAC(sec, strings.TrimSpace(timestamp), body))
		}
	}
	parts := strings.SplitN(signature, ",", maxSignatures+1)
	for _, part := range parts[:min(len(parts), maxSignatures)] {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok || len(v) != 2*sha256.Size {
			continue
		}
		got, err := hex.DecodeString(v)
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got, w) {
				// The nonce is the canonical form: the same signature in
				// upper case is the same report, not a new one.
				return "v1=" + hex.EncodeToString(got), nil
			}
		}
	}
	return "", errors.Join(ErrBadSignature, errors.New("no signature matches"))
}

// maxSignatures bounds the v1= signatures a header may carry (a rotation
// needs two).
const maxSignatures = 4

// EndpointHost names an endpoint by its host alone: an automation URL's
// user information, path or query may carry a token, so errors, logs and
// pages show only where it goes.
func EndpointHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the endpoint"
	}
	return u.Host
}
