package main

// Issue 8: "secrets never in logs". TestSecretsNeverLogged runs the herald
// binary at debug level with every secret Herald takes set to a value of
// its own, drives the paths that use them (the vendors called with their
// credentials, forged requests refused, a wrong and a right password, a
// wrong and a right admin token), and then reads everything the process
// wrote, stdout and stderr, for each secret in the forms it travels in
// (plain, URL-escaped, and inside the Basic and AUTH PLAIN credentials).

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kredete/herald/comms/email/smtptest"
	"github.com/kredete/herald/comms/pagerduty/pdtest"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/comms/sms/twiliotest"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

func TestSecretsNeverLogged(t *testing.T) {
	bin := buildHerald(t)
	const (
		dbPassword     = "dbPw-Leak-7f3a9c"
		adminTok       = "adminTok-Leak-0b8e1d4c77aa"
		adminPass      = "adminPass-Leak-horse-battery"
		smtpUser       = "herald-mailer"
		smtpPass       = "smtpPass-Leak-41c2"
		twToken        = "twTokenLeak9d1e0c5f3b2a7788"
		pdRoutingKey   = "pdRoutingKeyLeak0123456789abcdef" // 32 characters, as PagerDuty's
		pdHookSecret   = "pdHookSecret-Leak-55e1"
		slackSigning   = "slackSigning-Leak-a1b2c3d4e5f6"
		automationSecr = "automationSecret-Leak-12ab"
		metricsToken   = "metricsToken-Leak-7c7c7c7c"
		wrongPassword  = "typedWrong-Leak-Passw0rd"
		wrongToken     = "forgedTok-Leak-ffff0000"
	)
	slack := slacktest.New(t)
	slackCh := slack.AddChannel("incident-response")
	twilio := twiliotest.New(t, twilioSID, twToken)
	mail := smtptest.Start(t, smtptest.WithAuth(smtpUser, smtpPass))
	pd := pdtest.New(t, pdRoutingKey)

	u, err := url.Parse(storetest.URL(t, store.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL trusts local connections, so any password opens it: the
	// point is that the one in the URL is never printed.
	u.User = url.UserPassword(u.User.Username(), dbPassword)

	plan := filepath.Join(t.TempDir(), "plan.yaml")
	yaml := planYAML([]string{"cfo@kredete.example"}, []string{"+27820000001"}) + "pagerduty:\n  trigger_at: major\n"
	if err := os.WriteFile(plan, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"HERALD_ADDR=127.0.0.1:"+fmt.Sprint(port),
		"HERALD_PUBLIC_URL="+base,
		"HERALD_DATABASE_URL="+u.String(),
		"HERALD_CONFIG="+plan,
		"HERALD_LOG_LEVEL=debug",
		"HERALD_LOG_FORMAT=json",
		"HERALD_ADMIN_TOKEN="+adminTok,
		"HERALD_ADMIN_EMAIL="+adminEmail,
		"HERALD_ADMIN_PASSWORD="+adminPass,
		"HERALD_SLACK_TOKEN="+slack.Token(),
		"HERALD_SLACK_API_URL="+slack.URL(),
		"HERALD_SLACK_SIGNING_SECRETS="+slackSigning,
		"HERALD_SMTP_URL="+mail.URL(),
		"HERALD_TWILIO_ACCOUNT_SID="+twilioSID,
		"HERALD_TWILIO_AUTH_TOKEN="+twToken,
		"HERALD_TWILIO_FROM="+twilioFrom,
		"HERALD_TWILIO_API_URL="+twilio.URL,
		"HERALD_PAGERDUTY_ROUTING_KEY="+pdRoutingKey,
		"HERALD_PAGERDUTY_EVENTS_URL="+pd.EventsURL(),
		"HERALD_PAGERDUTY_WEBHOOK_SECRETS="+pdHookSecret,
		"HERALD_AUTOMATION_SECRETS="+automationSecr,
		"HERALD_METRICS_TOKEN="+metricsToken,
	)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// done closes when the process has exited; waitErr is then its end.
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	eventually(t, 30*time.Second, "herald ready", func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("herald exited while starting: %v\n%s", waitErr, out.tail(40))
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	do := func(method, path, ctype, body string, header map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The admin API: a forged token is refused, the right one declares a
	// major incident (Slack, PagerDuty).
	if code, _ := do("POST", "/admin/api/incidents", "application/json", `{}`,
		map[string]string{"Authorization": "Bearer " + wrongToken}); code != http.StatusUnauthorized {
		t.Errorf("a forged admin token: %d, want 401", code)
	}
	req, _ := http.NewRequest("POST", base+"/admin/api/incidents", strings.NewReader(
		`{"name":"Card payments failing","impact":"major","body":"Investigating.","components":[{"id":"api-platform","status":"major_outage"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminTok)
	declared, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	declared.Body.Close()
	inc, ok := strings.CutPrefix(declared.Header.Get("Location"), "/incidents/")
	if declared.StatusCode != http.StatusCreated || !ok {
		t.Fatalf("declare: %d %s", declared.StatusCode, declared.Header.Get("Location"))
	}

	// The console: a wrong password, then the right one, then an update to
	// the executives (SMTP with AUTH, Twilio with Basic auth).
	jar, _ := cookiejar.New(nil)
	console := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := console.PostForm(base+"/console/sign-in", url.Values{"email": {adminEmail}, "password": {wrongPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a wrong password signed in")
	}
	resp, err = console.PostForm(base+"/console/sign-in", url.Values{"email": {adminEmail}, "password": {adminPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	resp, err = console.PostForm(base+"/console/incidents/"+inc+"/updates",
		url.Values{"main": {"Failing over to eu-west-1."}, "audience": {"engineering", "executives"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose: %d", resp.StatusCode)
	}

	// Forged vendor calls, each refused: signed with a wrong secret, so
	// the verifiers run and fail.
	form := slacktest.CommandForm("help", "U0SOMEONE", "C0INCIDENTS", slack.Trigger()).Encode()
	ts, sig := slacktest.Sign("not-"+slackSigning, time.Now(), []byte(form))
	if code, _ := do("POST", "/slack/commands", "application/x-www-form-urlencoded", form,
		map[string]string{"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}); code != http.StatusUnauthorized {
		t.Errorf("a forged Slack command: %d, want 401", code)
	}
	if code, _ := do("POST", "/webhooks/twilio/status", "application/x-www-form-urlencoded", "MessageSid=SM1&MessageStatus=delivered",
		map[string]string{"X-Twilio-Signature": "Zm9yZ2Vk"}); code < 400 {
		t.Errorf("a forged Twilio callback: %d", code)
	}
	if code, _ := do("POST", "/webhooks/pagerduty", "application/json", `{"event":{}}`,
		map[string]string{"X-PagerDuty-Signature": "v1=00ff"}); code < 400 {
		t.Errorf("a forged PagerDuty webhook: %d", code)
	}
	if code, _ := do("POST", "/api/automation/actions/x", "application/json", `{}`,
		map[string]string{"X-Herald-Signature": "sha256=00ff"}); code < 400 {
		t.Errorf("a forged automation callback: %d", code)
	}

	// A scrape with the metrics token, and one with a forged token.
	if code, _ := do("GET", "/metrics", "", "", map[string]string{"Authorization": "Bearer " + metricsToken}); code != http.StatusOK {
		t.Errorf("a scrape with the token: %d", code)
	}
	if code, _ := do("GET", "/metrics", "", "", map[string]string{"Authorization": "Bearer " + wrongToken}); code != http.StatusUnauthorized {
		t.Errorf("a scrape with a forged token: %d, want 401", code)
	}

	// Every vendor was called with its credentials.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := mail.WaitForMessages(ctx, 1); err != nil {
		t.Fatalf("no email: %v\n%s", err, out.tail(40))
	}
	if _, err := pd.WaitEvents(ctx, 1); err != nil {
		t.Fatalf("no PagerDuty event: %v\n%s", err, out.tail(40))
	}
	eventually(t, 60*time.Second, "a text and a Slack post", func() (bool, string) {
		n, m := len(twilio.Messages()), len(slack.Messages(slackCh))
		return n > 0 && m > 0, fmt.Sprintf("%d texts, %d Slack messages", n, m)
	})

	// A graceful stop, so everything it would log is written.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not stop within 30 s of SIGTERM")
	}
	logs := out.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Fatalf("no debug lines: the test reads too little\n%s", out.tail(20))
	}
	basic := func(user, pass string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)) }
	plain := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	}
	for name, s := range map[string]string{
		"database password": dbPassword, "admin token": adminTok, "admin password": adminPass,
		"SMTP password": smtpPass, "SMTP AUTH PLAIN": plain(smtpUser, smtpPass),
		"Twilio auth token": twToken, "Twilio Basic credentials": basic(twilioSID, twToken),
		"Slack bot token": slack.Token(), "Slack signing secret": slackSigning,
		"PagerDuty routing key": pdRoutingKey, "PagerDuty webhook secret": pdHookSecret,
		"automation secret": automationSecr, "metrics token": metricsToken, "a typed wrong password": wrongPassword, "a forged admin token": wrongToken,
	} {
		for _, form := range []string{s, url.QueryEscape(s)} {
			if i := strings.Index(logs, form); i >= 0 {
				lo, hi := max(0, i-200), min(len(logs), i+len(form)+50)
				t.Errorf("the %s is in the logs: …%s…", name, logs[lo:hi])
				break
			}
		}
	}
	t.Logf("read %d lines of output", strings.Count(logs, "\n"))
}
