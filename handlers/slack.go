package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// SlackApp is Herald's Slack app as the handlers see it (comms/slack.App):
// it verifies and reads what Slack sends, and opens modals.
type SlackApp interface {
	// Verify checks the request's signature and age and returns its body;
	// any failure means the request is not Slack's.
	Verify(r *http.Request) ([]byte, error)
	Command(body []byte) (herald.SlackCommand, error)
	Interaction(body []byte) (herald.SlackInteraction, error)
	// MemberEmail is the email Slack verified for a member.
	MemberEmail(ctx context.Context, userID string) (string, error)
	OpenDeclare(ctx context.Context, triggerID string, m herald.SlackDeclareModal) error
	OpenComposer(ctx context.Context, triggerID string, m herald.SlackComposerModal) error
	// UpdateMessage replaces a message Herald posted (its buttons go) with
	// text; Ephemeral shows text to one member.
	OpenRefuse(ctx context.Context, triggerID string, m herald.SlackRefuseModal) error
	UpdateMessage(ctx context.Context, channelID, ts, text string) error
	Ephemeral(ctx context.Context, channelID, userID, text string) error
}

// SlackStore links Slack members to users and remembers what Slack sent
// (the store).
type SlackStore interface {
	UserBySlackID(ctx context.Context, slackUserID string) (herald.User, error)
	LinkSlackUser(ctx context.Context, userID, slackUserID, actor string) (herald.User, error)
	// ClaimOnce records key and reports whether it was new: a request
	// Slack delivers again is handled once.
	ClaimOnce(ctx context.Context, key string) (bool, error)
	ReleaseClaim(ctx context.Context, key string) error
	RecordReminderResponse(ctx context.Context, r herald.ReminderResponse, summary, once string) (bool, error)
	ReminderResponses(ctx context.Context, incidentIDs []string) ([]herald.ReminderResponse, error)
}

// slackAnswer is the JSON Slack reads from a slash command's response: a
// message only the sender sees.
type slackAnswer struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func ephemeral(w http.ResponseWriter, text string) error {
	writeJSON(w, http.StatusOK, slackAnswer{ResponseType: "ephemeral", Text: text})
	return nil
}

// mrkdwnEscape makes text safe in Slack's mrkdwn: no mention, no link
// disguise.
func mrkdwnEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackVerified reads a request Slack signed; anything else is 401 and
// changes nothing. A request Slack delivers again (X-Slack-Retry-Num)
// after Herald took it (the same trigger) is answered and ignored.
func (s *Server) slackVerified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if s.slack == nil || s.slackStore == nil {
		http.Error(w, "Slack is not configured on this Herald", http.StatusNotFound)
		return nil, false
	}
	body, err := s.slack.Verify(r)
	if err != nil {
		s.log.Warn("Slack request refused", "path", r.URL.Path, "reason", err.Error(), "request_id", requestID(r.Context()))
		http.Error(w, "the request is not signed by Slack", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// firstTime claims a Slack trigger (unique per command or click) and
// reports whether it is new. release forgets the claim: called when the
// handling fails, so that Slack's retry is handled rather than ignored.
func (s *Server) firstTime(ctx context.Context, r *http.Request, trigger string) (first bool, release func(), err error) {
	release = func() {}
	if trigger == "" {
		return true, release, nil
	}
	key := "slack/trigger/" + trigger
	first, err = s.slackStore.ClaimOnce(ctx, key)
	if err != nil {
		return false, release, err
	}
	if !first {
		s.log.Info("Slack delivered a request again; already handled", "retry", r.Header.Get("X-Slack-Retry-Num"))
		return false, release, nil
	}
	return true, func() {
		// The request's context may be what ran out: release apart.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := s.slackStore.ReleaseClaim(rctx, key); err != nil {
			s.log.Error("Slack: release a failed request's claim", "error", err)
		}
	}, nil
}

// slackUser is the Herald user behind a Slack member: the one linked, or
// the one with the email Slack verified for the member (then linked). why
// says, for the member, why there is none.
func (s *Server) slackUser(ctx context.Context, slackUserID string) (u herald.User, why string, err error) {
	u, err = s.slackStore.UserBySlackID(ctx, slackUserID)
	if err == nil {
		if u.Disabled {
			return u, "Your Herald account is disabled.", nil
		}
		return u, "", nil
	}
	if !errors.Is(err, herald.ErrNotFound) {
		return u, "", err
	}
	email, err := s.slack.MemberEmail(ctx, slackUserID)
	if err != nil {
		s.log.Info("Slack member not mapped to a user", "slack_user_id", slackUserID, "reason", err.Error())
		return u, "Herald cannot read the email of your Slack account, so it cannot tell who you are. " +
			"Ask a Herald admin to link your Slack account on the console's Users page.", nil
	}
	u, _, err = s.console.UserByEmail(ctx, email)
	if errors.Is(err, herald.ErrNotFound) {
		return u, fmt.Sprintf("No Herald user has the email of your Slack account (%s). Ask a Herald admin to add you, "+
			"or to link your Slack account on the console's Users page.", mrkdwnEscape(email)), nil
	}
	if err != nil {
		return u, "", err
	}
	if u.Disabled {
		return u, "Your Herald account is disabled.", nil
	}
	if u.SlackUserID != "" {
		// Linked to another member, or unlinked by an admin: an email
		// never overrides an admin's choice.
		return u, "The Herald account with your Slack email is linked to another Slack member, or an admin unlinked it. " +
			"Ask a Herald admin to link your Slack account on the console's Users page.", nil
	}
	u, err = s.slackStore.LinkSlackUser(ctx, u.ID, slackUserID, "slack (verified email of "+slackUserID+")")
	return u, "", err
}

// slackCommand answers /incident.
func (s *Server) slackCommand(w http.ResponseWriter, r *http.Request) (err error) {
	body, ok := s.slackVerified(w, r)
	if !ok {
		return nil
	}
	cmd, err := s.slack.Command(body)
	if err != nil {
		return badRequest("the slash command could not be read")
	}
	ctx := r.Context()
	first, release, err := s.firstTime(ctx, r, cmd.TriggerID)
	if err != nil {
		return err
	}
	if !first {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	ic, perr := herald.ParseIncidentCommand(cmd.Text)
	if perr != nil {
		return ephemeral(w, mrkdwnEscape(perr.Error())+"\n\n"+herald.SlackHelp)
	}
	if ic.Verb == herald.VerbHelp {
		return ephemeral(w, herald.SlackHelp)
	}
	user, why, err := s.slackUser(ctx, cmd.UserID)
	if err != nil {
		return err
	}
	if why != "" {
		return ephemeral(w, why+" Nothing was changed.")
	}
	need := herald.PermManageIncidents
	if ic.Verb == herald.VerbList || ic.Verb == herald.VerbStatus {
		need = herald.PermReadConsole
	}
	if !user.Role.Can(need) {
		return ephemeral(w, fmt.Sprintf("Your Herald role (%s) cannot %s. Ask a Herald admin for a role that may (commander, or viewer to read). Nothing was changed.",
			user.Role, verbWhat(ic.Verb)))
	}
	switch ic.Verb {
	case herald.VerbList:
		return s.slackList(ctx, w)
	case herald.VerbDeclare:
		comps, err := s.console.Components(ctx)
		if err != nil {
			return err
		}
		m := herald.SlackDeclareModal{Title: ic.Title, Impact: herald.ImpactMajor, Components: comps, ChannelID: cmd.ChannelID,
			Body: herald.Fill(s.template(herald.Investigating), ic.Title, "", s.nextUpdateText(s.now()))}
		if err := s.slack.OpenDeclare(ctx, cmd.TriggerID, m); err != nil {
			s.log.Error("Slack: open the declaration form", "error", err)
			return ephemeral(w, "Slack did not open the form ("+mrkdwnEscape(err.Error())+"). Try again, or declare in the console.")
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	in, why, err := s.slackIncident(ctx, ic.IncidentID)
	if err != nil {
		return err
	}
	if why != "" {
		return ephemeral(w, why)
	}
	switch ic.Verb {
	case herald.VerbStatus:
		return ephemeral(w, s.slackStatusText(ctx, in))
	case herald.VerbUpdate, herald.VerbResolve:
		if !in.Open() {
			return ephemeral(w, fmt.Sprintf("*%s* is %s. Reopen it in the console to post again. Nothing was changed.",
				mrkdwnEscape(in.Name), strings.ToLower(in.Status.Label())))
		}
		st := in.Status
		if ic.Verb == herald.VerbResolve {
			st = herald.Resolved
			if in.Kind == herald.KindMaintenance {
				st = herald.Completed
			}
		}
		comps, err := s.console.Components(ctx)
		if err != nil {
			return err
		}
		m := herald.SlackComposerModal{Incident: in, Status: st, Audiences: s.plan.Audiences, Ticked: s.declareAudiences(),
			ChannelID: cmd.ChannelID,
			Main:      herald.Fill(s.template(st), in.Name, names(in.ComponentIDs, componentsByID(comps)), s.nextUpdateText(s.now()))}
		if err := s.slack.OpenComposer(ctx, cmd.TriggerID, m); err != nil {
			s.log.Error("Slack: open the composer", "error", err)
			return ephemeral(w, "Slack did not open the form ("+mrkdwnEscape(err.Error())+"). Try again, or post in the console.")
		}
		w.WriteHeader(http.StatusOK)
		return nil
	case herald.VerbCommander:
		return s.slackCommander(ctx, w, user, in, ic.UserID)
	}
	return ephemeral(w, herald.SlackHelp)
}

func verbWhat(verb string) string {
	switch verb {
	case herald.VerbList, herald.VerbStatus:
		return "read incidents"
	case herald.VerbDeclare:
		return "declare incidents"
	case herald.VerbCommander:
		return "assign roles"
	}
	return "post updates"
}

// slackIncident finds the incident a command names, or the one open
// incident; why says what to do when there is none or several.
func (s *Server) slackIncident(ctx context.Context, id string) (herald.Incident, string, error) {
	if id != "" {
		in, err := s.console.Incident(ctx, id)
		if errors.Is(err, herald.ErrNotFound) || err == nil && in.Drill {
			return in, fmt.Sprintf("There is no incident %s. See `/incident list`.", mrkdwnEscape(id)), nil
		}
		return in, "", err
	}
	open, err := s.openIncidents(ctx)
	if err != nil {
		return herald.Incident{}, "", err
	}
	switch len(open) {
	case 0:
		return herald.Incident{}, "No incident is open. `/incident declare` opens one.", nil
	case 1:
		return open[0], "", nil
	}
	var b strings.Builder
	b.WriteString("Several incidents are open; name one:\n")
	for _, in := range open {
		fmt.Fprintf(&b, "• `%s` %s\n", in.ID, mrkdwnEscape(in.Name))
	}
	return herald.Incident{}, b.String(), nil
}

// openIncidents are the open incidents, not maintenance or drills.
func (s *Server) openIncidents(ctx context.Context) ([]herald.Incident, error) {
	all, err := s.console.OpenIncidents(ctx)
	if err != nil {
		return nil, err
	}
	var out []herald.Incident
	for _, in := range all {
		if in.Kind == herald.KindIncident && !in.Drill {
			out = append(out, in)
		}
	}
	return out, nil
}

func (s *Server) slackList(ctx context.Context, w http.ResponseWriter) error {
	open, err := s.openIncidents(ctx)
	if err != nil {
		return err
	}
	if len(open) == 0 {
		return ephemeral(w, "No incident is open.")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d open incident(s)*\n", len(open))
	for _, in := range open {
		fmt.Fprintf(&b, "• `%s` <%s|%s>: %s, %s impact, since %s\n", in.ID, s.consoleLink(in.ID), mrkdwnEscape(in.Name),
			in.Status.Label(), in.Impact.Label(), in.StartedAt.In(s.loc).Format("15:04 MST"))
	}
	return ephemeral(w, b.String())
}

func (s *Server) consoleLink(id string) string {
	return strings.TrimRight(s.publicURL, "/") + "/console/incidents/" + id
}

func (s *Server) slackStatusText(ctx context.Context, in herald.Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*<%s|%s>* (`%s`)\n", s.consoleLink(in.ID), mrkdwnEscape(in.Name), in.ID)
	fmt.Fprintf(&b, "Status: *%s* · Impact: *%s* · Started %s\n", in.Status.Label(), in.Impact.Label(),
		in.StartedAt.In(s.loc).Format("2 Jan 15:04 MST"))
	if roles, err := s.console.Assignments(ctx, in.ID); err == nil {
		if c, ok := roles[herald.SeatCommander]; ok && c.UserName != "" {
			fmt.Fprintf(&b, "Commander: %s\n", mrkdwnEscape(c.UserName))
		} else {
			b.WriteString("Commander: nobody yet (`/incident commander @someone`)\n")
		}
	}
	told, err1 := s.console.Communications(ctx, []string{in.ID})
	reports, err2 := s.console.RegulatorReports(ctx, []string{in.ID})
	if err1 == nil && err2 == nil {
		for _, ob := range herald.Obligations(s.plan, in, told, reports) {
			a, _ := s.plan.AudienceByKey(ob.Audience)
			state := "due " + ob.Due.In(s.loc).Format("15:04 MST")
			if !s.now().Before(ob.Due) {
				state = "*OVERDUE* since " + ob.Due.In(s.loc).Format("15:04 MST")
			}
			fmt.Fprintf(&b, "Owed: %s, %s\n", mrkdwnEscape(ob.Describe(a, s.loc)), state)
		}
	}
	if len(in.Updates) > 0 {
		last := in.Updates[0] // newest first
		fmt.Fprintf(&b, "Last public update %s: %s", last.CreatedAt.In(s.loc).Format("15:04 MST"), mrkdwnEscape(truncateRunes(last.Body, 300)))
	}
	return b.String()
}

func truncateRunes(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

// slackCommander hands over command to the member named.
func (s *Server) slackCommander(ctx context.Context, w http.ResponseWriter, by herald.User, in herald.Incident, memberID string) error {
	target, why, err := s.slackUser(ctx, memberID)
	if err != nil {
		return err
	}
	if why != "" {
		return ephemeral(w, fmt.Sprintf("<@%s> cannot be made commander: Herald does not know them as a user. Ask a Herald admin to add them. Nothing was changed.", memberID))
	}
	if !target.Role.Can(herald.PermManageIncidents) {
		return ephemeral(w, fmt.Sprintf("<@%s>'s Herald role (%s) cannot command an incident. Nothing was changed.", memberID, target.Role))
	}
	if _, err := s.console.AssignRole(ctx, in.ID, 0, herald.SeatCommander, target.ID, actorName(by)); err != nil {
		if fe := formErrors(err); fe != nil || errors.Is(err, herald.ErrClosed) {
			return ephemeral(w, mrkdwnEscape(trimPrefix(err))+" Nothing was changed.")
		}
		return err
	}
	s.refresh(ctx)
	return ephemeral(w, fmt.Sprintf("<@%s> is now the commander of *%s*.", memberID, mrkdwnEscape(in.Name)))
}

// viewErrors is Slack's answer to a modal submission with problems: each
// shown under its field, the modal kept open with what was typed.
type viewErrors struct {
	ResponseAction string            `json:"response_action"`
	Errors         map[string]string `json:"errors"`
}

// slackInteraction handles buttons and modal submissions.
func (s *Server) slackInteraction(w http.ResponseWriter, r *http.Request) (err error) {
	body, ok := s.slackVerified(w, r)
	if !ok {
		return nil
	}
	in, err := s.slack.Interaction(body)
	if err != nil {
		return badRequest("the interaction could not be read")
	}
	ctx := r.Context()
	if in.Type == herald.SlackViewClosed {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	first, release, err := s.firstTime(ctx, r, in.TriggerID)
	if err != nil {
		return err
	}
	if !first {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	user, why, err := s.slackUser(ctx, in.UserID)
	if err != nil {
		return err
	}
	switch in.Type {
	case herald.SlackViewSubmission:
		if why != "" {
			return s.viewProblem(w, in, why+" Nothing was changed.")
		}
		if in.CallbackID == herald.SlackRefuseCallback {
			return s.slackRefuse(ctx, w, user, in)
		}
		if !user.Role.Can(herald.PermManageIncidents) {
			return s.viewProblem(w, in, fmt.Sprintf("Your Herald role (%s) cannot change incidents. Nothing was changed.", user.Role))
		}
		switch in.CallbackID {
		case herald.SlackDeclareCallback:
			return s.slackDeclare(ctx, w, user, in)
		case herald.SlackComposerCallback:
			return s.slackCompose(ctx, w, user, in)
		}
		return badRequest("unknown form " + in.CallbackID)
	}
	// Buttons: "Open in Herald" is a link; Slack still tells the app.
	switch in.ActionID {
	case herald.SlackActionPostUpdate, herald.SlackActionSnooze, herald.SlackActionAck:
		if err := s.reminderButton(ctx, user, why, in); err != nil {
			return err
		}
	case herald.SlackActionApprove, herald.SlackActionRefuse:
		if err := s.approvalButton(ctx, user, why, in); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// reminderButton answers a reminder's button. What is refused is said to
// the member alone and changes nothing; what is done replaces the
// reminder's buttons with who did what, and when.
func (s *Server) reminderButton(ctx context.Context, user herald.User, why string, in herald.SlackInteraction) error {
	refuse := func(text string) error { return s.tellMember(ctx, in, text) }
	if why != "" {
		return refuse(why + " Nothing was changed.")
	}
	if in.ActionID == herald.SlackActionPostUpdate {
		id, audience, _ := strings.Cut(in.Value, "|")
		if !user.Role.Can(herald.PermManageIncidents) {
			return refuse(fmt.Sprintf("Your Herald role (%s) cannot post updates. Nothing was changed.", user.Role))
		}
		inc, err := s.console.Incident(ctx, id)
		if errors.Is(err, herald.ErrNotFound) {
			return refuse("The incident no longer exists.")
		}
		if err != nil {
			return err
		}
		if !inc.Open() {
			return refuse(fmt.Sprintf("%s is %s: there is nothing to post.", inc.Name, strings.ToLower(inc.Status.Label())))
		}
		comps, err := s.console.Components(ctx)
		if err != nil {
			return err
		}
		ticked := []string{audience}
		if _, ok := s.plan.AudienceByKey(audience); !ok {
			ticked = s.declareAudiences()
		}
		m := herald.SlackComposerModal{Incident: inc, Status: inc.Status, Audiences: s.plan.Audiences, Ticked: ticked,
			ChannelID: in.ChannelID, MessageTS: in.MessageTS,
			Main: herald.Fill(s.template(inc.Status), inc.Name, names(inc.ComponentIDs, componentsByID(comps)), s.nextUpdateText(s.now()))}
		if err := s.slack.OpenComposer(ctx, in.TriggerID, m); err != nil {
			s.log.Error("Slack: open the composer from a reminder", "error", err)
			return refuse("Slack did not open the form. Try again, or post in the console.")
		}
		return nil
	}
	if !user.Role.Can(herald.PermAddNote) {
		return refuse(fmt.Sprintf("Your Herald role (%s) cannot answer reminders. Nothing was changed.", user.Role))
	}
	key := in.Value
	ob, inc, found, err := s.obligation(ctx, key)
	if err != nil {
		return err
	}
	if !found {
		return s.doneButton(ctx, in, "This reminder is no longer current: the message was sent, or the incident closed.")
	}
	now := s.now()
	a, _ := s.plan.AudienceByKey(ob.Audience)
	what := a.Name
	if what == "" {
		what = ob.Audience
	}
	r := herald.ReminderResponse{IncidentID: inc.ID, ObligationKey: key, Kind: herald.ResponseAck, At: now, Actor: actorName(user)}
	var summary, done string
	if in.ActionID == herald.SlackActionSnooze {
		prior, err := s.slackStore.ReminderResponses(ctx, []string{inc.ID})
		if err != nil {
			return err
		}
		until, err := herald.Snooze(ob, prior, now)
		if err != nil {
			return refuse(trimPrefix(err) + ".")
		}
		r.Kind, r.Until = herald.ResponseSnooze, until
		summary = fmt.Sprintf("%s snoozed the reminder about the %s message until %s (due %s)", user.Name, what,
			until.In(s.loc).Format("15:04 MST"), ob.Due.In(s.loc).Format("15:04 MST"))
		done = fmt.Sprintf("Snoozed by %s at %s until %s. The %s message is due at %s.", user.Name, now.In(s.loc).Format("15:04 MST"),
			until.In(s.loc).Format("15:04 MST"), what, ob.Due.In(s.loc).Format("15:04 MST"))
	} else {
		summary = fmt.Sprintf("%s is on the %s message (due %s); the escalation waits", user.Name, what, ob.Due.In(s.loc).Format("15:04 MST"))
		done = fmt.Sprintf("%s is on it (%s). The %s message is due at %s; the escalation waits.", user.Name,
			now.In(s.loc).Format("15:04 MST"), what, ob.Due.In(s.loc).Format("15:04 MST"))
	}
	once := "slack/answered/" + in.ChannelID + "/" + in.MessageTS
	if in.MessageTS == "" {
		once = ""
	}
	recorded, err := s.slackStore.RecordReminderResponse(ctx, r, summary, once)
	if err != nil {
		return err
	}
	if !recorded {
		return refuse("This reminder was already answered. Nothing was changed.")
	}
	return s.doneButton(ctx, in, done)
}

// tellMember answers a button privately: what was refused, and why.
func (s *Server) tellMember(ctx context.Context, in herald.SlackInteraction, text string) error {
	if err := s.slack.Ephemeral(ctx, in.ChannelID, in.UserID, text); err != nil {
		s.log.Warn("Slack: could not answer a button", "error", err)
	}
	return nil
}

// doneButton replaces the reminder's buttons with what came of them.
func (s *Server) doneButton(ctx context.Context, in herald.SlackInteraction, text string) error {
	if in.ChannelID == "" || in.MessageTS == "" {
		return nil
	}
	if err := s.slack.UpdateMessage(ctx, in.ChannelID, in.MessageTS, text); err != nil {
		s.log.Warn("Slack: could not update the reminder", "error", err)
	}
	return nil
}

// obligation finds the obligation a reminder's key names, if it still
// stands.
func (s *Server) obligation(ctx context.Context, key string) (herald.Obligation, herald.Incident, bool, error) {
	inc, err := s.console.Incident(ctx, herald.ObligationIncident(key))
	if errors.Is(err, herald.ErrNotFound) {
		return herald.Obligation{}, inc, false, nil
	}
	if err != nil {
		return herald.Obligation{}, inc, false, err
	}
	told, err := s.console.Communications(ctx, []string{inc.ID})
	if err != nil {
		return herald.Obligation{}, inc, false, err
	}
	reports, err := s.console.RegulatorReports(ctx, []string{inc.ID})
	if err != nil {
		return herald.Obligation{}, inc, false, err
	}
	for _, ob := range herald.Obligations(s.plan, inc, told, reports) {
		if ob.Key() == key {
			return ob, inc, true, nil
		}
	}
	return herald.Obligation{}, inc, false, nil
}

// viewProblem shows a problem that is no field's under the modal's first
// field.
func (s *Server) viewProblem(w http.ResponseWriter, in herald.SlackInteraction, msg string) error {
	field := herald.SlackFieldName
	switch in.CallbackID {
	case herald.SlackComposerCallback:
		field = herald.SlackFieldStatus
	case herald.SlackRefuseCallback:
		field = herald.SlackFieldNote
	}
	writeJSON(w, http.StatusOK, viewErrors{ResponseAction: "errors", Errors: map[string]string{field: msg}})
	return nil
}

func (s *Server) slackDeclare(ctx context.Context, w http.ResponseWriter, user herald.User, in herald.SlackInteraction) error {
	comps, err := s.console.Components(ctx)
	if err != nil {
		return err
	}
	var targets []herald.ComponentTarget
	for _, c := range comps {
		if v := in.Value1(herald.SlackComponentField(c.ID)); v != "" {
			targets = append(targets, herald.ComponentTarget{ComponentID: c.ID, Status: herald.ComponentStatus(v)})
		}
	}
	impact := herald.Impact(in.Value1(herald.SlackFieldImpact))
	d := herald.Declaration{Name: in.Value1(herald.SlackFieldName), Impact: impact, Body: in.Value1(herald.SlackFieldBody),
		Components: targets, NotifyRegulators: slices.Contains(in.Values[herald.SlackFieldRegulators], "yes") || s.plan.RegulatorsRequired(impact)}
	if _, err := herald.Declare(d, componentsByID(comps), s.now()); err != nil {
		if fe := formErrors(err); fe != nil {
			return s.fieldErrors(w, fe, comps, targets)
		}
		return err
	}
	created, err := s.console.DeclareIncident(ctx, d, user.ID, s.declareAudiences(), actorName(user))
	if fe := formErrors(err); fe != nil {
		return s.fieldErrors(w, fe, comps, targets)
	}
	if err != nil {
		return err
	}
	s.refresh(ctx)
	s.log.Info("incident declared from Slack", "incident_id", created.ID, "slack_user_id", in.UserID)
	w.WriteHeader(http.StatusOK) // closes the modal; the thread in the incident channel follows
	return nil
}

// fieldErrors maps the domain's field problems to the modal's blocks.
func (s *Server) fieldErrors(w http.ResponseWriter, fe map[string]string, comps []herald.Component, targets []herald.ComponentTarget) error {
	out := map[string]string{}
	for k, v := range fe {
		switch {
		case k == "components" || strings.HasPrefix(k, "components"):
			block := ""
			for _, t := range targets {
				if strings.Contains(k, t.ComponentID) {
					block = herald.SlackComponentField(t.ComponentID)
				}
			}
			if block == "" && len(comps) > 0 {
				block = herald.SlackComponentField(comps[0].ID)
			}
			out[block] = v
		case k == "main" || k == "body":
			if _, isDeclare := fe["name"]; isDeclare || k == "body" {
				out[herald.SlackFieldBody] = v
			} else {
				out[herald.SlackFieldMain] = v
			}
		default:
			out[k] = v
		}
	}
	writeJSON(w, http.StatusOK, viewErrors{ResponseAction: "errors", Errors: out})
	return nil
}

func (s *Server) slackCompose(ctx context.Context, w http.ResponseWriter, user herald.User, in herald.SlackInteraction) error {
	meta, err := herald.DecodeSlackModalMeta(in.PrivateMetadata)
	if err != nil || meta.IncidentID == "" {
		return badRequest("the form does not name its incident")
	}
	comp := herald.Composition{Status: herald.Status(in.Value1(herald.SlackFieldStatus)), Main: in.Value1(herald.SlackFieldMain),
		Audiences: in.Values[herald.SlackFieldAudiences]}
	posted, err := s.console.Compose(ctx, meta.IncidentID, meta.Version, comp, s.plan, actorName(user))
	switch {
	case err == nil:
		s.refresh(ctx)
		if meta.ChannelID != "" && meta.MessageTS != "" {
			// The reminder it answered: done, by whom.
			if err := s.slack.UpdateMessage(ctx, meta.ChannelID, meta.MessageTS, fmt.Sprintf("Update posted by %s at %s: %s, to %s.",
				user.Name, s.now().In(s.loc).Format("15:04 MST"), strings.ToLower(posted.Status.Label()), strings.Join(comp.Audiences, ", "))); err != nil {
				s.log.Warn("Slack: could not update the reminder", "error", err)
			}
		}
		w.WriteHeader(http.StatusOK)
		return nil
	case errors.Is(err, herald.ErrConflict):
		writeJSON(w, http.StatusOK, viewErrors{ResponseAction: "errors", Errors: map[string]string{herald.SlackFieldMain: "Someone else changed this incident " +
			"while you were writing. Copy your text, close this form and run the command again to see the latest state."}})
		return nil
	case errors.Is(err, herald.ErrClosed), errors.Is(err, herald.ErrInvalidTransition):
		writeJSON(w, http.StatusOK, viewErrors{ResponseAction: "errors", Errors: map[string]string{herald.SlackFieldStatus: trimPrefix(err)}})
		return nil
	case errors.Is(err, herald.ErrNotFound):
		return s.viewProblem(w, in, "The incident no longer exists.")
	}
	if fe := formErrors(err); fe != nil {
		out := map[string]string{}
		for k, v := range fe {
			switch {
			case k == "status":
				out[herald.SlackFieldStatus] = v
			case strings.HasPrefix(k, "audience"):
				out[herald.SlackFieldAudiences] = v
			default:
				out[herald.SlackFieldMain] = v
			}
		}
		writeJSON(w, http.StatusOK, viewErrors{ResponseAction: "errors", Errors: out})
		return nil
	}
	return err
}

// slackDeadline bounds what Herald does before answering Slack, which
// gives up on an app after 3 seconds.
const slackDeadline = 2500 * time.Millisecond

// withSlackDeadline runs a Slack handler within slackDeadline.
func (s *Server) withSlackDeadline(h handlerFunc) http.HandlerFunc {
	inner := s.jsonErrors(h)
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), slackDeadline)
		defer cancel()
		inner(w, r.WithContext(ctx))
	}
}

// approvalButton answers Approve and Refuse on a gated failover action's
// request: only the approver role decides, never the requester (the
// domain's rule, as in the console); Refuse first asks why.
func (s *Server) approvalButton(ctx context.Context, user herald.User, why string, in herald.SlackInteraction) error {
	refuse := func(text string) error { return s.tellMember(ctx, in, text) }
	if why != "" {
		return refuse(why + " Nothing was changed.")
	}
	a, err := s.console.Action(ctx, in.Value)
	if errors.Is(err, herald.ErrNotFound) {
		return refuse("This failover action no longer exists.")
	}
	if err != nil {
		return err
	}
	p, ok := s.plan.Procedure(a.Kind, a.Key)
	if !ok {
		return refuse("This action's procedure is no longer in the failover catalogue; decide in the console.")
	}
	if in.ActionID == herald.SlackActionRefuse {
		// The same checks as the decision, before asking why.
		if user.Role != p.ApproverRole || !user.Role.Can(herald.PermApprove) {
			return refuse(fmt.Sprintf("Only the %s role decides %s. Nothing was changed.", p.ApproverRole.Label(), a.Name))
		}
		if a.State != herald.ActionAwaitingApproval {
			return s.decided(ctx, in, a)
		}
		inc, _ := s.console.Incident(ctx, a.IncidentID)
		m := herald.SlackRefuseModal{ActionID: a.ID, ActionName: a.Name, Incident: inc.Name, ChannelID: in.ChannelID, MessageTS: in.MessageTS}
		if err := s.slack.OpenRefuse(ctx, in.TriggerID, m); err != nil {
			s.log.Error("Slack: open the refusal form", "error", err)
			return refuse("Slack did not open the form. Try again, or refuse in the console.")
		}
		return nil
	}
	decided, err := s.console.DecideAction(ctx, a.ID, 0, p, true, user, "")
	switch {
	case err == nil:
		s.refresh(ctx)
		return s.doneButton(ctx, in, fmt.Sprintf("Approved by %s at %s: %s may start.", user.Name,
			s.now().In(s.loc).Format("15:04 MST"), decided.Name))
	case errors.Is(err, herald.ErrInvalidTransition):
		return s.decided(ctx, in, a)
	case errors.Is(err, herald.ErrForbidden), errors.Is(err, herald.ErrInvalid):
		return refuse(trimPrefix(err) + ". Nothing was changed.")
	}
	return err
}

// decided replaces a request that was answered elsewhere (the console,
// another approver) with its outcome.
func (s *Server) decided(ctx context.Context, in herald.SlackInteraction, a herald.Action) error {
	text := fmt.Sprintf("%s is already %s", a.Name, strings.ToLower(a.State.Label()))
	if a.DecidedBy.Name != "" && a.DecidedAt != nil {
		verb := "approved"
		if a.State == herald.ActionRefused {
			verb = "refused"
		}
		text += fmt.Sprintf(" (%s by %s at %s)", verb, a.DecidedBy.Name, a.DecidedAt.In(s.loc).Format("15:04 MST"))
	}
	return s.doneButton(ctx, in, text+".")
}

// slackRefuse decides a refusal with its reason.
func (s *Server) slackRefuse(ctx context.Context, w http.ResponseWriter, user herald.User, in herald.SlackInteraction) error {
	meta, err := herald.DecodeSlackModalMeta(in.PrivateMetadata)
	if err != nil || meta.ActionID == "" {
		return badRequest("the form does not name its action")
	}
	a, err := s.console.Action(ctx, meta.ActionID)
	if errors.Is(err, herald.ErrNotFound) {
		return s.viewProblem(w, in, "This failover action no longer exists.")
	}
	if err != nil {
		return err
	}
	p, ok := s.plan.Procedure(a.Kind, a.Key)
	if !ok {
		return s.viewProblem(w, in, "This action's procedure is no longer in the failover catalogue; decide in the console.")
	}
	note := in.Value1(herald.SlackFieldNote)
	if _, err := s.console.DecideAction(ctx, a.ID, 0, p, false, user, note); err != nil {
		if fe := formErrors(err); fe != nil {
			writeJSON(w, http.StatusOK, viewErrors{ResponseAction: "errors", Errors: map[string]string{herald.SlackFieldNote: fe["note"] + fe[""]}})
			return nil
		}
		if errors.Is(err, herald.ErrForbidden) || errors.Is(err, herald.ErrInvalidTransition) {
			return s.viewProblem(w, in, trimPrefix(err)+".")
		}
		return err
	}
	s.refresh(ctx)
	if meta.ChannelID != "" && meta.MessageTS != "" {
		if err := s.slack.UpdateMessage(ctx, meta.ChannelID, meta.MessageTS, fmt.Sprintf("Refused by %s at %s: %s",
			user.Name, s.now().In(s.loc).Format("15:04 MST"), note)); err != nil {
			s.log.Warn("Slack: could not update the approval request", "error", err)
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
