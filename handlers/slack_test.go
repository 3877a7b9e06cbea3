package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/slack"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/store/storetest"
)

const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackEnv is the console's stack with Herald's Slack app, against the
// local Slack server: requests are signed as Slack signs them.
type slackEnv struct {
	*console
	slack *slacktest.Server
	// members: Slack member ids of the console's users, by role.
	members map[herald.Role]string
}

func newSlackEnv(t *testing.T, dialect string) *slackEnv {
	t.Helper()
	fake := slacktest.New(t)
	app := slack.NewApp(slack.New(fake.Token(), slack.Options{APIURL: fake.URL()}), []string{slackSecret})
	c := newConsole(t, envOptions{dialect: dialect, slack: app})
	e := &slackEnv{console: c, slack: fake, members: map[herald.Role]string{}}
	for role, u := range c.users {
		e.members[role] = fake.AddUser(u.Email, u.Name)
	}
	return e
}

func forEachSlack(t *testing.T, f func(t *testing.T, e *slackEnv)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, newSlackEnv(t, d))
		})
	}
}

// send posts body to path signed with secret at ts, as Slack does.
func (e *slackEnv) send(path, secret string, ts time.Time, body string, headers ...string) response {
	e.t.Helper()
	tsh, sig := slacktest.Sign(secret, ts, []byte(body))
	h := append([]string{"Content-Type", "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp", tsh,
		"X-Slack-Signature", sig}, headers...)
	return e.do(http.MethodPost, path, strings.NewReader(body), h...)
}

// command runs /incident text as the member, and returns the answer.
func (e *slackEnv) command(member, text string) (response, string) {
	e.t.Helper()
	trigger := e.slack.Trigger()
	r := e.send("/slack/commands", slackSecret, time.Now(), slacktest.CommandForm(text, member, "C0INCIDENTS", trigger).Encode())
	return r, trigger
}

// answer reads an ephemeral answer's text.
func answer(t *testing.T, r response) string {
	t.Helper()
	if r.Code != http.StatusOK {
		t.Fatalf("status %d: %s", r.Code, r.Body)
	}
	var a struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatalf("answer %q: %v", r.Body, err)
	}
	if a.ResponseType != "ephemeral" {
		t.Errorf("response_type %q; want ephemeral", a.ResponseType)
	}
	return a.Text
}

// interact posts an interaction payload as Slack does.
func (e *slackEnv) interact(payload string, headers ...string) response {
	e.t.Helper()
	return e.send("/slack/interactions", slackSecret, time.Now(), url.Values{"payload": {payload}}.Encode(), headers...)
}

func (e *slackEnv) lastView(t *testing.T) slacktest.View {
	t.Helper()
	vs := e.slack.Views()
	if len(vs) == 0 {
		t.Fatal("no view was opened")
	}
	return vs[len(vs)-1]
}

func (e *slackEnv) openIncidents(t *testing.T) []herald.Incident {
	t.Helper()
	all, err := e.store.OpenIncidents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestSlackSignatures: only what Slack signed, recently, is read; a
// forged, tampered or stale request gets 401 and changes nothing.
func TestSlackSignatures(t *testing.T) {
	forEachSlack(t, func(t *testing.T, e *slackEnv) {
		body := slacktest.CommandForm("declare Payments down", e.members[herald.RoleCommander], "C0INCIDENTS", e.slack.Trigger()).Encode()
		views := len(e.slack.Views())
		for name, r := range map[string]response{
			"unsigned":     e.do(http.MethodPost, "/slack/commands", strings.NewReader(body), "Content-Type", "application/x-www-form-urlencoded"),
			"wrong secret": e.send("/slack/commands", "another-secret-0123456789abcdef", time.Now(), body),
			"stale":        e.send("/slack/commands", slackSecret, time.Now().Add(-6*time.Minute), body),
			"future":       e.send("/slack/commands", slackSecret, time.Now().Add(6*time.Minute), body),
			"interaction unsigned": e.do(http.MethodPost, "/slack/interactions", strings.NewReader("payload=%7B%7D"),
				"Content-Type", "application/x-www-form-urlencoded"),
			"interaction stale": e.send("/slack/interactions", slackSecret, time.Now().Add(-6*time.Minute),
				url.Values{"payload": {slacktest.BlockActionsPayload(e.members[herald.RoleApprover], "D0X", "1.1",
					herald.SlackActionApprove, "act1", e.slack.Trigger())}}.Encode()),
		} {
			if r.Code != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", name, r.Code)
			}
		}
		// Tampered: signed, then changed.
		tsh, sig := slacktest.Sign(slackSecret, time.Now(), []byte(body))
		r := e.do(http.MethodPost, "/slack/commands", strings.NewReader(strings.Replace(body, "Payments", "Pavments", 1)),
			"Content-Type", "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp", tsh, "X-Slack-Signature", sig)
		if r.Code != http.StatusUnauthorized {
			t.Errorf("tampered: status %d, want 401", r.Code)
		}
		if len(e.slack.Views()) != views || len(e.openIncidents(t)) != 0 {
			t.Error("a refused request opened a form or declared an incident")
		}
	})
}

// TestSlackDeclareRoundTrip: /incident declare opens the modal prefilled
// with the title; a submission with problems gets them under the fields
// and stores nothing; a good one declares the incident, with the Slack
// user as its commander, and the public API shows it.
func TestSlackDeclareRoundTrip(t *testing.T) {
	forEachSlack(t, func(t *testing.T, e *slackEnv) {
		boss := e.members[herald.RoleCommander]
		r, _ := e.command(boss, "declare Card payments failing")
		if r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("declare: %d %s; want an empty 200 (the modal opens)", r.Code, r.Body)
		}
		v := e.lastView(t)
		if v.CallbackID != herald.SlackDeclareCallback || !strings.Contains(v.JSON, "Card payments failing") {
			t.Fatalf("view %s: %s", v.CallbackID, v.JSON)
		}
		api := e.ids["api-platform"]

		// Problems: no name, a bad status for a component.
		bad := v.Submit(boss, map[string][]string{herald.SlackFieldName: {""}, herald.SlackFieldImpact: {"major"},
			herald.SlackFieldBody: {"We are investigating."}})
		r = e.interact(bad)
		var ve struct {
			ResponseAction string            `json:"response_action"`
			Errors         map[string]string `json:"errors"`
		}
		if err := json.Unmarshal(r.Body, &ve); err != nil || r.Code != http.StatusOK || ve.ResponseAction != "errors" ||
			ve.Errors[herald.SlackFieldName] == "" {
			t.Fatalf("a submission without a name: %d %s", r.Code, r.Body)
		}
		if n := len(e.openIncidents(t)); n != 0 {
			t.Fatalf("%d incidents after a refused submission", n)
		}

		good := v.Submit(boss, map[string][]string{herald.SlackFieldName: {"Card payments failing"}, herald.SlackFieldImpact: {"major"},
			herald.SlackComponentField(api): {"partial_outage"}, herald.SlackFieldBody: {"We are investigating failed card payments."}})
		r = e.interact(good)
		if r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("a good submission: %d %s; want an empty 200 (the modal closes)", r.Code, r.Body)
		}
		open := e.openIncidents(t)
		if len(open) != 1 || open[0].Name != "Card payments failing" || open[0].Impact != herald.ImpactMajor {
			t.Fatalf("open incidents %+v", open)
		}
		roles, err := e.store.Assignments(t.Context(), open[0].ID)
		if err != nil || roles[herald.SeatCommander].UserID != e.users[herald.RoleCommander].ID {
			t.Errorf("commander %+v, %v; want the Slack user's Herald user", roles[herald.SeatCommander], err)
		}
		var doc struct {
			Incidents []struct {
				Name string `json:"name"`
			} `json:"incidents"`
			Components []struct {
				ID, Status string
			} `json:"components"`
		}
		r = e.do(http.MethodGet, "/api/v2/summary.json", nil)
		if err := json.Unmarshal(r.Body, &doc); err != nil || len(doc.Incidents) != 1 || doc.Incidents[0].Name != "Card payments failing" {
			t.Errorf("summary after the declaration: %s", r.Body)
		}
		for _, c := range doc.Components {
			if c.ID == api && c.Status != "partial_outage" {
				t.Errorf("API Platform is %s on the page", c.Status)
			}
		}
		// The same submission delivered again (Slack retrying) declares
		// nothing more.
		r = e.interact(good, "X-Slack-Retry-Num", "1", "X-Slack-Retry-Reason", "http_timeout")
		if r.Code != http.StatusOK || len(e.openIncidents(t)) != 1 {
			t.Errorf("a retried submission: %d, %d incidents", r.Code, len(e.openIncidents(t)))
		}
	})
}

// TestSlackComposerRoundTrip: /incident update opens the composer for the
// one open incident; the submission posts to the audiences ticked and the
// status page shows it; resolve preselects Resolved; a stale submission is
// refused under the field.
func TestSlackComposerRoundTrip(t *testing.T) {
	forEachSlack(t, func(t *testing.T, e *slackEnv) {
		boss := e.members[herald.RoleAdmin]
		in, err := e.store.DeclareIncident(t.Context(), herald.Declaration{Name: "Loan approvals slow", Impact: herald.ImpactMinor,
			Body: "Looking into it."}, e.users[herald.RoleCommander].ID, e.plan.DeclareAudiences(), "test")
		if err != nil {
			t.Fatal(err)
		}
		r, _ := e.command(boss, "update")
		if r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("update: %d %s", r.Code, r.Body)
		}
		v := e.lastView(t)
		meta, err := herald.DecodeSlackModalMeta(v.PrivateMetadata)
		if v.CallbackID != herald.SlackComposerCallback || err != nil || meta.IncidentID != in.ID {
			t.Fatalf("composer %s, meta %+v %v", v.CallbackID, meta, err)
		}
		r = e.interact(v.Submit(boss, map[string][]string{herald.SlackFieldStatus: {"identified"},
			herald.SlackFieldMain: {"A database index was missing; adding it now."}, herald.SlackFieldAudiences: {"public"}}))
		if r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("composer submission: %d %s", r.Code, r.Body)
		}
		got, err := e.store.Incident(t.Context(), in.ID)
		if err != nil || got.Status != herald.Identified || !slices.ContainsFunc(got.Updates, func(u herald.Update) bool {
			return u.Body == "A database index was missing; adding it now." && u.Status == herald.Identified
		}) {
			t.Fatalf("after the composer: %+v, %+v, %v", got.Status, got.Updates, err)
		}
		page := e.do(http.MethodGet, "/api/v2/incidents/unresolved.json", nil)
		if !strings.Contains(string(page.Body), "A database index was missing") {
			t.Errorf("the public API does not show the update: %s", page.Body)
		}

		// The first composer's version is stale now.
		r = e.interact(v.Submit(boss, map[string][]string{herald.SlackFieldStatus: {"monitoring"},
			herald.SlackFieldMain: {"Written on an old page."}, herald.SlackFieldAudiences: {"public"}}))
		if errs := viewErrs(t, r); !strings.Contains(errs[herald.SlackFieldMain], "changed this incident") {
			t.Errorf("a stale composer: %s", r.Body)
		}

		r, _ = e.command(boss, "resolve "+in.ID)
		if r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("resolve: %d %s", r.Code, r.Body)
		}
		v = e.lastView(t)
		if !strings.Contains(v.JSON, `"value":"resolved"`) {
			t.Errorf("resolve's composer does not preselect resolved: %s", v.JSON)
		}
		r = e.interact(v.Submit(boss, map[string][]string{herald.SlackFieldStatus: {"resolved"},
			herald.SlackFieldMain: {"Fixed: approvals are back to normal."}, herald.SlackFieldAudiences: {"public", "engineering"}}))
		if r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("resolve submission: %d %s", r.Code, r.Body)
		}
		if got, _ := e.store.Incident(t.Context(), in.ID); got.Status != herald.Resolved {
			t.Errorf("status %s after resolving", got.Status)
		}
		if text := answer(t, first(e.command(boss, "update "+in.ID))); !strings.Contains(text, "resolved") {
			t.Errorf("update of a resolved incident: %q", text)
		}
	})
}

func first(r response, _ string) response { return r }

// viewErrs reads a modal submission's answer: the problems by field.
func viewErrs(t *testing.T, r response) map[string]string {
	t.Helper()
	var ve struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &ve); err != nil || r.Code != http.StatusOK || ve.ResponseAction != "errors" {
		t.Fatalf("want response_action errors; got %d %s (%v)", r.Code, r.Body, err)
	}
	return ve.Errors
}

// TestSlackRoles: an unknown Slack member, a disabled user and a role
// without the permission get an ephemeral answer that says why, and
// nothing changes; a viewer may list and read the status.
func TestSlackRoles(t *testing.T) {
	forEachSlack(t, func(t *testing.T, e *slackEnv) {
		stranger := e.slack.AddUser("stranger@elsewhere.example", "Stranger")
		if text := answer(t, first(e.command(stranger, "declare Oops"))); !strings.Contains(text, "No Herald user") {
			t.Errorf("a stranger: %q", text)
		}
		viewer := e.members[herald.RoleViewer]
		if text := answer(t, first(e.command(viewer, "declare Oops"))); !strings.Contains(text, "cannot declare") {
			t.Errorf("a viewer declaring: %q", text)
		}
		if text := answer(t, first(e.command(viewer, "list"))); !strings.Contains(text, "No incident is open") {
			t.Errorf("a viewer listing: %q", text)
		}
		in, err := e.store.DeclareIncident(t.Context(), herald.Declaration{Name: "Partner API <!channel> errors", Impact: herald.ImpactMajor,
			Body: "Looking."}, e.users[herald.RoleCommander].ID, e.plan.DeclareAudiences(), "test")
		if err != nil {
			t.Fatal(err)
		}
		text := answer(t, first(e.command(viewer, "status")))
		if !strings.Contains(text, in.ID) || strings.Contains(text, "<!channel>") || !strings.Contains(text, "&lt;!channel&gt;") {
			t.Errorf("status (escaped name, id): %q", text)
		}
		if text := answer(t, first(e.command(viewer, "commander <@"+e.members[herald.RoleAdmin]+">"))); !strings.Contains(text, "cannot assign") {
			t.Errorf("a viewer handing over command: %q", text)
		}
		// A viewer's modal submission (a composer opened by someone else)
		// is refused under the field.
		if r, _ := e.command(e.members[herald.RoleCommander], "update"); r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("update: %d %s", r.Code, r.Body)
		}
		v := e.lastView(t)
		r := e.interact(v.Submit(viewer, map[string][]string{herald.SlackFieldStatus: {"identified"},
			herald.SlackFieldMain: {"Not mine to post."}, herald.SlackFieldAudiences: {"public"}}))
		if errs := viewErrs(t, r); !strings.Contains(errs[herald.SlackFieldStatus], "cannot change incidents") {
			t.Errorf("a viewer's submission: %s", r.Body)
		}
		if got, _ := e.store.Incident(t.Context(), in.ID); len(got.Updates) != 1 {
			t.Errorf("%d updates after refused requests", len(got.Updates))
		}
		// The member is linked to the user after the first command.
		u, err := e.store.UserBySlackID(t.Context(), viewer)
		if err != nil || u.ID != e.users[herald.RoleViewer].ID {
			t.Errorf("link %+v, %v", u, err)
		}

		// Command handed over by a commander: not to a responder (the
		// role cannot command), to an admin.
		if text := answer(t, first(e.command(e.members[herald.RoleCommander], "commander <@"+e.members[herald.RoleResponder]+">"))); !strings.Contains(text, "cannot command") {
			t.Errorf("handover to a responder: %q", text)
		}
		admin := e.members[herald.RoleAdmin]
		if text := answer(t, first(e.command(e.members[herald.RoleCommander], "commander <@"+admin+"|adm> "+in.ID))); !strings.Contains(text, "is now the commander") {
			t.Errorf("handover: %q", text)
		}
		roles, _ := e.store.Assignments(t.Context(), in.ID)
		if roles[herald.SeatCommander].UserID != e.users[herald.RoleAdmin].ID {
			t.Errorf("commander is %+v", roles[herald.SeatCommander])
		}
		if text := answer(t, first(e.command(e.members[herald.RoleCommander], "commander <@"+stranger+">"))); !strings.Contains(text, "does not know them") {
			t.Errorf("handover to a stranger: %q", text)
		}

		// Help, unknown verbs and bad ids say what to do.
		if text := answer(t, first(e.command(viewer, ""))); !strings.Contains(text, "/incident declare") {
			t.Errorf("help: %q", text)
		}
		if text := answer(t, first(e.command(viewer, "frobnicate"))); !strings.Contains(text, "unknown command") {
			t.Errorf("unknown: %q", text)
		}
		if text := answer(t, first(e.command(viewer, "status zzzzzzzzzzzz"))); !strings.Contains(text, "no incident zzzzzzzzzzzz") {
			t.Errorf("unknown id: %q", text)
		}
	})
}

// TestSlackLinkByHand: an admin links a Slack member whose Slack email is
// not their Herald one; /incident then acts as that user. A malformed id
// is refused next to its field, and nothing changes.
func TestSlackLinkByHand(t *testing.T) {
	forEachSlack(t, func(t *testing.T, e *slackEnv) {
		other := e.slack.AddUser("ada.personal@elsewhere.example", "Ada")
		if text := answer(t, first(e.command(other, "list"))); !strings.Contains(text, "No Herald user") {
			t.Fatalf("before the link: %q", text)
		}
		admin := e.as(t, herald.RoleAdmin)
		viewer := e.users[herald.RoleViewer]
		r := admin.post("/console/users/"+viewer.ID+"/slack", url.Values{"slack_user_id": {"not an id"}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "Copy member ID") {
			t.Fatalf("a bad id: %d", r.Code)
		}
		if u, _ := e.store.User(t.Context(), viewer.ID); u.SlackUserID != "" {
			t.Fatalf("a refused link stored %q", u.SlackUserID)
		}
		r = admin.post("/console/users/"+viewer.ID+"/slack", url.Values{"slack_user_id": {strings.ToLower(other)}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("link: %d %s", r.Code, r.Body)
		}
		if text := answer(t, first(e.command(other, "list"))); !strings.Contains(text, "No incident is open") {
			t.Errorf("after the link: %q", text)
		}
		if text := answer(t, first(e.command(other, "declare x"))); !strings.Contains(text, "viewer") {
			t.Errorf("the linked member acts with the viewer's role: %q", text)
		}
		page := string(admin.get("/console/users").Body)
		if !strings.Contains(page, `value="`+other+`"`) {
			t.Error("the users page does not show the link")
		}
		// Unlinked by the admin: neither the member linked by hand nor the
		// one with the user's Slack email acts as the user any more.
		if r := admin.post("/console/users/"+viewer.ID+"/slack", url.Values{"slack_user_id": {""}}); r.Code != http.StatusSeeOther {
			t.Fatalf("unlink: %d", r.Code)
		}
		for _, m := range []string{other, e.members[herald.RoleViewer]} {
			if text := answer(t, first(e.command(m, "list"))); strings.Contains(text, "No incident is open") {
				t.Errorf("member %s still acts as the viewer after the unlink: %q", m, text)
			}
		}
		if u, _ := e.store.User(t.Context(), viewer.ID); herald.SlackLinkOf(u) != "" {
			t.Errorf("still linked: %q", u.SlackUserID)
		}
	})
}
