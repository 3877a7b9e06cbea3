package slack_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	slackapi "github.com/slack-go/slack"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/slack"
	"github.com/kredete/herald/comms/slack/slacktest"
)

const (
	secretOld = "8f742231b10e8888abcd99yyyzzz85a5"
	secretNew = "f3c9d1e0a7b64c2e9d8a7b6c5d4e3f21"
	hostile   = "<!channel> <https://evil|bank> & co"
)

func setupApp(t *testing.T) (*slacktest.Server, *slack.App, string) {
	t.Helper()
	srv, c, ch := setup(t)
	return srv, slack.NewApp(c, []string{secretOld, "", secretNew}), ch
}

// request is a POST to the app with the body and, when secret is not "",
// Slack's signature headers for it made at ts.
func request(secret string, ts time.Time, signed, sent string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(sent))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		t, sig := slacktest.Sign(secret, ts, []byte(signed))
		r.Header.Set("X-Slack-Request-Timestamp", t)
		r.Header.Set("X-Slack-Signature", sig)
	}
	return r
}

func TestVerify(t *testing.T) {
	_, app, ch := setupApp(t)
	body := slacktest.CommandForm("declare Card payments failing", "U0THANDI", ch, "1.2.abc").Encode()
	now := time.Now()
	huge := strings.Repeat("a", slack.MaxRequestBody+1)
	exact := strings.Repeat("b", slack.MaxRequestBody)

	for _, tc := range []struct {
		name   string
		r      *http.Request
		want   string // a part of the error; "" for success
		tooBig bool
		body   string // the body returned when verified; "" means body
	}{
		{name: "old secret", r: request(secretOld, now, body, body)},
		{name: "new secret", r: request(secretNew, now, body, body)},
		{name: "4 minutes old", r: request(secretNew, now.Add(-4*time.Minute), body, body)},
		{name: "1 MiB exactly", r: request(secretOld, now, exact, exact), body: exact},
		{name: "unsigned", r: request("", now, body, body), want: "missing X-Slack-Signature"},
		{name: "wrong secret", r: request("not-the-secret", now, body, body), want: "matches no signing secret"},
		{name: "tampered body", r: request(secretOld, now, body, strings.Replace(body, "declare", "resolve", 1)), want: "matches no signing secret"},
		{name: "stale", r: request(secretOld, now.Add(-6*time.Minute), body, body), want: "5 minutes"},
		{name: "future", r: request(secretOld, now.Add(6*time.Minute), body, body), want: "5 minutes"},
		{name: "oversize", r: request(secretOld, now, huge, huge), want: "more than 1048576 bytes", tooBig: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := app.Verify(tc.r)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				want := tc.body
				if want == "" {
					want = body
				}
				if string(got) != want {
					t.Errorf("Verify returned %d bytes, want the %d of the body", len(got), len(want))
				}
				return
			}
			if err == nil {
				t.Fatal("Verify accepted it")
			}
			if !errors.Is(err, slack.ErrBadSignature) {
				t.Errorf("error %v does not wrap ErrBadSignature", err)
			}
			if errors.Is(err, slack.ErrBodyTooLarge) != tc.tooBig {
				t.Errorf("error %v: ErrBodyTooLarge = %v, want %v", err, !tc.tooBig, tc.tooBig)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			for _, s := range []string{secretOld, secretNew, tc.r.Header.Get("X-Slack-Signature")} {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("error %q echoes a secret or the signature", err)
				}
			}
		})
	}

	t.Run("malformed headers", func(t *testing.T) {
		for _, h := range []map[string]string{
			{"X-Slack-Signature": "v0=zz", "X-Slack-Request-Timestamp": fmt.Sprint(now.Unix())},
			{"X-Slack-Signature": "v1=abcd", "X-Slack-Request-Timestamp": fmt.Sprint(now.Unix())},
			{"X-Slack-Signature": "v0=" + strings.Repeat("0", 64), "X-Slack-Request-Timestamp": "yesterday"},
		} {
			r := request("", now, body, body)
			for k, v := range h {
				r.Header.Set(k, v)
			}
			if _, err := app.Verify(r); !errors.Is(err, slack.ErrBadSignature) || !strings.Contains(err.Error(), "malformed") {
				t.Errorf("headers %v: err = %v, want a malformed header refused", h, err)
			}
		}
	})

	t.Run("no secret configured", func(t *testing.T) {
		_, c, _ := setup(t)
		_, err := slack.NewApp(c, []string{"", "  "}).Verify(request(secretOld, now, body, body))
		if !errors.Is(err, slack.ErrBadSignature) || !strings.Contains(err.Error(), "no signing secret") {
			t.Errorf("err = %v, want refused for want of a secret", err)
		}
	})

	t.Run("SignedRequest", func(t *testing.T) {
		r := slacktest.SignedRequest("/slack/commands", secretNew, now, slacktest.CommandForm("list", "U1", ch, "1.2.abc"))
		if _, err := app.Verify(r); err != nil {
			t.Errorf("Verify(SignedRequest): %v", err)
		}
	})
}

func TestCommand(t *testing.T) {
	srv, app, ch := setupApp(t)
	trigger := srv.Trigger()
	form := slacktest.CommandForm("declare Card payments failing & <@U1>", "U0THANDI", ch, trigger)
	body, err := app.Verify(slacktest.SignedRequest("/slack/commands", secretOld, time.Now(), form))
	if err != nil {
		t.Fatal(err)
	}
	got, err := app.Command(body)
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	want := herald.SlackCommand{
		TeamID: slacktest.TeamID, ChannelID: ch, UserID: "U0THANDI", UserName: "u0thandi", Command: "/incident",
		Text: "declare Card payments failing & <@U1>", TriggerID: trigger, ResponseURL: form.Get("response_url"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Command (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got.ResponseURL, "https://hooks.slack.com/commands/") {
		t.Errorf("response_url = %q", got.ResponseURL)
	}
	for _, bad := range []string{"", "text=hello", "user_id=%zz&command=/incident"} {
		if _, err := app.Command([]byte(bad)); err == nil {
			t.Errorf("Command(%q) accepted it", bad)
		}
	}
}

func interaction(t *testing.T, app *slack.App, payload string) herald.SlackInteraction {
	t.Helper()
	body, err := app.Verify(slacktest.SignedRequest("/slack/interactions", secretNew, time.Now(), slacktest.InteractionForm(payload)))
	if err != nil {
		t.Fatal(err)
	}
	in, err := app.Interaction(body)
	if err != nil {
		t.Fatalf("Interaction: %v\n%s", err, payload)
	}
	return in
}

func TestInteractionBlockActions(t *testing.T) {
	srv, app, ch := setupApp(t)
	trigger := srv.Trigger()
	got := interaction(t, app, slacktest.BlockActionsPayload("U0THANDI", ch, "1764064800.000100", slack.OpenActionID, "inc_42", trigger))
	want := herald.SlackInteraction{
		Type: herald.SlackBlockActions, TeamID: slacktest.TeamID, UserID: "U0THANDI", UserName: "u0thandi",
		TriggerID: trigger, ChannelID: ch, MessageTS: "1764064800.000100", ActionID: slack.OpenActionID, Value: "inc_42",
	}
	if !strings.HasPrefix(got.ResponseURL, "https://hooks.slack.com/actions/") {
		t.Errorf("response_url = %q", got.ResponseURL)
	}
	got.ResponseURL = ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Interaction (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"", "payload=", "payload=%7B", "payload=" + url.QueryEscape(`{"type":"block_actions"}`)} {
		if _, err := app.Interaction([]byte(bad)); err == nil {
			t.Errorf("Interaction(%q) accepted it", bad)
		}
	}
}

// TestInteractionEveryElement: a modal with each input element Herald
// reads, opened on slacktest and submitted through it, reads back as typed.
func TestInteractionEveryElement(t *testing.T) {
	srv, app, _ := setupApp(t)
	api := slackapi.New(srv.Token(), slackapi.OptionAPIURL(srv.URL()))
	opt := func(v, text string) *slackapi.OptionBlockObject {
		return slackapi.NewOptionBlockObject(v, slackapi.NewTextBlockObject(slackapi.PlainTextType, text, false, false), nil)
	}
	text := slackapi.NewPlainTextInputBlockElement(nil, "text_action")
	empty := slackapi.NewPlainTextInputBlockElement(nil, "empty_action")
	single := slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeStatic, nil, "single_action", opt("a", "A"), opt("b", "B"))
	multi := slackapi.NewOptionsMultiSelectBlockElement(slackapi.MultiOptTypeStatic, nil, "multi_action", opt("x", "X"), opt("y", "Y"), opt("z", "Z"))
	boxes := slackapi.NewCheckboxGroupsBlockElement("boxes_action", opt("yes", "Yes"), opt("also", "Also"))
	users := slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeUser, nil, "user_action")
	label := func(s string) *slackapi.TextBlockObject {
		return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, false, false)
	}
	view := slackapi.ModalViewRequest{
		Type: slackapi.VTModal, Title: label("Every element"), Submit: label("Go"), CallbackID: "every",
		PrivateMetadata: `{"channel_id":"C1"}`,
		Blocks: slackapi.Blocks{BlockSet: []slackapi.Block{
			slackapi.NewInputBlock("text", label("Text"), nil, text),
			slackapi.NewInputBlock("empty", label("Empty"), nil, empty).WithOptional(true),
			slackapi.NewInputBlock("single", label("Single"), nil, single),
			slackapi.NewInputBlock("multi", label("Multi"), nil, multi),
			slackapi.NewInputBlock("boxes", label("Boxes"), nil, boxes),
			slackapi.NewInputBlock("none", label("None ticked"), nil,
				slackapi.NewCheckboxGroupsBlockElement("none_action", opt("n", "N"))).WithOptional(true),
			slackapi.NewInputBlock("user", label("User"), nil, users),
		}},
	}
	if _, err := api.OpenView(srv.Trigger(), view); err != nil {
		t.Fatalf("views.open: %v", err)
	}
	v := srv.Views()[0]
	got := interaction(t, app, v.Submit("U0THANDI", map[string][]string{
		"text": {"Line one\nline <two> & three"}, "empty": {}, "single": {"b"}, "multi": {"x", "z"},
		"boxes": {"yes", "also"}, "none": nil, "user": {"U0SIPHO"},
	}))
	want := map[string][]string{
		"text": {"Line one\nline <two> & three"}, "single": {"b"}, "multi": {"x", "z"},
		"boxes": {"yes", "also"}, "user": {"U0SIPHO"},
	}
	if diff := cmp.Diff(want, got.Values); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}
	if got.Type != herald.SlackViewSubmission || got.CallbackID != "every" || got.PrivateMetadata != `{"channel_id":"C1"}` ||
		got.UserID != "U0THANDI" || got.TeamID != slacktest.TeamID || got.TriggerID == "" {
		t.Errorf("Interaction = %+v", got)
	}

	// The payload has Slack's shapes: slack-go reads them too.
	var ic slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(v.Submit("U0THANDI", map[string][]string{"single": {"a"}})), &ic); err != nil {
		t.Fatal(err)
	}
	st := ic.View.State.Values
	if o := st["single"]["single_action"].SelectedOption; o.Value != "a" || o.Text == nil || o.Text.Text != "A" {
		t.Errorf("selected_option = %+v, want the option with its text", o)
	}
	if ic.View.ID != v.ID || ic.View.Hash != v.Hash || ic.View.ID == "" || ic.View.Hash == "" {
		t.Errorf("view id/hash = %q/%q, want %q/%q", ic.View.ID, ic.View.Hash, v.ID, v.Hash)
	}

	closed := interaction(t, app, v.Close("U0THANDI"))
	if closed.Type != herald.SlackViewClosed || closed.CallbackID != "every" || closed.PrivateMetadata != `{"channel_id":"C1"}` {
		t.Errorf("view_closed = %+v", closed)
	}
}

func TestMemberEmail(t *testing.T) {
	srv, app, _ := setupApp(t)
	ctx := t.Context()
	thandi := srv.AddUser("Thandi.Nkosi@kredete.example", "Thandi Nkosi")
	got, err := app.MemberEmail(ctx, thandi)
	if err != nil || got != "thandi.nkosi@kredete.example" {
		t.Fatalf("MemberEmail = %q, %v", got, err)
	}
	if calls := srv.Calls(); len(calls) != 2 || calls[0].Method != "users.info" || calls[0].User != thandi || calls[1].Method != "users.lookupByEmail" {
		t.Errorf("calls = %+v, want users.info then users.lookupByEmail", calls)
	}

	_, err = app.MemberEmail(ctx, "U404")
	var ae *slack.APIError
	if !errors.As(err, &ae) || ae.Code != "user_not_found" || ae.Method != "users.info" {
		t.Errorf("unknown member: err = %v, want users.info's user_not_found", err)
	}

	for name, id := range map[string]string{
		"bot":         srv.AddMember(slacktest.Member{Name: "Deploy bot", Bot: true}),
		"no email":    srv.AddUser("", "Guest"),
		"deactivated": srv.AddMember(slacktest.Member{Email: "gone@kredete.example", Name: "Gone", Deleted: true}),
		"no id":       "",
	} {
		if _, err := app.MemberEmail(ctx, id); !errors.Is(err, slack.ErrNoEmail) {
			t.Errorf("%s: err = %v, want ErrNoEmail", name, err)
		}
	}

	// Two members show the same email: only the one Slack finds by it is
	// that person.
	first := srv.AddUser("shared@kredete.example", "First")
	second := srv.AddUser("shared@kredete.example", "Impostor")
	if got, err := app.MemberEmail(ctx, first); err != nil || got != "shared@kredete.example" {
		t.Errorf("first: %q, %v", got, err)
	}
	_, err = app.MemberEmail(ctx, second)
	if !errors.Is(err, slack.ErrEmailMismatch) || !errors.Is(err, slack.ErrNoEmail) {
		t.Errorf("mismatch: err = %v, want ErrEmailMismatch and ErrNoEmail", err)
	}

	srv.Refuse("users.info", "missing_scope")
	if _, err := app.MemberEmail(ctx, thandi); !errors.As(err, &ae) || ae.Code != "missing_scope" {
		t.Errorf("missing scope: err = %v", err)
	}
}

// viewBlocks decodes a recorded view's blocks by block id.
func viewBlocks(t *testing.T, v slacktest.View) map[string]map[string]any {
	t.Helper()
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(v.Blocks), &blocks); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, b := range blocks {
		id, _ := b["block_id"].(string)
		out[id] = b
	}
	return out
}

func element(b map[string]any) map[string]any {
	e, _ := b["element"].(map[string]any)
	return e
}

func optionValues(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, o := range list {
		if m, ok := o.(map[string]any); ok {
			out = append(out, m["value"].(string))
		}
	}
	return out
}

func lastView(t *testing.T, srv *slacktest.Server) slacktest.View {
	t.Helper()
	vs := srv.Views()
	if len(vs) == 0 {
		t.Fatal("no view opened")
	}
	return vs[len(vs)-1]
}

func declareModal(ch string) herald.SlackDeclareModal {
	return herald.SlackDeclareModal{
		Title: "Card payments failing", Body: "We are investigating failed card payments.",
		Impact: herald.ImpactMajor, ChannelID: ch,
		Components: []herald.Component{
			{ID: "cmp_api", Name: "API Platform", Status: herald.Operational},
			{ID: "cmp_pay", Name: "Payments", Status: herald.Operational},
		},
	}
}

func TestOpenDeclare(t *testing.T) {
	srv, app, ch := setupApp(t)
	ctx := t.Context()
	if err := app.OpenDeclare(ctx, srv.Trigger(), declareModal(ch)); err != nil {
		t.Fatalf("OpenDeclare: %v", err)
	}
	v := lastView(t, srv)
	if v.CallbackID != herald.SlackDeclareCallback || v.Title != "Declare an incident" {
		t.Errorf("callback_id %q, title %q", v.CallbackID, v.Title)
	}
	if meta, err := herald.DecodeSlackModalMeta(v.PrivateMetadata); err != nil || meta != (herald.SlackModalMeta{ChannelID: ch}) {
		t.Errorf("private_metadata %q = %+v, %v", v.PrivateMetadata, meta, err)
	}
	wantIDs := []string{herald.SlackFieldName, herald.SlackFieldImpact, herald.SlackComponentField("cmp_api"),
		herald.SlackComponentField("cmp_pay"), herald.SlackFieldRegulators, herald.SlackFieldBody}
	if diff := cmp.Diff(wantIDs, v.BlockIDs()); diff != "" {
		t.Errorf("block ids (-want +got):\n%s", diff)
	}
	var view struct {
		Submit, Close struct{ Text string }
	}
	_ = json.Unmarshal([]byte(v.JSON), &view)
	if view.Submit.Text != "Declare" || view.Close.Text != "Cancel" {
		t.Errorf("submit %q, close %q", view.Submit.Text, view.Close.Text)
	}
	bs := viewBlocks(t, v)
	if e := element(bs["name"]); e["initial_value"] != "Card payments failing" || e["max_length"] != 200.0 || e["action_id"] != "name" {
		t.Errorf("name element = %v", e)
	}
	impact := element(bs["impact"])
	if got := optionValues(impact["options"]); !slices.Equal(got, []string{"minor", "major", "critical"}) {
		t.Errorf("impact options = %v", got)
	}
	if init, _ := impact["initial_option"].(map[string]any); init["value"] != "major" {
		t.Errorf("impact initial = %v", impact["initial_option"])
	}
	comp := bs[herald.SlackComponentField("cmp_pay")]
	if comp["optional"] != true || comp["hint"].(map[string]any)["text"] != "Leave empty if it is not affected" ||
		comp["label"].(map[string]any)["text"] != "Payments" {
		t.Errorf("component block = %v", comp)
	}
	if got := optionValues(element(comp)["options"]); !slices.Equal(got, []string{"degraded_performance", "partial_outage", "major_outage", "under_maintenance"}) {
		t.Errorf("component options = %v", got)
	}
	if got := optionValues(element(bs["regulators"])["options"]); !slices.Equal(got, []string{"yes"}) || bs["regulators"]["optional"] != true {
		t.Errorf("regulators = %v", bs["regulators"])
	}
	if e := element(bs["body"]); e["multiline"] != true || e["initial_value"] != "We are investigating failed card payments." ||
		bs["body"]["label"].(map[string]any)["text"] != "First public update" {
		t.Errorf("body = %v", bs["body"])
	}

	// Submitted as filled in, it reads back by block id.
	got := interaction(t, app, v.Submit("U0THANDI", map[string][]string{
		herald.SlackFieldImpact:                {"critical"},
		herald.SlackComponentField("cmp_pay"):  {"major_outage"},
		herald.SlackFieldRegulators:            {"yes"},
		herald.SlackFieldBody:                  {"Card payments fail for all customers."},
		herald.SlackComponentField("cmp_none"): {"ignored"}, // not in the view
	}))
	want := map[string][]string{
		herald.SlackFieldName:                 {"Card payments failing"}, // left as prefilled
		herald.SlackFieldImpact:               {"critical"},
		herald.SlackComponentField("cmp_pay"): {"major_outage"},
		herald.SlackFieldRegulators:           {"yes"},
		herald.SlackFieldBody:                 {"Card payments fail for all customers."},
	}
	if diff := cmp.Diff(want, got.Values); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}
	if got.CallbackID != herald.SlackDeclareCallback || got.PrivateMetadata != v.PrivateMetadata {
		t.Errorf("submission = %+v", got)
	}

	// No impact chosen yet: none preselected.
	m := declareModal(ch)
	m.Impact, m.Title, m.Body, m.Components = "", "", "", nil
	if err := app.OpenDeclare(ctx, srv.Trigger(), m); err != nil {
		t.Fatalf("OpenDeclare(empty): %v", err)
	}
	bs = viewBlocks(t, lastView(t, srv))
	if _, ok := element(bs["impact"])["initial_option"]; ok {
		t.Errorf("impact preselected without an impact: %v", bs["impact"])
	}
	if _, ok := element(bs["name"])["initial_value"]; ok {
		t.Errorf("name prefilled with nothing: %v", bs["name"])
	}
}

func TestOpenTriggers(t *testing.T) {
	srv, app, ch := setupApp(t)
	ctx := t.Context()
	code := func(err error) string {
		var ae *slack.APIError
		if errors.As(err, &ae) {
			return ae.Code
		}
		return fmt.Sprint(err)
	}
	trigger := srv.Trigger()
	if err := app.OpenDeclare(ctx, trigger, declareModal(ch)); err != nil {
		t.Fatal(err)
	}
	if err := app.OpenDeclare(ctx, trigger, declareModal(ch)); code(err) != "exchanged_trigger_id" {
		t.Errorf("trigger used twice: %v", err)
	}
	if err := app.OpenDeclare(ctx, "1.2.unknown", declareModal(ch)); code(err) != "invalid_trigger_id" {
		t.Errorf("unknown trigger: %v", err)
	}
	if err := app.OpenDeclare(ctx, "", declareModal(ch)); err == nil {
		t.Error("no trigger: opened")
	}
	late := srv.Trigger()
	srv.SetClock(func() time.Time { return time.Now().Add(slacktest.TriggerLifetime + time.Second) })
	if err := app.OpenDeclare(ctx, late, declareModal(ch)); code(err) != "expired_trigger_id" ||
		!strings.Contains(err.Error(), "3 seconds") {
		t.Errorf("expired trigger: %v", err)
	}
	if n := len(srv.Views()); n != 1 {
		t.Errorf("%d views opened, want 1", n)
	}
}

func composerModal(ch string, n int) herald.SlackComposerModal {
	in := incident()
	in.Version = 7
	auds := []herald.Audience{
		{Key: "engineering", Name: "Engineering", Channels: []herald.Channel{herald.ChannelSlack},
			Cadence: herald.Cadence{Kind: herald.RealTime}, Description: "Slack #incident-response"},
		{Key: "customers", Name: "Customers", Channels: []herald.Channel{herald.ChannelStatusPage, herald.ChannelEmail},
			Cadence: herald.Cadence{Kind: herald.Every, Interval: 30 * time.Minute}},
		{Key: "regulators", Name: "Regulators", Conditional: true, Cadence: herald.Cadence{Kind: herald.Deadline, Interval: 4 * time.Hour}},
	}
	for i := len(auds); i < n; i++ {
		auds = append(auds, herald.Audience{Key: fmt.Sprintf("aud_%02d", i), Name: fmt.Sprintf("Audience %d", i)})
	}
	return herald.SlackComposerModal{
		Incident: in, Status: herald.Identified, Main: "We found the cause.",
		Audiences: auds, Ticked: []string{"engineering", "customers"}, ChannelID: ch,
	}
}

func TestOpenComposer(t *testing.T) {
	srv, app, ch := setupApp(t)
	ctx := t.Context()
	if err := app.OpenComposer(ctx, srv.Trigger(), composerModal(ch, 3)); err != nil {
		t.Fatalf("OpenComposer: %v", err)
	}
	v := lastView(t, srv)
	if v.CallbackID != herald.SlackComposerCallback || v.Title != "Post an update" {
		t.Errorf("callback_id %q, title %q", v.CallbackID, v.Title)
	}
	meta, err := herald.DecodeSlackModalMeta(v.PrivateMetadata)
	if err != nil || meta != (herald.SlackModalMeta{IncidentID: "inc_42", Version: 7, ChannelID: ch}) {
		t.Errorf("private_metadata %q = %+v, %v", v.PrivateMetadata, meta, err)
	}
	if diff := cmp.Diff([]string{"incident", herald.SlackFieldStatus, herald.SlackFieldMain, herald.SlackFieldAudiences}, v.BlockIDs()); diff != "" {
		t.Errorf("block ids (-want +got):\n%s", diff)
	}
	bs := viewBlocks(t, v)
	context := textObjects(t, mustJSON(t, bs["incident"]))
	if len(context) != 1 || !strings.Contains(context[0].Text, "Card payments failing") || !strings.Contains(context[0].Text, "Investigating") {
		t.Errorf("context = %+v", context)
	}
	status := element(bs["status"])
	if got := optionValues(status["options"]); !slices.Equal(got, []string{"investigating", "identified", "monitoring", "resolved", "postmortem"}) {
		t.Errorf("status options = %v", got)
	}
	if init, _ := status["initial_option"].(map[string]any); init["value"] != "identified" {
		t.Errorf("status initial = %v", status["initial_option"])
	}
	if e := element(bs["main"]); e["initial_value"] != "We found the cause." || e["multiline"] != true || e["max_length"] != 3000.0 {
		t.Errorf("main = %v", e)
	}
	aud := element(bs["audiences"])
	if aud["type"] != "checkboxes" || !slices.Equal(optionValues(aud["options"]), []string{"engineering", "customers", "regulators"}) ||
		!slices.Equal(optionValues(aud["initial_options"]), []string{"engineering", "customers"}) {
		t.Errorf("audiences = %v", aud)
	}
	if s := mustJSON(t, aud); !strings.Contains(s, "Every 30 min") || !strings.Contains(s, "Slack #incident-response") {
		t.Errorf("audience descriptions lack channel or cadence: %s", s)
	}

	got := interaction(t, app, v.Submit("U0THANDI", map[string][]string{
		herald.SlackFieldStatus: {"monitoring"}, herald.SlackFieldAudiences: {"customers", "regulators"},
	}))
	want := map[string][]string{
		herald.SlackFieldStatus: {"monitoring"}, herald.SlackFieldMain: {"We found the cause."},
		herald.SlackFieldAudiences: {"customers", "regulators"},
	}
	if diff := cmp.Diff(want, got.Values); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}

	// A plan with more audiences than Slack's ten checkboxes: a multi-select.
	if err := app.OpenComposer(ctx, srv.Trigger(), composerModal(ch, 14)); err != nil {
		t.Fatalf("OpenComposer(14 audiences): %v", err)
	}
	v = lastView(t, srv)
	aud = element(viewBlocks(t, v)["audiences"])
	if aud["type"] != "multi_static_select" || len(optionValues(aud["options"])) != 14 ||
		!slices.Equal(optionValues(aud["initial_options"]), []string{"engineering", "customers"}) {
		t.Errorf("audiences = %v", aud)
	}
	got = interaction(t, app, v.Submit("U0THANDI", map[string][]string{herald.SlackFieldAudiences: {"aud_12", "engineering"}}))
	if !slices.Equal(got.Values[herald.SlackFieldAudiences], []string{"aud_12", "engineering"}) {
		t.Errorf("audiences submitted = %v", got.Values)
	}

	// A maintenance offers its own statuses.
	m := composerModal(ch, 0)
	m.Incident.Kind, m.Incident.Status, m.Status, m.Audiences = herald.KindMaintenance, herald.Scheduled, herald.InProgress, nil
	if err := app.OpenComposer(ctx, srv.Trigger(), m); err != nil {
		t.Fatalf("OpenComposer(maintenance): %v", err)
	}
	bs = viewBlocks(t, lastView(t, srv))
	if got := optionValues(element(bs["status"])["options"]); !slices.Equal(got, []string{"scheduled", "in_progress", "verifying", "completed"}) {
		t.Errorf("maintenance statuses = %v", got)
	}
	if _, ok := bs["audiences"]; ok {
		t.Error("audience block without audiences")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestModalsHostileAndLongText: user text cannot ping, disguise a link or
// break a modal: mrkdwn is escaped, everything is cut to Slack's limits,
// and slacktest's validation (Slack's) accepts the views.
func TestModalsHostileAndLongText(t *testing.T) {
	srv, app, ch := setupApp(t)
	ctx := t.Context()
	long := strings.Repeat(hostile+" ", 40) // ~1,400 characters

	d := declareModal(ch)
	d.Title, d.Body = long, strings.Repeat("Body text. ", 1000)
	d.Components = append(d.Components, herald.Component{ID: "cmp_evil", Name: long})
	for i := range 120 { // more than a modal's 100 blocks
		d.Components = append(d.Components, herald.Component{ID: fmt.Sprintf("cmp_%03d", i), Name: fmt.Sprintf("Component %d", i)})
	}
	if err := app.OpenDeclare(ctx, srv.Trigger(), d); err != nil {
		t.Fatalf("OpenDeclare: %v", err)
	}
	dv := lastView(t, srv)
	if n := len(dv.BlockIDs()); n > 100 {
		t.Errorf("%d blocks", n)
	}
	if !strings.Contains(dv.Blocks, "do not fit") {
		t.Error("no note about the components left out")
	}
	bs := viewBlocks(t, dv)
	if n := utf8.RuneCountInString(element(bs["name"])["initial_value"].(string)); n > herald.MaxNameLen {
		t.Errorf("name initial_value is %d characters", n)
	}
	if n := utf8.RuneCountInString(element(bs["body"])["initial_value"].(string)); n > 3000 {
		t.Errorf("body initial_value is %d characters", n)
	}

	c := composerModal(ch, 3)
	c.Incident.Name, c.Main = long+long, strings.Repeat("x", 12000)
	c.Audiences[0].Name, c.Audiences[0].Description = long, long
	if err := app.OpenComposer(ctx, srv.Trigger(), c); err != nil {
		t.Fatalf("OpenComposer: %v", err)
	}
	cv := lastView(t, srv)
	context := textObjects(t, mustJSON(t, viewBlocks(t, cv)["incident"]))[0]
	if !strings.Contains(context.Text, "&lt;!channel&gt; &lt;https://evil|bank&gt; &amp; co") || !context.Verbatim {
		t.Errorf("context not escaped: %q", context.Text)
	}
	if n := utf8.RuneCountInString(context.Text); n > 400 {
		t.Errorf("context is %d characters", n)
	}

	for _, v := range []slacktest.View{dv, cv} {
		for _, o := range textObjects(t, v.Blocks) {
			if o.Type == "mrkdwn" && (strings.Contains(o.Text, "<!") || strings.Contains(o.Text, "<http")) {
				t.Errorf("%s: unescaped mrkdwn %q", v.CallbackID, o.Text)
			}
		}
		if errs := slacktest.CheckView(v.JSON); len(errs) > 0 {
			t.Errorf("%s: %v", v.CallbackID, errs)
		}
	}
	var opts []map[string]any
	aud := element(viewBlocks(t, cv)["audiences"])
	_ = json.Unmarshal([]byte(mustJSON(t, aud["options"])), &opts)
	for _, o := range opts {
		for _, k := range []string{"text", "description"} {
			if tx, ok := o[k].(map[string]any); ok && utf8.RuneCountInString(tx["text"].(string)) > 75 {
				t.Errorf("option %s is %d characters", k, utf8.RuneCountInString(tx["text"].(string)))
			}
		}
	}
}

// BenchmarkVerifyCommand is what every /incident costs before Herald's
// own work: the signature checked (with the second of two secrets, the
// slower case during a rotation) and the command read.
func BenchmarkVerifyCommand(b *testing.B) {
	app := slack.NewApp(slack.New("xoxb-bench", slack.Options{APIURL: "http://127.0.0.1:9/api/"}), []string{secretOld, secretNew})
	body := slacktest.CommandForm("status", "U0BENCH", "C0INCIDENTS", "1.2.trigger").Encode()
	ts, sig := slacktest.Sign(secretNew, time.Now(), []byte(body))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Slack-Request-Timestamp", ts)
		r.Header.Set("X-Slack-Signature", sig)
		got, err := app.Verify(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := app.Command(got); err != nil {
			b.Fatal(err)
		}
	}
}
