package slack

import (
	"context"
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

var _ comms.Channel = (*Client)(nil)

// Deliver sends one delivery: the incident's thread parent, an in-place
// edit of it, a reply in it, or a reminder as a direct message (the
// delivery's recipient is then the person's email). Every message posted
// carries the delivery's id as message metadata (see Delivered).
func (c *Client) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	d := m.Delivery
	meta := slackapi.MsgOptionMetadata(DeliveryMetadata(d.ID))
	switch d.Kind {
	case herald.KindThread:
		return c.postIncident(ctx, d.Recipient, m.Incident, m.Components, m.Commander, meta)
	case herald.KindEdit:
		if err := c.UpdateIncident(ctx, m.ThreadChannel, m.ThreadTS, m.Incident, m.Components, m.Commander); err != nil {
			return comms.Receipt{}, err
		}
		return comms.Receipt{ProviderID: m.ThreadTS, Channel: m.ThreadChannel}, nil
	case herald.KindReply:
		text, blocks := EventBlocks(d.Body)
		return c.reply(ctx, m.ThreadChannel, m.ThreadTS, text, blocks, meta)
	case herald.KindReminder, herald.KindFailure:
		text, blocks := EventBlocks(d.Body + "\n" + c.IncidentURL(m.Incident.ID))
		if c.buttons && d.Kind == herald.KindReminder && d.ObligationKey != "" {
			blocks = append(blocks, ReminderButtons(m.Incident.ID, d.Audience, d.ObligationKey))
		}
		if id, ok := herald.ApprovalActionID(d.Key); ok && c.buttons && d.Kind == herald.KindReminder {
			blocks = append(blocks, ApprovalButtons(id))
		}
		return c.directMessage(ctx, d.Recipient, text, blocks, meta)
	}
	return comms.Receipt{}, fmt.Errorf("slack: cannot deliver a %s", d.Kind)
}

// ReminderButtons are a reminder's answers: post the update now (the
// composer opens, prefilled), snooze it 5 minutes (never past due), or say
// "I'm on it" (the escalation waits).
func ReminderButtons(incidentID, audience, obligationKey string) Block {
	post := slackapi.NewButtonBlockElement(herald.SlackActionPostUpdate, incidentID+"|"+audience, plain("Post public update"))
	post.Style = slackapi.StylePrimary
	snooze := slackapi.NewButtonBlockElement(herald.SlackActionSnooze, obligationKey, plain("Snooze 5 minutes"))
	ack := slackapi.NewButtonBlockElement(herald.SlackActionAck, obligationKey, plain("I'm on it"))
	return slackapi.NewActionBlock("herald_reminder", post, snooze, ack)
}

// ApprovalButtons answer a gated failover action's approval request:
// Approve decides at once, Refuse asks why.
func ApprovalButtons(actionID string) Block {
	approve := slackapi.NewButtonBlockElement(herald.SlackActionApprove, actionID, plain("Approve"))
	approve.Style = slackapi.StylePrimary
	refuse := slackapi.NewButtonBlockElement(herald.SlackActionRefuse, actionID, plain("Refuse"))
	refuse.Style = slackapi.StyleDanger
	return slackapi.NewActionBlock("herald_approval", approve, refuse)
}
