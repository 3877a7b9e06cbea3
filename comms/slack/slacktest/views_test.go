package slacktest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald/comms/slack/slacktest"
)

// modal is a valid modal with one input of each kind, as a JSON object to
// be spoilt by the cases below.
func modal() map[string]any {
	text := func(s string) map[string]any { return map[string]any{"type": "plain_text", "text": s} }
	opt := func(v string) map[string]any { return map[string]any{"text": text(strings.ToUpper(v)), "value": v} }
	return map[string]any{
		"type": "modal", "title": text("A modal"), "submit": text("Go"), "close": text("Cancel"),
		"callback_id": "cb", "private_metadata": "meta",
		"blocks": []any{
			map[string]any{"type": "section", "block_id": "intro", "text": map[string]any{"type": "mrkdwn", "text": "*Hi*"}},
			map[string]any{"type": "input", "block_id": "name", "label": text("Name"),
				"element": map[string]any{"type": "plain_text_input", "action_id": "name", "initial_value": "x", "max_length": 10}},
			map[string]any{"type": "input", "block_id": "pick", "label": text("Pick"),
				"element": map[string]any{"type": "static_select", "action_id": "pick", "options": []any{opt("a"), opt("b")}, "initial_option": opt("b")}},
			map[string]any{"type": "input", "block_id": "many", "label": text("Many"),
				"element": map[string]any{"type": "multi_static_select", "action_id": "many", "options": []any{opt("a"), opt("b")}, "initial_options": []any{opt("a")}}},
			map[string]any{"type": "input", "block_id": "boxes", "label": text("Boxes"), "optional": true,
				"element": map[string]any{"type": "checkboxes", "action_id": "boxes", "options": []any{opt("yes")}}},
			map[string]any{"type": "input", "block_id": "who", "label": text("Who"),
				"element": map[string]any{"type": "users_select", "action_id": "who"}},
		},
	}
}

func openView(t *testing.T, s *slacktest.Server, trigger string, view any) answer {
	t.Helper()
	return jsonCall(t, s, "views.open", s.Token(), map[string]any{"trigger_id": trigger, "view": view})
}

func TestViewsOpen(t *testing.T) {
	s := slacktest.New(t)
	a := openView(t, s, s.Trigger(), modal())
	if !a.OK {
		t.Fatalf("views.open refused a valid modal: %s %v", a.Error, a.Errors)
	}
	vs := s.Views()
	if len(vs) != 1 || vs[0].CallbackID != "cb" || vs[0].PrivateMetadata != "meta" || vs[0].Title != "A modal" ||
		!strings.HasPrefix(vs[0].ID, "V") || vs[0].Hash == "" {
		t.Fatalf("views = %+v", vs)
	}
	if got := strings.Join(vs[0].BlockIDs(), ","); got != "intro,name,pick,many,boxes,who" {
		t.Errorf("block ids = %s", got)
	}

	// The view as a string, as a form sends it, is the same.
	b, _ := json.Marshal(modal())
	if a, _ := form(t, s, "views.open", url.Values{"token": {s.Token()}, "trigger_id": {s.Trigger()}, "view": {string(b)}}); !a.OK {
		t.Errorf("form-encoded views.open: %s %v", a.Error, a.Errors)
	}
}

func TestViewsOpenValidation(t *testing.T) {
	s := slacktest.New(t)
	input := func(m map[string]any, i int) map[string]any { return m["blocks"].([]any)[i].(map[string]any) }
	elem := func(m map[string]any, i int) map[string]any { return input(m, i)["element"].(map[string]any) }
	for _, tc := range []struct {
		name, pointer string
		spoil         func(m map[string]any)
	}{
		{"not a modal", "/view/type", func(m map[string]any) { m["type"] = "home" }},
		{"long title", "/view/title/text", func(m map[string]any) { m["title"].(map[string]any)["text"] = strings.Repeat("t", 25) }},
		{"no title", "/view/title", func(m map[string]any) { delete(m, "title") }},
		{"long submit", "/view/submit/text", func(m map[string]any) { m["submit"].(map[string]any)["text"] = strings.Repeat("s", 25) }},
		{"mrkdwn close", "/view/close/type", func(m map[string]any) { m["close"].(map[string]any)["type"] = "mrkdwn" }},
		{"inputs without submit", "/view/submit", func(m map[string]any) { delete(m, "submit") }},
		{"long callback_id", "/view/callback_id", func(m map[string]any) { m["callback_id"] = strings.Repeat("c", 256) }},
		{"long private_metadata", "/view/private_metadata", func(m map[string]any) { m["private_metadata"] = strings.Repeat("m", 3001) }},
		{"101 blocks", "/view/blocks", func(m map[string]any) {
			for len(m["blocks"].([]any)) < 101 {
				m["blocks"] = append(m["blocks"].([]any), map[string]any{"type": "divider"})
			}
		}},
		{"unknown block type", "/view/blocks/0/type", func(m map[string]any) { input(m, 0)["type"] = "file" }},
		{"duplicate block_id", "/view/blocks/2/block_id", func(m map[string]any) { input(m, 2)["block_id"] = "name" }},
		{"input without label", "/view/blocks/1/label", func(m map[string]any) { delete(input(m, 1), "label") }},
		{"long label", "/view/blocks/1/label/text", func(m map[string]any) { input(m, 1)["label"].(map[string]any)["text"] = strings.Repeat("l", 2001) }},
		{"no element", "/view/blocks/1/element", func(m map[string]any) { delete(input(m, 1), "element") }},
		{"button in input", "/view/blocks/1/element/type", func(m map[string]any) { elem(m, 1)["type"] = "button" }},
		{"initial_value past max_length", "/view/blocks/1/element/initial_value", func(m map[string]any) { elem(m, 1)["initial_value"] = strings.Repeat("v", 11) }},
		{"max_length past 3000", "/view/blocks/1/element/max_length", func(m map[string]any) { elem(m, 1)["max_length"] = 3001 }},
		{"initial_option not offered", "/view/blocks/2/element/initial_option", func(m map[string]any) {
			elem(m, 2)["initial_option"] = map[string]any{"text": map[string]any{"type": "plain_text", "text": "C"}, "value": "c"}
		}},
		{"initial_options not offered", "/view/blocks/3/element/initial_options/0", func(m map[string]any) {
			elem(m, 3)["initial_options"] = []any{map[string]any{"text": map[string]any{"type": "plain_text", "text": "A!"}, "value": "a"}}
		}},
		{"long option text", "/view/blocks/2/element/options/0/text/text", func(m map[string]any) {
			elem(m, 2)["options"].([]any)[0].(map[string]any)["text"].(map[string]any)["text"] = strings.Repeat("o", 76)
			delete(elem(m, 2), "initial_option")
		}},
		{"select without options", "/view/blocks/2/element/options", func(m map[string]any) {
			elem(m, 2)["options"] = []any{}
			delete(elem(m, 2), "initial_option")
		}},
		{"11 checkboxes", "/view/blocks/4/element/options", func(m map[string]any) {
			var opts []any
			for i := range 11 {
				opts = append(opts, map[string]any{"text": map[string]any{"type": "plain_text", "text": "x"}, "value": fmt.Sprint(i)})
			}
			elem(m, 4)["options"] = opts
		}},
		{"duplicate option values", "/view/blocks/3/element/options/1/value", func(m map[string]any) {
			elem(m, 3)["options"].([]any)[1].(map[string]any)["value"] = "a"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := modal()
			tc.spoil(m)
			a := openView(t, s, s.Trigger(), m)
			if a.OK || a.Error != "invalid_arguments" {
				t.Fatalf("answer = ok:%v %q, want invalid_arguments", a.OK, a.Error)
			}
			found := false
			for _, e := range a.Errors {
				found = found || strings.Contains(e, "[json-pointer:"+tc.pointer+"]")
			}
			if !found {
				t.Errorf("errors %q do not point at %s", a.Errors, tc.pointer)
			}
		})
	}
	if n := len(s.Views()); n != 0 {
		t.Errorf("%d invalid views recorded", n)
	}
}

func TestViewsOpenTriggers(t *testing.T) {
	s := slacktest.New(t)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	trigger := s.Trigger()
	if a := openView(t, s, trigger, modal()); !a.OK {
		t.Fatalf("first use: %s", a.Error)
	}
	if a := openView(t, s, trigger, modal()); a.Error != "exchanged_trigger_id" {
		t.Errorf("second use: %q", a.Error)
	}
	if a := openView(t, s, "123.456.nope", modal()); a.Error != "invalid_trigger_id" {
		t.Errorf("unknown: %q", a.Error)
	}
	if a := openView(t, s, "", modal()); a.Error != "invalid_arguments" {
		t.Errorf("missing: %q", a.Error)
	}
	// A trigger is not spent by an invalid view, and lasts 3 seconds.
	late := s.Trigger()
	bad := modal()
	bad["type"] = "home"
	if a := openView(t, s, late, bad); a.Error != "invalid_arguments" {
		t.Errorf("bad view: %q", a.Error)
	}
	now = now.Add(slacktest.TriggerLifetime)
	if a := openView(t, s, late, modal()); !a.OK {
		t.Errorf("at 3 s: %q", a.Error)
	}
	later := s.Trigger()
	now = now.Add(slacktest.TriggerLifetime + time.Millisecond)
	if a := openView(t, s, later, modal()); a.Error != "expired_trigger_id" {
		t.Errorf("after 3 s: %q", a.Error)
	}
}

func TestUsersInfo(t *testing.T) {
	s := slacktest.New(t)
	thandi := s.AddUser("Thandi@Kredete.example", "Thandi Nkosi")
	bot := s.AddMember(slacktest.Member{Name: "Deploy bot", Bot: true, Email: "bot@kredete.example"})
	gone := s.AddMember(slacktest.Member{Email: "gone@kredete.example", Name: "Gone", Deleted: true})
	type info struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		User  struct {
			ID      string `json:"id"`
			IsBot   bool   `json:"is_bot"`
			Deleted bool   `json:"deleted"`
			Profile struct {
				Email    string `json:"email"`
				RealName string `json:"real_name"`
			} `json:"profile"`
		} `json:"user"`
	}
	get := func(id string) info {
		var i info
		resp, err := httpPostForm(s.URL()+"users.info", url.Values{"token": {s.Token()}, "user": {id}})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(resp, &i); err != nil {
			t.Fatal(err)
		}
		return i
	}
	if i := get(thandi); !i.OK || i.User.ID != thandi || i.User.Profile.Email != "thandi@kredete.example" || i.User.Profile.RealName != "Thandi Nkosi" {
		t.Errorf("users.info(thandi) = %+v", i)
	}
	if i := get(bot); !i.OK || !i.User.IsBot || i.User.Profile.Email != "" {
		t.Errorf("users.info(bot) = %+v", i)
	}
	if i := get(gone); !i.OK || !i.User.Deleted {
		t.Errorf("users.info(gone) = %+v", i)
	}
	if i := get("U404"); i.OK || i.Error != "user_not_found" {
		t.Errorf("users.info(unknown) = %+v", i)
	}

	// Two members with one email: lookupByEmail finds the first added.
	s.AddUser("thandi@kredete.example", "Impostor")
	for range 5 {
		if a, _ := form(t, s, "users.lookupByEmail", url.Values{"token": {s.Token()}, "email": {"THANDI@kredete.example"}}); a.User.ID != thandi {
			t.Fatalf("lookupByEmail = %s, want %s", a.User.ID, thandi)
		}
	}
}

// TestSubmitDefaults: a block left alone submits its initial value; an
// empty list clears it.
func TestSubmitDefaults(t *testing.T) {
	s := slacktest.New(t)
	if a := openView(t, s, s.Trigger(), modal()); !a.OK {
		t.Fatal(a.Error)
	}
	v := s.Views()[0]
	var p struct {
		Type string `json:"type"`
		View struct {
			ID, Hash, CallbackID string
			PrivateMetadata      string `json:"private_metadata"`
			State                struct {
				Values map[string]map[string]map[string]any `json:"values"`
			} `json:"state"`
		} `json:"view"`
	}
	if err := json.Unmarshal([]byte(v.Submit("U1", map[string][]string{"name": {}, "who": {"U2"}})), &p); err != nil {
		t.Fatal(err)
	}
	st := p.View.State.Values
	if p.Type != "view_submission" || p.View.ID != v.ID || p.View.Hash != v.Hash || p.View.PrivateMetadata != "meta" {
		t.Errorf("payload = %+v", p)
	}
	if got := st["name"]["name"]["value"]; got != nil {
		t.Errorf("cleared text = %v, want null", got)
	}
	if got := st["pick"]["pick"]["selected_option"].(map[string]any)["value"]; got != "b" {
		t.Errorf("untouched select = %v, want its initial option", got)
	}
	if got := st["many"]["many"]["selected_options"].([]any); len(got) != 1 {
		t.Errorf("untouched multi-select = %v", got)
	}
	if got := st["boxes"]["boxes"]["selected_options"].([]any); len(got) != 0 {
		t.Errorf("unticked boxes = %v, want []", got)
	}
	if got := st["who"]["who"]["selected_user"]; got != "U2" {
		t.Errorf("user = %v", got)
	}
	if _, ok := st["intro"]; ok {
		t.Error("a section in the state")
	}
}

func TestSign(t *testing.T) {
	// Slack's documented example (docs.slack.dev, verifying requests).
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	ts, sig := slacktest.Sign("8f742231b10e8888abcd99yyyzzz85a5", time.Unix(1531420618, 0), []byte(body))
	if ts != "1531420618" || sig != "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503" {
		t.Errorf("Sign = %s, %s", ts, sig)
	}
	f := slacktest.CommandForm("list", "U1", "C1", "1.2.3")
	for _, k := range []string{"token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
		"command", "text", "api_app_id", "response_url", "trigger_id"} {
		if !f.Has(k) {
			t.Errorf("CommandForm lacks %s", k)
		}
	}
}

func httpPostForm(target string, v url.Values) ([]byte, error) {
	resp, err := http.PostForm(target, v)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
