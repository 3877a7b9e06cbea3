package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/kredete/herald"
)

// MaxRequestBody is the largest body Verify reads. Slack's slash commands
// and interaction payloads are far smaller; a modal's submission, the
// largest, stays within a few hundred kB.
const MaxRequestBody = 1 << 20

// Errors of the Slack app.
var (
	// ErrBadSignature: the request was not verified as coming from Slack
	// (no or a malformed signature, one no signing secret makes, a stale
	// or future timestamp, a body too large or unreadable).
	ErrBadSignature = errors.New("slack: request not verified as from Slack")
	// ErrBodyTooLarge: the body exceeds MaxRequestBody. It comes with
	// ErrBadSignature (the body was not verified).
	ErrBodyTooLarge = errors.New("slack: request body too large")
	// ErrNoEmail: the Slack member has no email Slack verified for them (a
	// bot, a deactivated member, or no email readable), so Herald cannot
	// tell who they are.
	ErrNoEmail = errors.New("slack: member has no verified email")
	// ErrEmailMismatch: users.lookupByEmail gave another member for the
	// member's email. It comes with ErrNoEmail.
	ErrEmailMismatch = errors.New("slack: member's email belongs to another member")
)

// Slack's limits on modals and their inputs
// (https://docs.slack.dev/reference/views/modal-views).
const (
	maxModalBlocks  = 100
	maxLabel        = 2000
	maxOptionText   = 75
	maxInputValue   = 3000 // plain_text_input's initial_value and max_length
	maxContextText  = 3000
	maxCheckboxOpts = 10
	maxSelectOpts   = 100
	maxIncidentName = 200 // how much of a name a context line shows
)

// App is Herald's Slack app: it verifies and reads what Slack sends to the
// slash command and interactivity URLs, and opens modals.
type App struct {
	c       *Client
	secrets []string
}

// NewApp returns the app for the client's workspace. signingSecrets are the
// app's signing secrets: several during a rotation, any of them verifies.
// Empty ones are ignored; with none, Verify refuses everything.
func NewApp(c *Client, signingSecrets []string) *App {
	a := &App{c: c}
	for _, s := range signingSecrets {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(a.secrets, s) {
			a.secrets = append(a.secrets, s)
		}
	}
	return a
}

// Verify reads the request body (at most MaxRequestBody; more is an error)
// and checks X-Slack-Signature (v0=hex HMAC-SHA256 over
// "v0:"+timestamp+":"+body) against each signing secret, and that
// X-Slack-Request-Timestamp is within 5 minutes of now. It returns the body
// once verified. Every failure wraps ErrBadSignature and says which check
// failed; none echoes a secret or the signature.
func (a *App) Verify(r *http.Request) ([]byte, error) {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrBadSignature, why) }
	if r.Body == nil {
		return nil, bad("no body")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %w", ErrBadSignature, err)
	}
	if len(body) > MaxRequestBody {
		return nil, fmt.Errorf("%w: %w: more than %d bytes", ErrBadSignature, ErrBodyTooLarge, MaxRequestBody)
	}
	if len(a.secrets) == 0 {
		return nil, bad("no signing secret is configured")
	}
	// The headers' checks do not depend on the secret: the first tells.
	if _, err := slackapi.NewSecretsVerifier(r.Header, a.secrets[0]); err != nil {
		switch {
		case errors.Is(err, slackapi.ErrMissingHeaders):
			return nil, bad("missing X-Slack-Signature or X-Slack-Request-Timestamp header")
		case errors.Is(err, slackapi.ErrExpiredTimestamp):
			return nil, bad("X-Slack-Request-Timestamp is more than 5 minutes from now (a replay, or a clock off)")
		case errors.Is(err, slackapi.ErrInvalidSignature):
			return nil, bad("X-Slack-Signature is malformed")
		}
		// A signature that is not hex, a timestamp that is not a number:
		// the parse errors quote the header, so they are not passed on.
		return nil, bad("X-Slack-Signature or X-Slack-Request-Timestamp is malformed")
	}
	for _, secret := range a.secrets {
		sv, err := slackapi.NewSecretsVerifier(r.Header, secret)
		if err != nil {
			return nil, bad("the timestamp expired during verification")
		}
		if _, err := sv.Write(body); err != nil {
			return nil, bad("hashing the body")
		}
		if sv.Ensure() == nil {
			return body, nil
		}
	}
	return nil, bad("the signature matches no signing secret (a wrong secret, or an altered body)")
}

// Command reads a slash command's form-encoded body (as verified by
// Verify).
func (a *App) Command(body []byte) (herald.SlackCommand, error) {
	r, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return herald.SlackCommand{}, fmt.Errorf("slack: reading the slash command: %w", err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sc, err := slackapi.SlashCommandParse(r)
	if err != nil {
		return herald.SlackCommand{}, fmt.Errorf("slack: reading the slash command: %w", err)
	}
	if sc.UserID == "" || sc.Command == "" {
		return herald.SlackCommand{}, errors.New("slack: reading the slash command: no user_id or command")
	}
	return herald.SlackCommand{
		TeamID:      sc.TeamID,
		ChannelID:   sc.ChannelID,
		UserID:      sc.UserID,
		UserName:    sc.UserName,
		Command:     sc.Command,
		Text:        sc.Text,
		TriggerID:   sc.TriggerID,
		ResponseURL: sc.ResponseURL,
	}, nil
}

// Interaction reads an interactivity body (as verified by Verify): the
// form field "payload", JSON. For block_actions it reads the first action
// and the message it is on; for view_submission and view_closed the
// view's callback_id, private_metadata and the values entered, by block id
// (the first element of each block): text as typed (left out when empty),
// the selected options' values, the ticked boxes' values, the chosen user.
func (a *App) Interaction(body []byte) (herald.SlackInteraction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return herald.SlackInteraction{}, fmt.Errorf("slack: reading the interaction: %w", err)
	}
	raw := form.Get("payload")
	if raw == "" {
		return herald.SlackInteraction{}, errors.New("slack: reading the interaction: no payload")
	}
	var ic slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &ic); err != nil {
		return herald.SlackInteraction{}, fmt.Errorf("slack: reading the interaction: %w", err)
	}
	if ic.Type == "" || ic.User.ID == "" {
		return herald.SlackInteraction{}, errors.New("slack: reading the interaction: no type or user")
	}
	in := herald.SlackInteraction{
		Type:        string(ic.Type),
		TeamID:      ic.Team.ID,
		UserID:      ic.User.ID,
		UserName:    firstOf(ic.User.Name, ic.User.Username),
		TriggerID:   ic.TriggerID,
		ResponseURL: ic.ResponseURL,
	}
	if in.TeamID == "" {
		in.TeamID = ic.User.TeamID
	}
	if in.ResponseURL == "" && len(ic.ResponseURLs) > 0 {
		in.ResponseURL = ic.ResponseURLs[0].ResponseURL
	}
	switch ic.Type {
	case slackapi.InteractionTypeBlockActions:
		if acts := ic.ActionCallback.BlockActions; len(acts) > 0 {
			in.ActionID = acts[0].ActionID
			in.Value = firstOf(acts[0].Value, acts[0].SelectedOption.Value)
		}
		in.ChannelID = firstOf(ic.Container.ChannelID, ic.Channel.ID)
		in.MessageTS = firstOf(ic.Container.MessageTs, ic.Message.Timestamp)
		if ic.View.ID != "" { // a button in a modal
			in.CallbackID, in.PrivateMetadata = ic.View.CallbackID, ic.View.PrivateMetadata
		}
	case slackapi.InteractionTypeViewSubmission, slackapi.InteractionTypeViewClosed:
		in.CallbackID, in.PrivateMetadata = ic.View.CallbackID, ic.View.PrivateMetadata
		in.Values = map[string][]string{}
		if ic.View.State != nil {
			for block, actions := range ic.View.State.Values {
				if v := stateValues(actions); len(v) > 0 {
					in.Values[block] = v
				}
			}
		}
	}
	return in, nil
}

// firstOf is the first of its arguments not empty.
func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// stateValues reads one input block's state: the values of its first
// element (by action id, for a block that had several).
func stateValues(actions map[string]slackapi.BlockAction) []string {
	if len(actions) == 0 {
		return nil
	}
	ids := make([]string, 0, len(actions))
	for id := range actions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	act := actions[ids[0]]
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	options := func(opts []slackapi.OptionBlockObject) []string {
		var out []string
		for _, o := range opts {
			if o.Value != "" {
				out = append(out, o.Value)
			}
		}
		return out
	}
	switch act.Type {
	case "static_select", "external_select", "radio_buttons":
		return one(act.SelectedOption.Value)
	case "multi_static_select", "multi_external_select", "checkboxes":
		return options(act.SelectedOptions)
	case "users_select":
		return one(act.SelectedUser)
	case "multi_users_select":
		return slices.DeleteFunc(slices.Clone(act.SelectedUsers), func(s string) bool { return s == "" })
	case "conversations_select":
		return one(act.SelectedConversation)
	case "channels_select":
		return one(act.SelectedChannel)
	case "datepicker":
		return one(act.SelectedDate)
	case "timepicker":
		return one(act.SelectedTime)
	}
	return one(act.Value) // plain_text_input and the other text inputs
}

// MemberEmail maps a Slack member to the email Slack verified for them:
// users.info gives the member's profile email (the token needs
// users:read.email), and users.lookupByEmail must give back the same
// member. A bot, a deactivated member or one without an email gives an
// error wrapping ErrNoEmail; another member found by the email, one
// wrapping ErrNoEmail and ErrEmailMismatch. Slack's own failures come as
// from every other call (*APIError, *comms.TemporaryError).
func (a *App) MemberEmail(ctx context.Context, userID string) (string, error) {
	if userID == "" {
		return "", fmt.Errorf("slack: no member id: %w", ErrNoEmail)
	}
	u, err := a.c.api.GetUserInfoContext(ctx, userID)
	if err != nil {
		return "", a.c.classify("users.info", err)
	}
	switch {
	case u.IsBot || u.ID == "USLACKBOT":
		return "", fmt.Errorf("slack: member %s is a bot: %w", userID, ErrNoEmail)
	case u.Deleted:
		return "", fmt.Errorf("slack: member %s is deactivated: %w", userID, ErrNoEmail)
	}
	email := strings.TrimSpace(u.Profile.Email)
	if email == "" {
		return "", fmt.Errorf("slack: member %s shows no email (does the app have users:read.email?): %w", userID, ErrNoEmail)
	}
	back, err := a.c.api.GetUserByEmailContext(ctx, email)
	if err != nil {
		return "", a.c.classify("users.lookupByEmail", err)
	}
	if back.ID != userID {
		return "", fmt.Errorf("slack: member %s's email finds member %s instead: %w", userID, back.ID, errors.Join(ErrNoEmail, ErrEmailMismatch))
	}
	return email, nil
}

// OpenDeclare opens the declaration modal with the trigger id of a slash
// command or a click (it expires 3 seconds after Slack sent it).
func (a *App) OpenDeclare(ctx context.Context, triggerID string, m herald.SlackDeclareModal) error {
	return a.open(ctx, triggerID, declareView(m))
}

// OpenComposer opens the composer modal for an incident's update.
func (a *App) OpenComposer(ctx context.Context, triggerID string, m herald.SlackComposerModal) error {
	return a.open(ctx, triggerID, composerView(m))
}

func (a *App) open(ctx context.Context, triggerID string, v slackapi.ModalViewRequest) error {
	if triggerID == "" {
		return errors.New("slack: views.open: no trigger id")
	}
	_, err := a.c.api.OpenViewContext(ctx, triggerID, v)
	return a.c.classify("views.open", err)
}

// declareView is the declaration modal: name, impact, each component's
// status (optional), the regulators flag and the first public update; the
// block ids are herald.SlackField* and herald.SlackComponentField, each
// input's action_id its block id.
func declareView(m herald.SlackDeclareModal) slackapi.ModalViewRequest {
	name := plainInput(herald.SlackFieldName, m.Title, herald.MaxNameLen, false)
	name.Placeholder = plain("What is broken, in a few words")
	blocks := []Block{
		input(herald.SlackFieldName, "Name", name),
		input(herald.SlackFieldImpact, "Impact", selectOf(herald.SlackFieldImpact, "Choose the impact",
			[]string{string(herald.ImpactMinor), string(herald.ImpactMajor), string(herald.ImpactCritical)},
			[]string{"Minor", "Major", "Critical"}, string(m.Impact))),
	}
	const fixed = 5 // name, impact, regulators, body, and a note when components are left out
	statuses := []herald.ComponentStatus{herald.DegradedPerformance, herald.PartialOutage, herald.MajorOutage, herald.UnderMaintenance}
	values, labels := make([]string, len(statuses)), make([]string, len(statuses))
	for i, s := range statuses {
		values[i], labels[i] = string(s), s.Label()
	}
	comps := m.Components
	var left []herald.Component
	if room := maxModalBlocks - fixed; len(comps) > room {
		comps, left = comps[:room], comps[room:]
	}
	for _, c := range comps {
		id := herald.SlackComponentField(c.ID)
		label := strings.TrimSpace(c.Name)
		if label == "" {
			label = c.ID
		}
		b := input(id, label, selectOf(id, "Not affected", values, labels, ""))
		b.Hint = plain("Leave empty if it is not affected")
		blocks = append(blocks, b.WithOptional(true))
	}
	if len(left) > 0 {
		blocks = append(blocks, slackapi.NewContextBlock("", md(fmt.Sprintf(
			"_%d more components do not fit in Slack's form: set their status in Herald's console._", len(left)))))
	}
	regulators := slackapi.NewCheckboxGroupsBlockElement(herald.SlackFieldRegulators,
		slackapi.NewOptionBlockObject("yes", plain("Regulators must be notified"), nil))
	blocks = append(blocks,
		input(herald.SlackFieldRegulators, "Regulators", regulators).WithOptional(true),
		input(herald.SlackFieldBody, "First public update", plainInput(herald.SlackFieldBody, m.Body, maxInputValue, true)),
	)
	return slackapi.ModalViewRequest{
		Type:            slackapi.VTModal,
		Title:           plain("Declare an incident"),
		Submit:          plain("Declare"),
		Close:           plain("Cancel"),
		CallbackID:      herald.SlackDeclareCallback,
		PrivateMetadata: herald.SlackModalMeta{ChannelID: m.ChannelID}.Encode(),
		Blocks:          slackapi.Blocks{BlockSet: blocks},
	}
}

// composerView is the composer modal: the incident named in a context
// line, then status, the update's text and the audiences to send it to;
// the block ids are herald.SlackFieldStatus, SlackFieldMain and
// SlackFieldAudiences, each input's action_id its block id.
//
// Slack's inputs hold at most 3,000 characters, fewer than the domain's
// herald.MaxBodyLen: a longer update is written in the console.
func composerView(m herald.SlackComposerModal) slackapi.ModalViewRequest {
	in := m.Incident
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = "Untitled " + string(in.Kind)
	}
	if in.Drill {
		name = herald.DrillMarker + " " + name
	}
	line := "*" + Escape(truncate(name, maxIncidentName)) + "*"
	if in.ID != "" {
		line += " `" + Escape(in.ID) + "`"
	}
	line += " · " + Escape(in.Status.Label())
	if in.Kind != herald.KindMaintenance && in.Impact != "" {
		line += " · " + Escape(in.Impact.Label()) + " impact"
	}
	blocks := []Block{slackapi.NewContextBlock("incident", md(truncate(line, maxContextText)))}

	kinds := in.Kind.Statuses()
	values, labels := make([]string, len(kinds)), make([]string, len(kinds))
	for i, s := range kinds {
		values[i], labels[i] = string(s), s.Label()
	}
	blocks = append(blocks,
		input(herald.SlackFieldStatus, "Status", selectOf(herald.SlackFieldStatus, "Choose the status", values, labels, string(m.Status))),
		input(herald.SlackFieldMain, "Update", plainInput(herald.SlackFieldMain, m.Main, maxInputValue, true)),
	)
	if el := audiences(m.Audiences, m.Ticked); el != nil {
		blocks = append(blocks, input(herald.SlackFieldAudiences, "Send to", el).WithOptional(true))
	}
	return slackapi.ModalViewRequest{
		Type:       slackapi.VTModal,
		Title:      plain("Post an update"),
		Submit:     plain("Post"),
		Close:      plain("Cancel"),
		CallbackID: herald.SlackComposerCallback,
		PrivateMetadata: herald.SlackModalMeta{
			IncidentID: in.ID, Version: in.Version, ChannelID: m.ChannelID, MessageTS: m.MessageTS,
		}.Encode(),
		Blocks: slackapi.Blocks{BlockSet: blocks},
	}
}

// audiences is the composer's audience picker: checkboxes (Slack allows
// ten), or a multi-select for a longer plan; nil without audiences.
func audiences(auds []herald.Audience, ticked []string) slackapi.BlockElement {
	var opts, initial []*slackapi.OptionBlockObject
	for _, a := range auds {
		if a.Key == "" {
			continue
		}
		name := strings.TrimSpace(a.Name)
		if name == "" {
			name = a.Key
		}
		var desc []string
		switch {
		case strings.TrimSpace(a.Description) != "":
			desc = append(desc, strings.TrimSpace(a.Description))
		case len(a.Channels) > 0:
			chans := make([]string, len(a.Channels))
			for i, c := range a.Channels {
				chans[i] = strings.ReplaceAll(string(c), "_", " ")
			}
			desc = append(desc, strings.Join(chans, ", "))
		}
		if a.Cadence.Kind != "" {
			desc = append(desc, a.Cadence.String())
		}
		o := slackapi.NewOptionBlockObject(a.Key, plain(truncate(name, maxOptionText)), nil)
		if len(desc) > 0 {
			o.Description = plain(truncate(strings.Join(desc, " · "), maxOptionText))
		}
		opts = append(opts, o)
		if slices.Contains(ticked, a.Key) {
			initial = append(initial, o)
		}
	}
	switch {
	case len(opts) == 0:
		return nil
	case len(opts) <= maxCheckboxOpts:
		el := slackapi.NewCheckboxGroupsBlockElement(herald.SlackFieldAudiences, opts...)
		el.InitialOptions = initial
		return el
	}
	if len(opts) > maxSelectOpts {
		opts = opts[:maxSelectOpts]
		initial = slices.DeleteFunc(initial, func(o *slackapi.OptionBlockObject) bool { return !slices.Contains(opts, o) })
	}
	el := slackapi.NewOptionsMultiSelectBlockElement(slackapi.MultiOptTypeStatic, plain("Choose the audiences"),
		herald.SlackFieldAudiences, opts...)
	el.InitialOptions = initial
	return el
}

// input is an input block whose label is plain text (so user text in it
// needs no escaping), within Slack's 2,000 characters.
func input(blockID, label string, el slackapi.BlockElement) *slackapi.InputBlock {
	return slackapi.NewInputBlock(blockID, plain(truncate(label, maxLabel)), nil, el)
}

// plainInput is a text input prefilled with initial, within maxLen (at
// most Slack's 3,000).
func plainInput(actionID, initial string, maxLen int, multiline bool) *slackapi.PlainTextInputBlockElement {
	maxLen = min(maxLen, maxInputValue)
	el := slackapi.NewPlainTextInputBlockElement(nil, actionID)
	el.Multiline = multiline
	el.MaxLength = maxLen
	el.InitialValue = truncate(strings.TrimSpace(initial), maxLen)
	return el
}

// selectOf is a single static select of values with their labels, the
// option with the value initial (if any) preselected.
func selectOf(actionID, placeholder string, values, labels []string, initial string) *slackapi.SelectBlockElement {
	opts := make([]*slackapi.OptionBlockObject, len(values))
	var chosen *slackapi.OptionBlockObject
	for i, v := range values {
		opts[i] = slackapi.NewOptionBlockObject(v, plain(truncate(labels[i], maxOptionText)), nil)
		if v == initial && initial != "" {
			chosen = opts[i]
		}
	}
	el := slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeStatic, plain(placeholder), actionID, opts...)
	el.InitialOption = chosen
	return el
}

// UpdateMessage replaces a message Herald posted (a reminder whose button
// was used) with text: its buttons go, so nobody answers it twice, and
// what was done stays visible ("Snoozed by … until …"). text is plain
// text, escaped here.
func (a *App) UpdateMessage(ctx context.Context, channelID, ts, text string) error {
	fb, blocks := EventBlocks(text)
	_, _, _, err := a.c.api.UpdateMessageContext(ctx, channelID, ts,
		slackapi.MsgOptionText(fallback(fb), false), slackapi.MsgOptionBlocks(blocks...))
	return a.c.classify("chat.update", err)
}

// Ephemeral shows text (plain, escaped here) to one member in a channel:
// the answer to a button whose use was refused.
func (a *App) Ephemeral(ctx context.Context, channelID, userID, text string) error {
	fb, blocks := EventBlocks(text)
	_, err := a.c.api.PostEphemeralContext(ctx, channelID, userID, slackapi.MsgOptionText(fallback(fb), false),
		slackapi.MsgOptionBlocks(blocks...))
	return a.c.classify("chat.postEphemeral", err)
}

// OpenRefuse opens the refusal modal of a failover action: why it is
// refused (required, as in the console).
func (a *App) OpenRefuse(ctx context.Context, triggerID string, m herald.SlackRefuseModal) error {
	return a.open(ctx, triggerID, refuseView(m))
}

func refuseView(m herald.SlackRefuseModal) slackapi.ModalViewRequest {
	what := "*" + Escape(truncate(m.ActionName, 200)) + "*"
	if m.Incident != "" {
		what += " for " + Escape(truncate(m.Incident, 200))
	}
	note := plainInput(herald.SlackFieldNote, "", herald.MaxReasonLen, true)
	note.Placeholder = plain("Why is it refused? The requester and the commander read this.")
	return slackapi.ModalViewRequest{
		Type:            slackapi.VTModal,
		Title:           plain("Refuse the action"),
		Submit:          plain("Refuse"),
		Close:           plain("Cancel"),
		CallbackID:      herald.SlackRefuseCallback,
		PrivateMetadata: herald.SlackModalMeta{ActionID: m.ActionID, ChannelID: m.ChannelID, MessageTS: m.MessageTS}.Encode(),
		Blocks: slackapi.Blocks{BlockSet: []Block{
			slackapi.NewSectionBlock(md("Refuse "+what+"?"), nil, nil),
			input(herald.SlackFieldNote, "Reason", note),
		}},
	}
}
