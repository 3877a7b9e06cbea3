// Package twiliotest runs a local server that answers like Twilio's
// Messages API (POST /2010-04-01/Accounts/{AccountSid}/Messages.json to
// send, GET on it to list with Twilio's filters and pages, GET
// .../Messages/{Sid}.json to fetch): Basic auth, Twilio's form fields, its
// JSON message resource and error bodies, its test numbers, a STOP list,
// injected faults and latency, a hook that can hold an answer, and signed
// status callbacks, so the SMS adapter and Herald's status webhook can be
// tested end to end without the network.
//
// The signature is computed here independently of twilio-go and of package
// sms, so a test that passes checks both against Twilio's documented rule.
package twiliotest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
)

// Twilio's test numbers (valid only with test credentials there; always
// here): https://www.twilio.com/docs/iam/test-credentials
const (
	NumberInvalid      = "+15005550001" // 21211: not a valid phone number
	NumberUnsubscribed = "+15005550004" // 21610: on the STOP list
	NumberNotMobile    = "+15005550009" // 21614: not a mobile number
)

// Message is a message the server accepted, as it stored it.
type Message struct {
	SID                 string
	AccountSID          string
	To                  string
	From                string // "" when sent through a Messaging Service
	MessagingServiceSID string
	Body                string
	StatusCallback      string
	NumSegments         int
	Status              string // queued or accepted, then whatever DeliverStatus set
	DateCreated         time.Time
	// DateSent is when the message left Twilio's queue for the carrier:
	// at once (the answer to the POST still says null, as Twilio's does),
	// or, while HoldQueue holds it, zero until released.
	DateSent time.Time
	Form     url.Values // every field as posted
}

type fault struct {
	status     int
	retryAfter time.Duration
}

// Server is the fake. Its embedded *httptest.Server's URL is the value for
// HERALD_TWILIO_API_URL; Close it to see refused connections.
type Server struct {
	*httptest.Server
	accountSID string
	authToken  string

	mu             sync.Mutex
	messages       []Message
	stop           map[string]bool
	denied         []string
	faults         []fault
	down           bool
	latency        time.Duration
	holdQueue      bool
	createHook     func(Message, *http.Request)
	callbackTarget string
	callbacks      *http.Client
}

// New starts a fake for one account and closes it when the test ends.
func New(t testing.TB, accountSID, authToken string) *Server {
	t.Helper()
	s := &Server{
		accountSID: accountSID,
		authToken:  authToken,
		stop:       map[string]bool{},
		callbacks:  &http.Client{Timeout: 10 * time.Second},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{account}/Messages.json", s.create)
	mux.HandleFunc("GET /2010-04-01/Accounts/{account}/Messages.json", s.list)
	mux.HandleFunc("GET /2010-04-01/Accounts/{account}/Messages/{message}", s.fetch)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	s.Server = httptest.NewServer(s.gate(mux))
	t.Cleanup(s.Close)
	return s
}

// FailNext makes the next n requests fail with status (429, 500, 503, …)
// and Twilio's error body, with a Retry-After header (whole seconds,
// rounded up) when retryAfter > 0.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status, retryAfter})
	}
}

// SetDown makes the server drop every connection without answering, as a
// dead host or a broken proxy would, until SetDown(false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetLatency delays every answer by d before the server acts on the
// request: a client that gives up (or dies) meanwhile has sent nothing.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetCreateHook makes hook run for every message the server accepts, after
// storing it and before answering: a hook that blocks holds the answer, as
// a Twilio that accepted a message and then went quiet, or a client that
// died before reading the answer. r is the request (its headers say who
// sent it). nil removes the hook.
func (s *Server) SetCreateHook(hook func(m Message, r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createHook = hook
}

// HoldQueue(true) keeps messages accepted from now on in Twilio's queue:
// no date_sent, so a DateSent filter leaves them out, as when Twilio's
// queue is backed up. HoldQueue(false) sends the held ones (date_sent now)
// and every later one at once again.
func (s *Server) HoldQueue(hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdQueue = hold
	if hold {
		return
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i := range s.messages {
		if s.messages[i].DateSent.IsZero() {
			s.messages[i].DateSent = now
		}
	}
}

// Unsubscribe puts number on the STOP list: sending to it fails with 21610,
// as after the recipient texts STOP.
func (s *Server) Unsubscribe(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop[number] = true
}

// DenyRegion refuses numbers starting with prefix (+44, +7) with 21408, as
// an account without that geographic permission.
func (s *Server) DenyRegion(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied = append(s.denied, prefix)
}

// SetCallbackTarget sends status callbacks to base (scheme and host, e.g.
// an httptest server) while still signing the StatusCallback URL as given,
// as Twilio calling a public URL behind a proxy would. "" undoes it.
func (s *Server) SetCallbackTarget(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbackTarget = base
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.Form = cloneValues(m.Form)
		out[i] = m
	}
	return out
}

// Message returns the accepted message with that SID.
func (s *Server) Message(sid string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.SID == sid {
			m.Form = cloneValues(m.Form)
			return m, true
		}
	}
	return Message{}, false
}

// DeliverStatus moves message sid to status and posts the signed status
// callback Twilio would send to its StatusCallback. For undelivered and
// failed it sends an ErrorCode (30003, unreachable handset; 30008, unknown
// error). It returns an error when the callback was not answered 2xx.
func (s *Server) DeliverStatus(ctx context.Context, sid, status string) error {
	code := 0
	switch status {
	case "undelivered":
		code = 30003
	case "failed":
		code = 30008
	}
	return s.DeliverStatusCode(ctx, sid, status, code)
}

// DeliverStatusCode is DeliverStatus with an explicit ErrorCode (0: none).
func (s *Server) DeliverStatusCode(ctx context.Context, sid, status string, errorCode int) error {
	s.mu.Lock()
	var m *Message
	for i := range s.messages {
		if s.messages[i].SID == sid {
			m = &s.messages[i]
		}
	}
	if m == nil {
		s.mu.Unlock()
		return fmt.Errorf("twiliotest: no message %s", sid)
	}
	m.Status = status
	msg, target := *m, s.callbackTarget
	s.mu.Unlock()

	if msg.StatusCallback == "" {
		return fmt.Errorf("twiliotest: message %s has no StatusCallback", sid)
	}
	form := url.Values{
		"AccountSid":    {msg.AccountSID},
		"ApiVersion":    {"2010-04-01"},
		"From":          {msg.From},
		"MessageSid":    {msg.SID},
		"MessageStatus": {status},
		"SmsSid":        {msg.SID},
		"SmsStatus":     {status},
		"To":            {msg.To},
	}
	if msg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", msg.MessagingServiceSID)
	}
	if errorCode != 0 {
		form.Set("ErrorCode", strconv.Itoa(errorCode))
	}
	dest := msg.StatusCallback
	if target != "" {
		u, err := url.Parse(msg.StatusCallback)
		if err != nil {
			return fmt.Errorf("twiliotest: StatusCallback: %w", err)
		}
		dest = strings.TrimSuffix(target, "/") + u.RequestURI()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("twiliotest: status callback: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", signature(s.authToken, msg.StatusCallback, form))
	resp, err := s.callbacks.Do(req)
	if err != nil {
		return fmt.Errorf("twiliotest: status callback: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &CallbackError{StatusCode: resp.StatusCode}
	}
	return nil
}

// CallbackError is a status callback the webhook did not accept.
type CallbackError struct{ StatusCode int }

func (e *CallbackError) Error() string {
	return fmt.Sprintf("twiliotest: status callback answered %d", e.StatusCode)
}

// signature is Twilio's X-Twilio-Signature for a form POST to rawURL.
func signature(authToken, rawURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	data := rawURL
	for _, k := range keys {
		for _, v := range form[k] {
			data += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// gate applies SetDown and FailNext before any routing, as an outage would.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		latency := s.latency
		s.mu.Unlock()
		if latency > 0 {
			// The body is read first: only then does net/http notice a
			// client that hangs up, and end the request's context.
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				return // the client gave up: nothing was done
			}
		}
		s.mu.Lock()
		down := s.down
		var f *fault
		if !down && len(s.faults) > 0 {
			f = &s.faults[0]
			s.faults = s.faults[1:]
		}
		s.mu.Unlock()
		if down {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // closes the connection all the same
		}
		if f != nil {
			if f.retryAfter > 0 {
				secs := (f.retryAfter + time.Second - 1) / time.Second
				w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
			}
			code, msg := 20500, "Internal Server Error"
			switch f.status {
			case http.StatusTooManyRequests:
				code, msg = 20429, "Too Many Requests"
			case http.StatusServiceUnavailable:
				code, msg = 20503, "Service Unavailable"
			}
			writeError(w, f.status, code, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if ok && hmac.Equal([]byte(user), []byte(s.accountSID)) && hmac.Equal([]byte(pass), []byte(s.authToken)) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
	return false
}

var (
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	serviceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if r.PathValue("account") != s.accountSID {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Could not parse the request body")
		return
	}
	f := r.PostForm
	to, from, service, body, callback := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid"), f.Get("Body"), f.Get("StatusCallback")
	switch {
	case to == "":
		writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case from == "" && service == "":
		writeError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case from != "" && !e164.MatchString(from):
		writeError(w, http.StatusBadRequest, 21212, "The 'From' number "+from+" is not a valid phone number, shortcode, or alphanumeric sender ID.")
		return
	case service != "" && !serviceSID.MatchString(service):
		writeError(w, http.StatusBadRequest, 21701, "The Messaging Service Sid "+service+" is invalid.")
		return
	case body == "" && f.Get("MediaUrl") == "" && f.Get("ContentSid") == "":
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case len([]rune(body)) > 1600:
		writeError(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
		return
	case !e164.MatchString(to) || to == NumberInvalid:
		writeError(w, http.StatusBadRequest, 21211, "The 'To' number "+to+" is not a valid phone number.")
		return
	case to == NumberNotMobile:
		writeError(w, http.StatusBadRequest, 21614, "'To' number "+to+" is not a valid mobile number")
		return
	}
	if callback != "" {
		if u, err := url.Parse(callback); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			writeError(w, http.StatusBadRequest, 21609, "The StatusCallback URL "+callback+" is not a valid URL.")
			return
		}
	}

	s.mu.Lock()
	if s.stop[to] || to == NumberUnsubscribed {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
		return
	}
	for _, p := range s.denied {
		if strings.HasPrefix(to, p) {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: "+to)
			return
		}
	}
	_, n, _ := herald.SMSSegments(body)
	m := Message{
		SID:                 newSID("SM"),
		AccountSID:          s.accountSID,
		To:                  to,
		From:                from,
		MessagingServiceSID: service,
		Body:                body,
		StatusCallback:      callback,
		NumSegments:         n,
		Status:              "queued",
		DateCreated:         time.Now().UTC().Truncate(time.Second),
		Form:                cloneValues(f),
	}
	if service != "" {
		// A Messaging Service picks the sender later: Twilio answers
		// "accepted", no from and zero segments until then.
		m.Status, m.NumSegments = "accepted", 0
	}
	answer := resource(m) // as Twilio answers a POST: not sent yet
	if !s.holdQueue {
		m.DateSent = m.DateCreated
	}
	s.messages = append(s.messages, m)
	hook := s.createHook
	s.mu.Unlock()

	if hook != nil {
		m.Form = cloneValues(m.Form)
		hook(m, r)
	}
	writeJSON(w, http.StatusCreated, answer)
}

func (s *Server) fetch(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	sid, ok := strings.CutSuffix(r.PathValue("message"), ".json")
	if m, found := s.Message(sid); ok && found && r.PathValue("account") == s.accountSID {
		writeJSON(w, http.StatusOK, resource(m))
		return
	}
	writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
}

// resource renders m as Twilio's Message resource, strings and nulls where
// Twilio has them.
func resource(m Message) map[string]any {
	uri := "/2010-04-01/Accounts/" + m.AccountSID + "/Messages/" + m.SID
	date := m.DateCreated.Format(time.RFC1123Z)
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var sent any
	if !m.DateSent.IsZero() {
		sent = m.DateSent.Format(time.RFC1123Z)
	}
	return map[string]any{
		"account_sid":           m.AccountSID,
		"api_version":           "2010-04-01",
		"body":                  m.Body,
		"date_created":          date,
		"date_sent":             sent,
		"date_updated":          date,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  nullable(m.From),
		"messaging_service_sid": nullable(m.MessagingServiceSID),
		"num_media":             "0",
		"num_segments":          strconv.Itoa(m.NumSegments),
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   m.SID,
		"status":                m.Status,
		"subresource_uris":      map[string]string{"media": uri + "/Media.json"},
		"to":                    m.To,
		"uri":                   uri + ".json",
	}
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{
		"code":      code,
		"message":   message,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
		"status":    status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newSID is prefix and 32 hex digits, as Twilio's SIDs.
func newSID(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return prefix + hex.EncodeToString(b)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
