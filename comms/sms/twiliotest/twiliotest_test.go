package twiliotest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/kredete/herald/comms/sms/twiliotest"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "0123456789abcdef0123456789abcdef"
)

// post sends a raw form to the Messages endpoint, as any Twilio client would.
func post(t *testing.T, srv *twiliotest.Server, user, pass string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/2010-04-01/Accounts/"+accountSID+"/Messages.json", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	return resp, v
}

func form(to string) url.Values {
	return url.Values{"To": {to}, "From": {"+15017122661"}, "Body": {"hello"}, "StatusCallback": {"https://herald.example.com/webhooks/twilio/status"}}
}

func TestCreateAnswersLikeTwilio(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	resp, v := post(t, srv, accountSID, authToken, form("+447700900123"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %v", resp.StatusCode, v)
	}
	sid, _ := v["sid"].(string)
	if !regexp.MustCompile(`^SM[0-9a-f]{32}$`).MatchString(sid) {
		t.Errorf("sid = %q", sid)
	}
	want := map[string]any{
		"account_sid": accountSID, "api_version": "2010-04-01", "body": "hello", "direction": "outbound-api",
		"from": "+15017122661", "to": "+447700900123", "status": "queued", "num_segments": "1", "num_media": "0",
		"error_code": nil, "price": nil, "messaging_service_sid": nil,
		"uri": "/2010-04-01/Accounts/" + accountSID + "/Messages/" + sid + ".json",
	}
	for k, w := range want {
		if got, ok := v[k]; !ok || got != w {
			t.Errorf("%s = %#v, want %#v", k, got, w)
		}
	}
	if _, err := time.Parse(time.RFC1123Z, v["date_created"].(string)); err != nil {
		t.Errorf("date_created: %v", err)
	}

	// And it can be fetched back.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/2010-04-01/Accounts/"+accountSID+"/Messages/"+sid+".json", nil)
	req.SetBasicAuth(accountSID, authToken)
	got, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if got.StatusCode != http.StatusOK {
		t.Errorf("fetch: status %d", got.StatusCode)
	}
}

func TestErrorsAnswerLikeTwilio(t *testing.T) {
	tests := []struct {
		name       string
		user, pass string
		form       url.Values
		setup      func(*twiliotest.Server)
		status     int
		code       float64
		message    string
	}{
		{"no auth", "", "", form("+447700900123"), nil, 401, 20003, "Authenticate"},
		{"wrong token", accountSID, "nope", form("+447700900123"), nil, 401, 20003, "Authenticate"},
		{"invalid To", accountSID, authToken, form("12345"), nil, 400, 21211, "The 'To' number 12345 is not a valid phone number."},
		{"Twilio's invalid test number", accountSID, authToken, form(twiliotest.NumberInvalid), nil, 400, 21211, "The 'To' number +15005550001 is not a valid phone number."},
		{"STOP list", accountSID, authToken, form("+447700900123"), func(s *twiliotest.Server) { s.Unsubscribe("+447700900123") }, 400, 21610, "Attempt to send to unsubscribed recipient"},
		{"region", accountSID, authToken, form("+79001234567"), func(s *twiliotest.Server) { s.DenyRegion("+7") }, 400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +79001234567"},
		{"no body", accountSID, authToken, url.Values{"To": {"+447700900123"}, "From": {"+15017122661"}}, nil, 400, 21602, "Message body is required."},
		{"no sender", accountSID, authToken, url.Values{"To": {"+447700900123"}, "Body": {"hi"}}, nil, 400, 21603, "A 'From' phone number is required."},
		{"rate limited", accountSID, authToken, form("+447700900123"), func(s *twiliotest.Server) { s.FailNext(1, 429, 1500*time.Millisecond) }, 429, 20429, "Too Many Requests"},
		{"unavailable", accountSID, authToken, form("+447700900123"), func(s *twiliotest.Server) { s.FailNext(1, 503, 0) }, 503, 20503, "Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := twiliotest.New(t, accountSID, authToken)
			if tt.setup != nil {
				tt.setup(srv)
			}
			resp, v := post(t, srv, tt.user, tt.pass, tt.form)
			if resp.StatusCode != tt.status || v["status"] != float64(tt.status) || v["code"] != tt.code || v["message"] != tt.message {
				t.Errorf("got %d %v", resp.StatusCode, v)
			}
			if v["more_info"] == "" || v["more_info"] == nil {
				t.Errorf("no more_info: %v", v)
			}
			if tt.name == "rate limited" && resp.Header.Get("Retry-After") != "2" {
				t.Errorf("Retry-After = %q, want 2 (1.5 s rounded up)", resp.Header.Get("Retry-After"))
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("stored %d messages", n)
			}
		})
	}
}

func TestFailNextIsSpent(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	srv.FailNext(2, 500, 0)
	for i, want := range []int{500, 500, 201} {
		if resp, v := post(t, srv, accountSID, authToken, form("+447700900123")); resp.StatusCode != want {
			t.Errorf("request %d: %d %v, want %d", i, resp.StatusCode, v, want)
		}
	}
}

func TestSetDownDropsConnections(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	srv.SetDown(true)
	resp, err := srv.Client().Post(srv.URL+"/2010-04-01/Accounts/"+accountSID+"/Messages.json", "application/x-www-form-urlencoded", strings.NewReader(form("+447700900123").Encode()))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d while down", resp.StatusCode)
	}
}

func TestDeliverStatusSignsLikeTwilio(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	f := form("+447700900123")
	f.Set("StatusCallback", hook.URL+"/webhooks/twilio/status")
	resp, v := post(t, srv, accountSID, authToken, f)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, v)
	}
	sid := v["sid"].(string)
	if err := srv.DeliverStatus(context.Background(), sid, "undelivered"); err != nil {
		t.Fatalf("DeliverStatus: %v", err)
	}
	r, body := <-got, <-bodies
	params, err := url.ParseQuery(body)
	if err != nil {
		t.Fatal(err)
	}
	if params.Get("MessageSid") != sid || params.Get("MessageStatus") != "undelivered" || params.Get("ErrorCode") != "30003" || params.Get("AccountSid") != accountSID {
		t.Errorf("callback params %v", params)
	}
	// twilio-go's validator, the one Herald uses, accepts the signature.
	rv := client.NewRequestValidator(authToken)
	if !rv.ValidateBody(hook.URL+"/webhooks/twilio/status", []byte(body), r.Header.Get("X-Twilio-Signature")) {
		t.Error("twilio-go's RequestValidator refuses the fake's signature")
	}
	if m, _ := srv.Message(sid); m.Status != "undelivered" {
		t.Errorf("stored status %q", m.Status)
	}

	if err := srv.DeliverStatus(context.Background(), "SMnope", "delivered"); err == nil {
		t.Error("DeliverStatus for an unknown SID: no error")
	}
}

func TestDeliverStatusReportsRefusal(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(hook.Close)
	f := form("+447700900123")
	f.Set("StatusCallback", hook.URL)
	_, v := post(t, srv, accountSID, authToken, f)
	err := srv.DeliverStatus(context.Background(), v["sid"].(string), "delivered")
	var ce *twiliotest.CallbackError
	if !errors.As(err, &ce) || ce.StatusCode != 401 {
		t.Errorf("err = %v, want a CallbackError 401", err)
	}
}
