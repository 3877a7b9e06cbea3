package pdtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty/webhookv3"
	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald/comms/pagerduty/pdtest"
)

const routingKey = "0123456789abcdef0123456789abcdef"

// post sends a raw event, as any Events API client would.
func post(t *testing.T, srv *pdtest.Server, body string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := srv.Client().Post(srv.EventsURL(), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	_ = json.Unmarshal(b, &v) // 5xx answers are HTML
	return resp, v
}

func trigger(key, dedup string) string {
	ev := map[string]any{
		"routing_key": key, "event_action": "trigger",
		"payload": map[string]any{"summary": "Card payments failing", "source": "herald", "severity": "critical"},
	}
	if dedup != "" {
		ev["dedup_key"] = dedup
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

func TestAcceptsLikePagerDuty(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	resp, v := post(t, srv, trigger(routingKey, "inc_1"))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d: %v", resp.StatusCode, v)
	}
	want := map[string]any{"status": "success", "message": "Event processed", "dedup_key": "inc_1"}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	// A trigger without a dedup_key gets one made up.
	_, v = post(t, srv, trigger(routingKey, ""))
	generated, _ := v["dedup_key"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(generated) {
		t.Errorf("generated dedup_key %q, want 32 hex digits", generated)
	}
	events := srv.Events()
	if len(events) != 2 || events[0].Key != "inc_1" || events[1].Key != generated || events[1].DedupKey != "" {
		t.Fatalf("events = %+v", events)
	}
	if p := events[0].Payload; p == nil || p.Summary != "Card payments failing" || p.Severity != "critical" || string(events[0].Raw) != trigger(routingKey, "inc_1") {
		t.Errorf("recorded %+v raw %s", p, events[0].Raw)
	}
	// Events returns copies.
	events[0].Payload.Summary = "changed"
	if srv.Events()[0].Payload.Summary != "Card payments failing" {
		t.Error("Events shares its payloads with the server")
	}
}

func TestRefusesInvalidEvents(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"not JSON", `{"routing_key":`, "Malformed JSON"},
		{"routing_key of the wrong type", `{"routing_key": 42, "event_action": "resolve", "dedup_key": "k"}`, "'routing_key' is invalid"},
		{"no routing_key", `{"event_action": "resolve", "dedup_key": "k"}`, "'routing_key' is missing or blank"},
		{"short routing_key", `{"routing_key": "abc", "event_action": "resolve", "dedup_key": "k"}`, "Length of 'routing_key' is incorrect (should be 32 characters)"},
		{"another routing_key", trigger("fedcba9876543210fedcba9876543210", ""), "Invalid routing key"},
		{"no event_action", `{"routing_key": "` + routingKey + `", "dedup_key": "k"}`, "'event_action' is missing or blank"},
		{"unknown event_action", `{"routing_key": "` + routingKey + `", "event_action": "snooze", "dedup_key": "k"}`, "'event_action' is invalid"},
		{"trigger without payload", `{"routing_key": "` + routingKey + `", "event_action": "trigger"}`, "'payload' is missing or blank"},
		{"trigger without summary", `{"routing_key": "` + routingKey + `", "event_action": "trigger", "payload": {"source": "h", "severity": "info"}}`, "'payload.summary' is missing or blank"},
		{"summary too long", `{"routing_key": "` + routingKey + `", "event_action": "trigger", "payload": {"summary": "` + strings.Repeat("é", 1025) + `", "source": "h", "severity": "info"}}`, "'payload.summary'"},
		{"trigger without source", `{"routing_key": "` + routingKey + `", "event_action": "trigger", "payload": {"summary": "s", "severity": "info"}}`, "'payload.source' is missing or blank"},
		{"trigger without severity", `{"routing_key": "` + routingKey + `", "event_action": "trigger", "payload": {"summary": "s", "source": "h"}}`, "'payload.severity' is missing or blank"},
		{"invalid severity", `{"routing_key": "` + routingKey + `", "event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "major"}}`, "'payload.severity' is invalid"},
		{"invalid timestamp", `{"routing_key": "` + routingKey + `", "event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "info", "timestamp": "yesterday"}}`, "'payload.timestamp' is invalid"},
		{"link without href", `{"routing_key": "` + routingKey + `", "event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "info"}, "links": [{"text": "x"}]}`, "'links[0].href'"},
		{"dedup_key too long", `{"routing_key": "` + routingKey + `", "event_action": "resolve", "dedup_key": "` + strings.Repeat("k", 256) + `"}`, "'dedup_key'"},
		{"resolve without dedup_key", `{"routing_key": "` + routingKey + `", "event_action": "resolve"}`, "'dedup_key' is missing or blank"},
		{"acknowledge without dedup_key", `{"routing_key": "` + routingKey + `", "event_action": "acknowledge"}`, "'dedup_key' is missing or blank"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := pdtest.New(t, routingKey)
			resp, v := post(t, srv, tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			if v["status"] != "invalid event" || v["message"] != "Event object is invalid" {
				t.Errorf("answer %v, want PagerDuty's invalid event", v)
			}
			if errs := fmt.Sprint(v["errors"]); !strings.Contains(errs, tt.want) {
				t.Errorf("errors %s, want one saying %q", errs, tt.want)
			}
			if n := len(srv.Events()); n != 0 {
				t.Errorf("accepted %d events", n)
			}
		})
	}
}

func TestAnyWellFormedKeyWhenNoneExpected(t *testing.T) {
	srv := pdtest.New(t, "")
	if resp, v := post(t, srv, trigger("fedcba9876543210fedcba9876543210", "k")); resp.StatusCode != http.StatusAccepted {
		t.Errorf("status %d: %v", resp.StatusCode, v)
	}
	srv.SetRoutingKey(routingKey)
	if resp, _ := post(t, srv, trigger("fedcba9876543210fedcba9876543210", "k")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("after SetRoutingKey: status %d, want 400", resp.StatusCode)
	}
}

func TestMethodPathAndSize(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	resp, err := srv.Client().Get(srv.EventsURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d Allow %q, want 405 POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, err = srv.Client().Post(srv.URL+"/v1/enqueue", "application/json", strings.NewReader(trigger(routingKey, "k")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("another path: status %d, want 404", resp.StatusCode)
	}
	big := `{"routing_key": "` + routingKey + `", "event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "info", "custom_details": {"log": "` +
		strings.Repeat("x", pdtest.MaxBody) + `"}}}`
	if resp, _ := post(t, srv, big); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("body over 512 KB: status %d, want 413", resp.StatusCode)
	}
	if n := len(srv.Events()); n != 0 || srv.Requests() != 3 {
		t.Errorf("accepted %d events of %d requests, want 0 of 3", n, srv.Requests())
	}
}

func TestFailNext(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	srv.FailNext(1, http.StatusTooManyRequests, 1500*time.Millisecond)
	srv.FailNext(1, http.StatusTooManyRequests, 0)
	srv.FailNext(1, http.StatusServiceUnavailable, 0)

	resp, v := post(t, srv, trigger(routingKey, "k"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" || v["message"] == nil {
		t.Errorf("first: status %d Retry-After %q body %v, want 429, 2 and a JSON message", resp.StatusCode, resp.Header.Get("Retry-After"), v)
	}
	resp, _ = post(t, srv, trigger(routingKey, "k"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "" {
		t.Errorf("second: status %d Retry-After %q, want 429 and none", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, _ = post(t, srv, trigger(routingKey, "k"))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("third: status %d Content-Type %q, want 503 HTML", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := post(t, srv, trigger(routingKey, "k")); resp.StatusCode != http.StatusAccepted {
		t.Errorf("after the faults: status %d, want 202", resp.StatusCode)
	}
	if n := len(srv.Events()); n != 1 {
		t.Errorf("accepted %d events, want 1", n)
	}
}

func TestWaitEvents(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			resp, err := srv.Client().Post(srv.EventsURL(), "application/json", strings.NewReader(trigger(routingKey, fmt.Sprintf("inc_%d", i))))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	events, err := srv.WaitEvents(ctx, 5)
	if err != nil || len(events) != 5 {
		t.Fatalf("WaitEvents = %d events, %v", len(events), err)
	}
	wg.Wait()

	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := srv.WaitEvents(short, 6); err == nil || !strings.Contains(err.Error(), "5 of 6") {
		t.Errorf("WaitEvents for more than came = %v, want an error saying 5 of 6", err)
	}
}

func TestAlertStatus(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	send := func(action string) {
		t.Helper()
		body := fmt.Sprintf(`{"routing_key": %q, "event_action": %q, "dedup_key": "inc_1"}`, routingKey, action)
		if action == "trigger" {
			body = trigger(routingKey, "inc_1")
		}
		if resp, v := post(t, srv, body); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: status %d %v", action, resp.StatusCode, v)
		}
	}
	steps := []struct{ action, want string }{
		{"resolve", ""}, // nothing open: dropped, still 202
		{"trigger", pdtest.AlertTriggered},
		{"trigger", pdtest.AlertTriggered},
		{"acknowledge", pdtest.AlertAcknowledged},
		{"trigger", pdtest.AlertAcknowledged},
		{"resolve", pdtest.AlertResolved},
		{"acknowledge", pdtest.AlertResolved},
		{"trigger", pdtest.AlertTriggered}, // a new alert
	}
	for i, s := range steps {
		send(s.action)
		if got := srv.AlertStatus("inc_1"); got != s.want {
			t.Errorf("step %d (%s): alert %q, want %q", i, s.action, got, s.want)
		}
	}
}

func TestLatencyEndsWithTheClient(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	srv.SetLatency(time.Minute)
	c := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := c.Post(srv.EventsURL(), "application/json", strings.NewReader(trigger(routingKey, "k"))); err == nil {
		t.Fatal("no timeout")
	}
	if n := len(srv.Events()); n != 0 {
		t.Errorf("accepted %d events from a client that gave up", n)
	}
}

// RFC 4231 test case 2, as PagerDuty's "v1=" and hex.
func TestSignWebhook(t *testing.T) {
	got := pdtest.SignWebhook([]byte("what do ya want for nothing?"), "Jefe")
	if want := "v1=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Errorf("SignWebhook = %s, want %s", got, want)
	}
}

func TestNewWebhookRequest(t *testing.T) {
	body := []byte(`{"event":{"id":"E1","event_type":"incident.triggered"}}`)
	req := pdtest.NewWebhookRequest("https://herald.example.com/webhooks/pagerduty", body, "old", "new")
	sig := req.Header.Get("X-PagerDuty-Signature")
	if want := pdtest.SignWebhook(body, "old") + "," + pdtest.SignWebhook(body, "new"); sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("%s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
	}
	// go-pagerduty's verifier accepts either secret and restores the body.
	for _, secret := range []string{"old", "new"} {
		if err := webhookv3.VerifySignature(req, secret); err != nil {
			t.Errorf("webhookv3 with %s: %v", secret, err)
		}
	}
	if err := webhookv3.VerifySignature(req, "other"); err == nil {
		t.Error("webhookv3 accepted another secret")
	}
	if b, _ := io.ReadAll(req.Body); !bytes.Equal(b, body) {
		t.Errorf("body %q", b)
	}
	if unsigned := pdtest.NewWebhookRequest("http://x/", body); unsigned.Header.Get("X-PagerDuty-Signature") != "" {
		t.Error("unsigned request has a signature")
	}
	// It serves a handler directly too.
	rec := httptest.NewRecorder()
	http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}).ServeHTTP(rec, pdtest.NewWebhookRequest("http://x/", body, "s"))
	if !bytes.Equal(rec.Body.Bytes(), body) {
		t.Errorf("handler read %q", rec.Body.Bytes())
	}
}
