package herald

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Slack's slash command and interactivity, as Herald's handlers see them:
// the Slack adapter (comms/slack) reads Slack's payloads into these types
// and builds Slack's modals from the modal specs below; the handlers act
// through the same domain and store code as the console, with the same
// permissions.

// SlackCommand is one /incident invocation.
type SlackCommand struct {
	TeamID      string
	ChannelID   string
	UserID      string // the Slack member who typed it
	UserName    string
	Command     string // "/incident"
	Text        string // what follows the command
	TriggerID   string // opens a modal within 3 seconds
	ResponseURL string
}

// Interaction types.
const (
	SlackBlockActions   = "block_actions"
	SlackViewSubmission = "view_submission"
	SlackViewClosed     = "view_closed"
)

// SlackInteraction is one click on a button or one modal submitted.
type SlackInteraction struct {
	Type        string // SlackBlockActions, SlackViewSubmission, SlackViewClosed
	TeamID      string
	UserID      string
	UserName    string
	TriggerID   string
	ResponseURL string
	// A button: the message it is on, its action_id and value.
	ChannelID string
	MessageTS string
	ActionID  string
	Value     string
	// A modal: its callback_id, its private_metadata (what Herald put in
	// it when opening it), and the values entered, by block id: text as
	// typed, the selected options' values, the ticked boxes' values.
	CallbackID      string
	PrivateMetadata string
	Values          map[string][]string
}

// Value1 returns a modal's single value for a block ("" when none).
func (i SlackInteraction) Value1(block string) string {
	if v := i.Values[block]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// The verbs of /incident.
const (
	VerbDeclare   = "declare"
	VerbUpdate    = "update"
	VerbStatus    = "status"
	VerbResolve   = "resolve"
	VerbCommander = "commander"
	VerbList      = "list"
	VerbHelp      = "help"
)

// IncidentCommand is /incident's text, read.
type IncidentCommand struct {
	Verb string
	// Title is what follows "declare" (may be empty).
	Title string
	// IncidentID names the incident for update, status, resolve and
	// commander; empty means the one open incident.
	IncidentID string
	// UserID is the Slack member named by "commander @someone".
	UserID string
}

// mention is Slack's escaped user mention: <@U123> or <@U123|name>.
var mention = regexp.MustCompile(`^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$`)

// incidentRef is an incident id as Herald writes them (lower-case letters
// and digits), optionally with a leading #.
var incidentRef = regexp.MustCompile(`^#?([a-z0-9]{6,40})$`)

// ParseIncidentCommand reads /incident's text. An empty text is help. The
// error says what is wrong in words for the person who typed it.
func ParseIncidentCommand(text string) (IncidentCommand, error) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return IncidentCommand{Verb: VerbHelp}, nil
	}
	verb := strings.ToLower(fields[0])
	args := fields[1:]
	c := IncidentCommand{Verb: verb}
	ref := func(args []string) error {
		if len(args) == 0 {
			return nil
		}
		if len(args) > 1 {
			return fmt.Errorf("`/incident %s` takes at most an incident id, not %q", verb, strings.Join(args, " "))
		}
		m := incidentRef.FindStringSubmatch(strings.ToLower(args[0]))
		if m == nil {
			return fmt.Errorf("%q is not an incident id (see `/incident list`)", args[0])
		}
		c.IncidentID = m[1]
		return nil
	}
	switch verb {
	case VerbDeclare:
		c.Title = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), fields[0]))
		if len([]rune(c.Title)) > MaxNameLen {
			return c, fmt.Errorf("the title is longer than %d characters", MaxNameLen)
		}
		return c, nil
	case VerbUpdate, VerbStatus, VerbResolve:
		return c, ref(args)
	case VerbCommander:
		if len(args) == 0 {
			return c, fmt.Errorf("name the new commander: `/incident commander @someone`")
		}
		m := mention.FindStringSubmatch(args[0])
		if m == nil && strings.HasPrefix(args[0], "@") {
			return c, fmt.Errorf("Slack sent %q as plain text: the app's /incident command needs \"Escape channels, users, and links sent to your app\" turned on (ask a Slack admin)", args[0])
		}
		if m == nil {
			return c, fmt.Errorf("%q is not a Slack member: mention them, as in `/incident commander @someone`", args[0])
		}
		c.UserID = m[1]
		return c, ref(args[1:])
	case VerbList, VerbHelp:
		if len(args) > 0 {
			return c, fmt.Errorf("`/incident %s` takes nothing more", verb)
		}
		return c, nil
	}
	return c, fmt.Errorf("unknown command %q: try `/incident help`", fields[0])
}

// SlackHelp is /incident help's text (Slack mrkdwn).
const SlackHelp = "*Herald: `/incident`*\n" +
	"• `/incident declare [title]`: declare an incident (opens a form)\n" +
	"• `/incident update [id]`: post an update to the audiences you choose (opens the composer)\n" +
	"• `/incident status [id]`: the incident's status, commander and what is owed next (only you see it)\n" +
	"• `/incident resolve [id]`: resolve it (opens the composer with *Resolved* chosen)\n" +
	"• `/incident commander @someone [id]`: hand over command\n" +
	"• `/incident list`: the open incidents\n" +
	"Without an id, the command applies to the one open incident; with several open, name one."

// Modal callback ids, and the block ids of their fields (the same names as
// the console form's fields and the domain's validation errors, so a
// problem is shown next to its field).
const (
	SlackDeclareCallback  = "herald_declare"
	SlackComposerCallback = "herald_compose"

	SlackFieldName       = "name"
	SlackFieldImpact     = "impact"
	SlackFieldComponents = "components"
	SlackFieldRegulators = "regulators"
	SlackFieldBody       = "body"
	SlackFieldStatus     = "status"
	SlackFieldMain       = "main"
	SlackFieldAudiences  = "audiences"
)

// SlackDeclareModal is what the declaration modal offers.
type SlackDeclareModal struct {
	Title      string // prefilled from /incident declare [title]
	Body       string // the first update, prefilled from the template
	Impact     Impact // preselected
	Components []Component
	// ChannelID is where the command was typed: the answer goes there.
	ChannelID string
}

// SlackComposerModal is what the composer modal offers for one incident.
type SlackComposerModal struct {
	Incident  Incident
	Status    Status // preselected (Resolved for /incident resolve)
	Main      string // prefilled from the status's template
	Audiences []Audience
	Ticked    []string // audience keys ticked
	ChannelID string
	// MessageTS is the reminder whose button opened it, in ChannelID: its
	// buttons are replaced once the update is posted.
	MessageTS string
}

// SlackModalMeta is what Herald keeps in a modal's private_metadata: the
// incident a composer is for and the version it was opened at (a stale
// submission is refused, as the console refuses a stale form), and the
// channel the command came from.
type SlackModalMeta struct {
	IncidentID string `json:"incident_id,omitempty"`
	Version    int    `json:"version,omitempty"`
	ChannelID  string `json:"channel_id,omitempty"`
	ActionID   string `json:"action_id,omitempty"`  // a refusal: the failover action
	MessageTS  string `json:"message_ts,omitempty"` // a refusal: its approval request
}

// Encode writes the metadata for private_metadata (at most 3,000
// characters; these few fields are far below).
func (m SlackModalMeta) Encode() string {
	b, _ := json.Marshal(m) //nolint:errcheck // strings and an int always marshal
	return string(b)
}

// DecodeSlackModalMeta reads private_metadata back.
func DecodeSlackModalMeta(s string) (SlackModalMeta, error) {
	var m SlackModalMeta
	if s == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, fmt.Errorf("the form's metadata is unreadable: %w", err)
	}
	return m, nil
}

// SlackComponentField is the block id of a component's status in the
// declaration modal.
func SlackComponentField(componentID string) string { return "component_" + componentID }

// The action ids of Herald's buttons in Slack. A reminder's buttons carry
// the obligation's key (snooze, acknowledge) or the incident's id and the
// audience owed, "id|audience" (post an update).
const (
	SlackActionPostUpdate = "herald_post_update"
	SlackActionSnooze     = "herald_snooze"
	SlackActionAck        = "herald_ack"
	// A gated failover action's approval request carries the action's
	// id: Approve decides at once; Refuse asks why in a modal.
	SlackActionApprove = "herald_approve"
	SlackActionRefuse  = "herald_refuse"
	// SlackRefuseCallback is the refusal modal; SlackFieldNote its reason.
	SlackRefuseCallback = "herald_refuse"
	SlackFieldNote      = "note"
)

// SlackRefuseModal asks an approver why a failover action is refused.
type SlackRefuseModal struct {
	ActionID   string
	ActionName string
	Incident   string // the incident's name
	// Where the approval request is, so its buttons can be replaced.
	ChannelID, MessageTS string
}

// ApprovalActionID reads the failover action a delivery asks approval
// for, from its key (the engine's "<incident>/action/<id>/approval/...").
func ApprovalActionID(key string) (string, bool) {
	_, rest, ok := strings.Cut(key, "/action/")
	if !ok {
		return "", false
	}
	id, stage, ok := strings.Cut(rest, "/")
	if !ok || id == "" || !strings.HasPrefix(stage, "approval/") {
		return "", false
	}
	return id, true
}

// slackMember is a Slack member id: U… or W…, capitals and digits.
var slackMember = regexp.MustCompile(`^[UW][A-Z0-9]{2,30}$`)

// IsSlackMemberID reports whether s is a Slack member id (not an email,
// nor the mark of a link removed by an admin).
func IsSlackMemberID(s string) bool { return slackMember.MatchString(s) }

// SlackUnlinked is the mark an admin's unlinking leaves on a user: no
// Slack member acts as them, and none is linked again by its email.
func SlackUnlinked(userID string) string { return "-" + userID }

// SlackLinkOf is the member a user is linked to, "" when none (or
// unlinked).
func SlackLinkOf(u User) string {
	if IsSlackMemberID(u.SlackUserID) {
		return u.SlackUserID
	}
	return ""
}
