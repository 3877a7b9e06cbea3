package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald/comms/slack/slacktest"
)

// TestServeSlackCommands: with a bot token and a signing secret, the
// binary answers /incident at /slack/commands, signed by Slack, and
// refuses what is not; without the secret the route says Slack is off.
func TestServeSlackCommands(t *testing.T) {
	fake := slacktest.New(t)
	const secret = "0123456789abcdef0123456789abcdef"
	post := func(t *testing.T, base string, sign bool) (int, string) {
		t.Helper()
		form := slacktest.CommandForm("help", "U0SOMEONE", "C0INCIDENTS", fake.Trigger())
		body := form.Encode()
		req, _ := http.NewRequest(http.MethodPost, base+"/slack/commands", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sign {
			ts, sig := slacktest.Sign(secret, time.Now(), []byte(body))
			req.Header.Set("X-Slack-Request-Timestamp", ts)
			req.Header.Set("X-Slack-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		name string
		vars map[string]string
		want func(t *testing.T, base string)
	}{
		{"on", map[string]string{"HERALD_SLACK_TOKEN": fake.Token(), "HERALD_SLACK_API_URL": fake.URL(),
			"HERALD_SLACK_SIGNING_SECRETS": secret}, func(t *testing.T, base string) {
			code, body := post(t, base, true)
			var a struct {
				ResponseType, Text string
			}
			if err := json.Unmarshal([]byte(body), &a); code != http.StatusOK || err != nil || !strings.Contains(a.Text, "/incident declare") {
				t.Errorf("signed help: %d %s", code, body)
			}
			if code, _ := post(t, base, false); code != http.StatusUnauthorized {
				t.Errorf("unsigned: %d, want 401", code)
			}
		}},
		{"off", map[string]string{"HERALD_SLACK_TOKEN": fake.Token(), "HERALD_SLACK_API_URL": fake.URL()}, func(t *testing.T, base string) {
			if code, _ := post(t, base, true); code != http.StatusNotFound {
				t.Errorf("without a signing secret: %d, want 404", code)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"HERALD_ADDR": "127.0.0.1:0", "HERALD_LOG_LEVEL": "error",
				"HERALD_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "herald.db")}
			for k, v := range tt.vars {
				vars[k] = v
			}
			ctx, cancel := context.WithCancel(t.Context())
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, nil, env(vars), pw)
				pw.Close()
			}()
			addr := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					if _, a, ok := strings.Cut(sc.Text(), " on http://"); ok {
						addr <- a
					}
				}
			}()
			select {
			case a := <-addr:
				tt.want(t, "http://"+a)
			case err := <-done:
				t.Fatalf("serve returned early: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("no address within 20 s")
			}
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
	}
}
