package twiliotest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald/comms/sms/twiliotest"
)

type listPage struct {
	Messages []struct {
		SID      string  `json:"sid"`
		To       string  `json:"to"`
		From     *string `json:"from"`
		Body     string  `json:"body"`
		DateSent *string `json:"date_sent"`
	} `json:"messages"`
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	Start           int     `json:"start"`
	End             int     `json:"end"`
	URI             string  `json:"uri"`
	FirstPageURI    string  `json:"first_page_uri"`
	NextPageURI     *string `json:"next_page_uri"`
	PreviousPageURI *string `json:"previous_page_uri"`
	Code            int     `json:"code"` // on errors
}

// get lists with a raw query, or follows a page uri (starting with /).
func get(t *testing.T, srv *twiliotest.Server, query string) (int, listPage) {
	t.Helper()
	u := srv.URL + "/2010-04-01/Accounts/" + accountSID + "/Messages.json?" + query
	if strings.HasPrefix(query, "/") {
		u = srv.URL + query
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth(accountSID, authToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p listPage
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, p
}

func send(t *testing.T, srv *twiliotest.Server, to, body string) string {
	t.Helper()
	resp, v := post(t, srv, accountSID, authToken, url.Values{"To": {to}, "From": {"+15017122661"}, "Body": {body}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("send: %d %v", resp.StatusCode, v)
	}
	if v["date_sent"] != nil {
		t.Errorf("the answer to a POST has date_sent %v; Twilio's says null", v["date_sent"])
	}
	return v["sid"].(string)
}

func TestListLikeTwilio(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	var sids []string
	for i, to := range []string{"+27820000001", "+27820000002", "+27820000001", "+27820000001"} {
		sids = append(sids, send(t, srv, to, "m"+string(rune('0'+i))))
	}

	status, p := get(t, srv, "")
	if status != http.StatusOK || len(p.Messages) != 4 || p.PageSize != 50 || p.Page != 0 || p.NextPageURI != nil ||
		p.PreviousPageURI != nil || p.Start != 0 || p.End != 3 || !strings.HasPrefix(p.FirstPageURI, "/2010-04-01/Accounts/"+accountSID+"/Messages.json?") {
		t.Fatalf("list: %d %+v", status, p)
	}
	if p.Messages[0].SID != sids[3] || p.Messages[3].SID != sids[0] {
		t.Errorf("not newest first: %+v", p.Messages)
	}
	if p.Messages[0].DateSent == nil {
		t.Errorf("a sent message without date_sent: %+v", p.Messages[0])
	}

	// To and From filter; pages of two follow next_page_uri.
	_, p = get(t, srv, url.Values{"To": {"+27820000001"}, "From": {"+15017122661"}, "PageSize": {"2"}}.Encode())
	if len(p.Messages) != 2 || p.NextPageURI == nil || p.Messages[0].SID != sids[3] || p.Messages[1].SID != sids[2] {
		t.Fatalf("first page: %+v", p)
	}
	if !strings.Contains(*p.NextPageURI, "To=%2B27820000001") || !strings.Contains(*p.NextPageURI, "PageToken=PA") {
		t.Errorf("next_page_uri %s lost the filter or the token", *p.NextPageURI)
	}
	_, p2 := get(t, srv, *p.NextPageURI)
	if len(p2.Messages) != 1 || p2.Messages[0].SID != sids[0] || p2.Page != 1 || p2.NextPageURI != nil || p2.PreviousPageURI == nil || p2.Start != 2 {
		t.Errorf("second page: %+v", p2)
	}
	if _, p = get(t, srv, url.Values{"From": {"+15005550006"}}.Encode()); len(p.Messages) != 0 || p.Messages == nil {
		t.Errorf("another sender: %+v", p)
	}

	// DateSent: a day or a time; >, < and = as Twilio documents them.
	today := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	anHourAgo := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		query string
		n     int
	}{
		{url.Values{"DateSent>": {today}}.Encode(), 4},
		{url.Values{"DateSent>": {tomorrow}}.Encode(), 0},
		{url.Values{"DateSent<": {today}}.Encode(), 4},
		{url.Values{"DateSent": {today}}.Encode(), 4},
		{url.Values{"DateSent": {tomorrow}}.Encode(), 0},
		{url.Values{"DateSent>": {anHourAgo}}.Encode(), 4},
		{url.Values{"DateSent<": {anHourAgo}}.Encode(), 0},
		{"DateSent%3E=" + anHourAgo + "&To=%2B27820000002", 1},
	} {
		if status, p := get(t, srv, tt.query); status != http.StatusOK || len(p.Messages) != tt.n {
			t.Errorf("%s: %d, %d messages, want %d", tt.query, status, len(p.Messages), tt.n)
		}
	}
	for _, bad := range []string{"DateSent%3E=yesterday", "PageSize=0", "Page=-1", "PageToken=PAnope"} {
		if status, p := get(t, srv, bad); status != http.StatusBadRequest || p.Code != 20001 {
			t.Errorf("%s: %d %+v, want 400 and code 20001", bad, status, p)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/2010-04-01/Accounts/"+accountSID+"/Messages.json", nil)
	req.SetBasicAuth(accountSID, "wrong")
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// A held queue keeps date_sent null: DateSent filters leave the message out
// until the queue moves.
func TestHoldQueue(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	srv.HoldQueue(true)
	sid := send(t, srv, "+27820000001", "queued")
	today := url.Values{"DateSent>": {time.Now().UTC().Format(time.DateOnly)}}.Encode()
	if _, p := get(t, srv, today); len(p.Messages) != 0 {
		t.Errorf("a queued message matched DateSent: %+v", p)
	}
	if _, p := get(t, srv, ""); len(p.Messages) != 1 || p.Messages[0].DateSent != nil {
		t.Errorf("unfiltered: %+v", p)
	}
	srv.HoldQueue(false)
	if _, p := get(t, srv, today); len(p.Messages) != 1 || p.Messages[0].SID != sid || p.Messages[0].DateSent == nil {
		t.Errorf("after the queue moved: %+v", p)
	}
}

// The create hook runs with the message stored and the answer not yet
// written; latency comes before anything is done.
func TestCreateHookAndLatency(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	held := make(chan twiliotest.Message, 1)
	release := make(chan struct{})
	srv.SetCreateHook(func(m twiliotest.Message, r *http.Request) {
		if r.Header.Get("X-Who") == "held" {
			held <- m
			<-release
		}
	})
	var wg sync.WaitGroup
	done := make(chan int, 1)
	wg.Go(func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/2010-04-01/Accounts/"+accountSID+"/Messages.json",
			strings.NewReader(url.Values{"To": {"+27820000001"}, "From": {"+15017122661"}, "Body": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Who", "held")
		req.SetBasicAuth(accountSID, authToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	})
	m := <-held
	if got, ok := srv.Message(m.SID); !ok || got.Body != "x" {
		t.Errorf("while held the message is not stored: %+v", got)
	}
	select {
	case s := <-done:
		t.Fatalf("answered %d while held", s)
	case <-time.After(50 * time.Millisecond):
	}
	send(t, srv, "+27820000002", "others pass") // not held
	close(release)
	wg.Wait()
	if s := <-done; s != http.StatusCreated {
		t.Errorf("after release: %d", s)
	}

	srv.SetLatency(200 * time.Millisecond)
	start := time.Now()
	send(t, srv, "+27820000003", "slow")
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("answered after %s with 200ms latency", d)
	}
	// A client that gives up during the latency has sent nothing.
	c := *srv.Client()
	c.Timeout = 50 * time.Millisecond
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/2010-04-01/Accounts/"+accountSID+"/Messages.json",
		strings.NewReader(url.Values{"To": {"+27820000004"}, "From": {"+15017122661"}, "Body": {"gone"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(accountSID, authToken)
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("answered within the client's timeout despite the latency")
	}
	// A request sent after it is answered after its latency ran out too.
	send(t, srv, "+27820000005", "later")
	for _, m := range srv.Messages() {
		if m.Body == "gone" {
			t.Errorf("a request the client gave up on was sent: %+v", m)
		}
	}
}
