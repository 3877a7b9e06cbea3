package slacktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Slack's side of the slash command and interactivity: what Slack sends to
// an app's Request URLs, signed as Slack signs it, for handler tests.

// More of the workspace's identifiers, as Slack puts them in what it sends.
const (
	TeamDomain = "herald-test"
	AppID      = "A0HERALDAPP"
	// VerificationToken is the deprecated token Slack still sends in every
	// payload; apps must not rely on it (they verify signatures instead).
	VerificationToken = "herald-verification-token"
	// Command is the slash command.
	Command = "/incident"
)

// Sign signs a request body as Slack does with the app's signing secret:
// the X-Slack-Request-Timestamp header (Unix seconds) and the
// X-Slack-Signature header, "v0=" and the hex HMAC-SHA256 of
// "v0:<timestamp>:<body>".
func Sign(secret string, ts time.Time, body []byte) (timestampHeader, signatureHeader string) {
	timestampHeader = strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestampHeader + ":"))
	mac.Write(body)
	return timestampHeader, "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignedRequest is the POST Slack makes to target with the form body,
// signed with secret at ts.
func SignedRequest(target, secret string, ts time.Time, form url.Values) *http.Request {
	body := form.Encode()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	t, sig := Sign(secret, ts, []byte(body))
	r.Header.Set("X-Slack-Request-Timestamp", t)
	r.Header.Set("X-Slack-Signature", sig)
	return r
}

// CommandForm is the form Slack posts to the slash command's Request URL
// when userID types "/incident text" in channelID, with every field Slack
// sends.
func CommandForm(text, userID, channelID, triggerID string) url.Values {
	return url.Values{
		"token":                 {VerificationToken},
		"team_id":               {TeamID},
		"team_domain":           {TeamDomain},
		"channel_id":            {channelID},
		"channel_name":          {channelName(channelID)},
		"user_id":               {userID},
		"user_name":             {userName(userID)},
		"command":               {Command},
		"text":                  {text},
		"api_app_id":            {AppID},
		"is_enterprise_install": {"false"},
		"response_url":          {responseURL("commands", triggerID)},
		"trigger_id":            {triggerID},
	}
}

// InteractionForm is the form Slack posts to the interactivity Request URL:
// the payload JSON in the payload field.
func InteractionForm(payload string) url.Values {
	return url.Values{"payload": {payload}}
}

// BlockActionsPayload is the block_actions payload Slack sends when userID
// clicks the button with actionID and value on the message messageTS in
// channelID.
func BlockActionsPayload(userID, channelID, messageTS, actionID, value, triggerID string) string {
	return payload(map[string]any{
		"type":       "block_actions",
		"user":       payloadUser(userID),
		"api_app_id": AppID,
		"token":      VerificationToken,
		"container": map[string]any{
			"type": "message", "message_ts": messageTS, "channel_id": channelID, "is_ephemeral": false,
		},
		"trigger_id":            triggerID,
		"team":                  teamJSON(),
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": channelID, "name": channelName(channelID)},
		"message": map[string]any{
			"type": "message", "subtype": "bot_message", "ts": messageTS, "bot_id": BotID, "user": BotUserID,
			"team": TeamID, "text": "",
		},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": responseURL("actions", triggerID),
		"actions": []any{map[string]any{
			"action_id": actionID,
			"block_id":  "herald_" + strings.ToLower(actionID),
			"text":      map[string]any{"type": "plain_text", "text": "Button", "emoji": true},
			"value":     value,
			"type":      "button",
			"action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000),
		}},
	})
}

func payload(v map[string]any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("slacktest: payload: " + err.Error())
	}
	return string(b)
}

func teamJSON() map[string]any { return map[string]any{"id": TeamID, "domain": TeamDomain} }

func payloadUser(userID string) map[string]any {
	return map[string]any{"id": userID, "username": userName(userID), "name": userName(userID), "team_id": TeamID}
}

// userName is the handle Slack sends with a member's id; the fake has none
// better than the id lower-cased.
func userName(userID string) string { return strings.ToLower(userID) }

// channelName is what Slack sends as channel_name: "directmessage" in a
// DM, else the channel's name (the fake uses the id lower-cased).
func channelName(channelID string) string {
	if strings.HasPrefix(channelID, "D") {
		return "directmessage"
	}
	return strings.ToLower(channelID)
}

// responseURL is a response_url as Slack makes them (hooks.slack.com); the
// fake does not serve it.
func responseURL(kind, triggerID string) string {
	tail := strings.NewReplacer(".", "").Replace(triggerID)
	if tail == "" {
		tail = "0"
	}
	return "https://hooks.slack.com/" + kind + "/" + TeamID + "/" + tail + "/herald"
}
