package pdtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// SignWebhook is the X-PagerDuty-Signature value PagerDuty sends for body
// signed with secret: "v1=" and the hex HMAC-SHA256 of the raw body.
func SignWebhook(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// NewWebhookRequest is a V3 webhook POST of body to url as PagerDuty sends
// it: JSON, with one v1= signature per secret in X-PagerDuty-Signature,
// comma-separated (during a rotation PagerDuty signs with every secret of
// the subscription), and none when no secret is given. It serves an
// http.Client or a handler's ServeHTTP alike. Like httptest.NewRequest it
// panics on an invalid url: it is for tests.
func NewWebhookRequest(url string, body []byte, secrets ...string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		panic("pdtest: NewWebhookRequest: " + err.Error())
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "PagerDuty-Webhook/V3.0")
	req.Header.Set("X-Webhook-Id", newKey())
	req.Header.Set("X-Webhook-Subscription", "PSUBHRLD")
	if len(secrets) > 0 {
		sigs := make([]string, len(secrets))
		for i, s := range secrets {
			sigs[i] = SignWebhook(body, s)
		}
		req.Header.Set("X-PagerDuty-Signature", strings.Join(sigs, ","))
	}
	return req
}
