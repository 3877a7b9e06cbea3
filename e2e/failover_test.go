package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// addUser adds one console user with the CLI, as an operator would.
func addUser(t *testing.T, who, name, role string) consoleUser {
	t.Helper()
	pw := make([]byte, 12)
	rand.Read(pw) //nolint:errcheck // never fails
	u := consoleUser{Email: who + "-" + suffix() + "@kredete.example", Name: name, Role: role, Password: hex.EncodeToString(pw)}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(herald.Dir, "herald"), "user", "add",
		"--email", u.Email, "--name", u.Name, "--role", u.Role)
	cmd.Env = append(cleanEnv(), "HERALD_DATABASE_URL=sqlite:"+filepath.Join(herald.Dir, "herald.db"),
		"HERALD_CONFIG="+filepath.Join(herald.Dir, "herald.yaml"), "HERALD_USER_PASSWORD="+u.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("herald user add --role %s: %v\n%s", role, err, out)
	}
	return u
}

// actionState reads the state of the incident page's only action.
const actionState = `(document.querySelector('[data-testid=action] [data-testid=action-state]') || {innerText: 'none'}).innerText.trim()`

// TestDatabaseFailover runs the database failover runbook as the plan
// says it must run, each person in their own browser: the commander
// requests it, the VP of Engineering approves, the DBA checks the
// precondition and runs the six steps; the commander watches it complete
// live and exports the post-incident report.
func TestDatabaseFailover(t *testing.T) {
	browser := newBrowser(t)
	cmdrU := addUser(t, "cora", "Cora Commander", "commander")
	vpU := addUser(t, "vusi", "Vusi VP", "approver")
	dbaU := addUser(t, "dineo", "Dineo DBA", "dba")
	inc := declareOverAPI(t, "Primary database unreachable "+suffix(), "credit-origination", "major_outage")
	page := herald.URL + "/console/incidents/" + inc.ID

	cmdr := newPerson(t, browser, 60*time.Second)
	signIn(t, cmdr, cmdrU)
	if err := chromedp.Do(cmdr, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("[data-testid=start-action]"))); err != nil {
		t.Fatal(err)
	}
	if got := evalJS[string](t, cmdr, `document.querySelector('[data-testid=no-actions]').innerText`); !strings.Contains(got, "No failover action") {
		t.Errorf("empty state: %q", got)
	}
	if err := chromedp.Do(cmdr, chromedp.SetValue(chromedp.CSS("#procedure"), "runbook:database-failover"),
		chromedp.SendKeys(chromedp.CSS("#action_reason"), "Primary unreachable for 4 minutes; standby healthy")); err != nil {
		t.Fatal(err)
	}
	click(t, cmdr, "[data-testid=start-action] button[type=submit]", http.StatusOK)
	if got := evalJS[string](t, cmdr, actionState); got != "Awaiting approval" {
		t.Fatalf("after the request: %q", got)
	}
	if n := evalJS[float64](t, cmdr, `document.querySelectorAll('[data-testid=decide-form]').length`); n != 0 {
		t.Error("the requester is offered the approval")
	}
	waitLive(t, cmdr)

	vp := newPerson(t, browser, 60*time.Second)
	signIn(t, vp, vpU)
	if err := chromedp.Do(vp, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("[data-testid=decide-form]")),
		chromedp.SendKeys(chromedp.CSS("[data-testid=decide-form] textarea"), "Approved: lag is low, go ahead")); err != nil {
		t.Fatal(err)
	}
	click(t, vp, "[data-testid=approve]", http.StatusOK)
	if got := evalJS[string](t, vp, actionState); got != "Approved, not started" {
		t.Fatalf("after the approval: %q", got)
	}
	// The commander's page follows without a reload.
	waitFor(t, cmdr, "the approval on the commander's page", actionState+` === 'Approved, not started'`)

	dba := newPerson(t, browser, 90*time.Second)
	signIn(t, dba, dbaU)
	if err := chromedp.Do(dba, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("[data-testid=execute-form]"))); err != nil {
		t.Fatal(err)
	}
	// The precondition refuses a lagging standby, next to the field.
	if err := chromedp.Do(dba, chromedp.SendKeys(chromedp.CSS("[data-testid=execute-form] input[name=replication_lag_ms]"), "180")); err != nil {
		t.Fatal(err)
	}
	click(t, dba, "[data-testid=execute]", http.StatusUnprocessableEntity)
	if msg := evalJS[string](t, dba, `document.querySelector('[data-testid=execute-form] .field-error').innerText`); !strings.Contains(msg, "not under 100 ms") {
		t.Errorf("lag error: %q", msg)
	}
	if err := chromedp.Do(dba, chromedp.SetValue(chromedp.CSS("[data-testid=execute-form] input[name=replication_lag_ms]"), "35")); err != nil {
		t.Fatal(err)
	}
	click(t, dba, "[data-testid=execute]", http.StatusOK)
	if got := evalJS[string](t, dba, actionState); got != "Running" {
		t.Fatalf("after the start: %q", got)
	}
	for i := 1; i <= 6; i++ {
		click(t, dba, fmt.Sprintf("[data-testid=step-%d-done]", i), http.StatusOK)
		st := evalJS[string](t, dba, fmt.Sprintf(`document.querySelectorAll('[data-testid=action-step]')[%d].dataset.state`, i-1))
		if st != "done" {
			t.Fatalf("step %d is %s after Done", i, st)
		}
	}
	if got := evalJS[string](t, dba, actionState); got != "Completed" {
		t.Fatalf("after six steps: %q", got)
	}
	screenshot(t, dba, "failover-completed")
	waitFor(t, cmdr, "the completion on the commander's page", actionState+` === 'Completed'`)

	// The report: printable, and as Markdown.
	click(t, cmdr, "[data-testid=report-link]", http.StatusOK)
	decision := evalJS[string](t, cmdr, `document.querySelector('[data-testid=report-decision]').innerText`)
	if !strings.Contains(decision, "Approved by Vusi VP") {
		t.Errorf("the report's decision: %q", decision)
	}
	screenshot(t, cmdr, "failover-report")
	md := evalAwait[string](t, cmdr, `fetch(document.querySelector('[data-testid=report-md]').href).then(r => r.text())`)
	for _, want := range []string{"# Post-incident report: Primary database unreachable", "### Database failover — Completed",
		"Approved by Vusi VP", "Started by Dineo DBA", "Replication lag 35 ms, under 100 ms", "## Compliance with the communication plan"} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown report lacks %q", want)
		}
	}
}
