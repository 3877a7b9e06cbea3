package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Members, triggers and modals: users.info, and views.open with the
// triggers Slack hands an app with each slash command and click.

// Member describes a workspace member for AddMember.
type Member struct {
	Email   string // "" for a member without one
	Name    string // real name
	Bot     bool   // an app's bot user: is_bot, never an email
	Deleted bool   // deactivated
}

// AddMember creates a workspace member and returns its user id.
func (s *Server) AddMember(m Member) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids++
	id := fmt.Sprintf("U%09d", s.ids)
	u := &user{id: id, email: strings.ToLower(strings.TrimSpace(m.Email)), name: m.Name, bot: m.Bot, deleted: m.Deleted}
	if u.bot {
		u.email = ""
	}
	s.users[id] = u
	return id
}

// userJSON is a member as users.info and users.lookupByEmail return it.
func userJSON(u *user) map[string]any {
	handle := strings.SplitN(u.email, "@", 2)[0]
	if handle == "" {
		handle = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(u.name), " ", "."))
	}
	profile := map[string]any{"real_name": u.name, "display_name": u.name, "team": TeamID}
	if u.email != "" {
		profile["email"] = u.email
	}
	if u.bot {
		profile["bot_id"] = "B" + u.id[1:]
	}
	return map[string]any{
		"id": u.id, "team_id": TeamID, "name": handle, "real_name": u.name, "deleted": u.deleted,
		"is_bot": u.bot, "is_app_user": false, "is_admin": false, "is_owner": false,
		"is_restricted": false, "is_ultra_restricted": false, "tz": "Africa/Johannesburg",
		"profile": profile,
	}
}

// userInfo handles users.info.
func (s *Server) userInfo(p url.Values) (map[string]any, string) {
	u := s.users[p.Get("user")]
	if u == nil {
		return nil, "user_not_found"
	}
	return map[string]any{"user": userJSON(u)}, ""
}

// TriggerLifetime is how long a trigger id can open a modal, as on Slack.
const TriggerLifetime = 3 * time.Second

type trigger struct {
	issued time.Time
	used   bool
}

// SetClock sets the clock triggers are minted and expire by (time.Now
// until then): a test can move it past TriggerLifetime without sleeping.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Trigger mints a trigger id, as Slack puts in a slash command or an
// interaction: views.open accepts it once, within TriggerLifetime of now by
// the server's clock.
func (s *Server) Trigger() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mintTrigger()
}

func (s *Server) mintTrigger() string {
	s.ids++
	now := s.now()
	id := fmt.Sprintf("%d.%d.%016x", s.ids, now.Unix(), rand.Uint64())
	s.triggers[id] = &trigger{issued: now}
	return id
}

// View is a modal opened with views.open.
type View struct {
	ID              string // "V..."
	CallbackID      string
	PrivateMetadata string
	Hash            string
	TriggerID       string // the trigger it was opened with
	Title           string // the title's text
	JSON            string // the view as sent (compact JSON)
	Blocks          string // its blocks (JSON array)

	srv *Server // mints the trigger of a submission
}

// Views returns the modals opened so far, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.views)
}

// BlockIDs lists the view's block ids in order ("" for a block without one).
func (v View) BlockIDs() []string {
	var blocks []struct {
		BlockID string `json:"block_id"`
	}
	_ = json.Unmarshal([]byte(v.Blocks), &blocks)
	out := make([]string, len(blocks))
	for i, b := range blocks {
		out[i] = b.BlockID
	}
	return out
}

// openView handles views.open: a valid trigger, used once and in time, and
// a valid modal. The trigger is spent only when the modal opens.
func (s *Server) openView(p url.Values) (map[string]any, string, []string) {
	tid := p.Get("trigger_id")
	if tid == "" {
		return nil, "invalid_arguments", []string{"[ERROR] missing required field: trigger_id"}
	}
	raw := p.Get("view")
	if strings.TrimSpace(raw) == "" {
		return nil, "invalid_arguments", []string{"[ERROR] missing required field: view"}
	}
	if len(raw) > maxViewJSON {
		return nil, "view_too_large", nil
	}
	tr := s.triggers[tid]
	switch {
	case tr == nil:
		return nil, "invalid_trigger_id", nil
	case tr.used:
		return nil, "exchanged_trigger_id", nil
	case s.now().Sub(tr.issued) > TriggerLifetime:
		return nil, "expired_trigger_id", nil
	}
	if errs := CheckView(raw); len(errs) > 0 {
		return nil, "invalid_arguments", errs
	}
	tr.used = true

	var fields map[string]json.RawMessage
	_ = json.Unmarshal([]byte(raw), &fields) // CheckView parsed it
	var compact bytes.Buffer
	_ = json.Compact(&compact, []byte(raw))
	s.ids++
	v := View{
		ID:              fmt.Sprintf("V%09d", s.ids),
		CallbackID:      str(fields["callback_id"]),
		PrivateMetadata: str(fields["private_metadata"]),
		Hash:            fmt.Sprintf("%d.%08x", s.now().Unix(), rand.Uint32()),
		TriggerID:       tid,
		JSON:            compact.String(),
		Blocks:          string(fields["blocks"]),
		srv:             s,
	}
	var title struct{ Text string }
	_ = json.Unmarshal(fields["title"], &title)
	v.Title = title.Text
	if b := new(bytes.Buffer); json.Compact(b, fields["blocks"]) == nil {
		v.Blocks = b.String()
	}
	s.views = append(s.views, v)
	return map[string]any{"view": v.object(map[string]any{})}, "", nil
}

// object is the view as Slack shows it, in answers and in payloads, with
// the state given.
func (v View) object(values map[string]any) map[string]any {
	out := map[string]any{}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal([]byte(v.JSON), &fields)
	for k, raw := range fields {
		out[k] = raw
	}
	for k, d := range map[string]any{"close": nil, "submit": nil, "external_id": "", "clear_on_close": false,
		"notify_on_close": false} {
		if _, ok := out[k]; !ok {
			out[k] = d
		}
	}
	out["id"] = v.ID
	out["team_id"] = TeamID
	out["callback_id"] = v.CallbackID
	out["private_metadata"] = v.PrivateMetadata
	out["state"] = map[string]any{"values": values}
	out["hash"] = v.Hash
	out["root_view_id"] = v.ID
	out["previous_view_id"] = nil
	out["app_id"] = AppID
	out["app_installed_team_id"] = TeamID
	out["bot_id"] = BotID
	return out
}

// Submit is the view_submission payload Slack sends when userID submits the
// modal: view.state.values mirrors the view's input blocks, each element's
// value in its real shape (plain_text_input's value, static_select's
// selected_option, checkboxes' and multi_static_select's selected_options,
// users_select's selected_user), with the view's callback_id,
// private_metadata, id and hash. values holds what was entered, by block
// id: text as typed, the options' values, user ids. A block missing from
// values keeps its initial value, as when the user leaves it alone; an
// empty list clears it.
func (v View) Submit(userID string, values map[string][]string) string {
	trigger := fmt.Sprintf("%d.%d.submission", time.Now().UnixNano(), len(values))
	if v.srv != nil {
		trigger = v.srv.Trigger()
	}
	return payload(map[string]any{
		"type":                  "view_submission",
		"team":                  teamJSON(),
		"user":                  payloadUser(userID),
		"api_app_id":            AppID,
		"token":                 VerificationToken,
		"trigger_id":            trigger,
		"view":                  v.object(v.state(values)),
		"response_urls":         []any{},
		"is_enterprise_install": false,
		"enterprise":            nil,
	})
}

// Close is the view_closed payload Slack sends when userID cancels the
// modal (Slack sends it only for a view with notify_on_close).
func (v View) Close(userID string) string {
	return payload(map[string]any{
		"type":                  "view_closed",
		"team":                  teamJSON(),
		"user":                  payloadUser(userID),
		"api_app_id":            AppID,
		"token":                 VerificationToken,
		"view":                  v.object(v.state(nil)),
		"is_cleared":            false,
		"is_enterprise_install": false,
		"enterprise":            nil,
	})
}

// state is view.state.values for the values entered: by block id, by
// action id, the element's state.
func (v View) state(values map[string][]string) map[string]any {
	var blocks []map[string]json.RawMessage
	_ = json.Unmarshal([]byte(v.Blocks), &blocks)
	out := map[string]any{}
	for i, b := range blocks {
		if str(b["type"]) != "input" {
			continue
		}
		var el map[string]json.RawMessage
		if json.Unmarshal(b["element"], &el) != nil {
			continue
		}
		bid, aid := str(b["block_id"]), str(el["action_id"])
		if bid == "" { // Slack names the block itself
			bid = fmt.Sprintf("b%03d", i)
		}
		if aid == "" {
			aid = fmt.Sprintf("a%03d", i)
		}
		vals, given := values[bid]
		out[bid] = map[string]any{aid: elementState(el, vals, given)}
	}
	return out
}

// elementState is one element's entry in view.state.values.
func elementState(el map[string]json.RawMessage, vals []string, given bool) map[string]any {
	typ := str(el["type"])
	st := map[string]any{"type": typ}
	first := func() any {
		if len(vals) == 0 {
			return nil
		}
		return vals[0]
	}
	switch typ {
	case "static_select", "external_select", "radio_buttons":
		switch {
		case !given && el["initial_option"] != nil:
			st["selected_option"] = el["initial_option"]
		case len(vals) > 0:
			st["selected_option"] = option(el, vals[0])
		default:
			st["selected_option"] = nil
		}
	case "multi_static_select", "multi_external_select", "checkboxes":
		sel := []any{}
		if !given {
			for _, o := range objects(el["initial_options"]) {
				sel = append(sel, o)
			}
		}
		for _, val := range vals {
			sel = append(sel, option(el, val))
		}
		st["selected_options"] = sel
	case "users_select":
		if !given && str(el["initial_user"]) != "" {
			st["selected_user"] = str(el["initial_user"])
		} else {
			st["selected_user"] = first()
		}
	case "multi_users_select":
		sel := []string{}
		if !given {
			_ = json.Unmarshal(el["initial_users"], &sel)
		}
		st["selected_users"] = append(sel, vals...)
	case "conversations_select":
		st["selected_conversation"] = first()
	case "channels_select":
		st["selected_channel"] = first()
	case "datepicker":
		st["selected_date"] = first()
	case "timepicker":
		st["selected_time"] = first()
	default: // plain_text_input and the other text inputs
		if !given && str(el["initial_value"]) != "" {
			st["value"] = str(el["initial_value"])
		} else {
			st["value"] = first()
		}
	}
	return st
}

// option is the element's option with the value, as Slack echoes it; a
// value the element does not offer (a forged submission) gets a plain text.
func option(el map[string]json.RawMessage, value string) any {
	opts := objects(el["options"])
	for _, g := range objects(el["option_groups"]) {
		var grp struct {
			Options []json.RawMessage `json:"options"`
		}
		_ = json.Unmarshal(g, &grp)
		opts = append(opts, grp.Options...)
	}
	for _, o := range opts {
		var ov struct {
			Value string `json:"value"`
		}
		if json.Unmarshal(o, &ov) == nil && ov.Value == value {
			return o
		}
	}
	return map[string]any{"text": map[string]any{"type": "plain_text", "text": value, "emoji": true}, "value": value}
}
