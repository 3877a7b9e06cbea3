package slack

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

var _ comms.Reconciler = (*Client)(nil)

// MetadataEventType is the event_type of the message metadata Herald
// attaches to every message it posts; its event_payload holds the
// delivery's id under "delivery_id".
const MetadataEventType = "herald_delivery"

// DeliveryMetadata is the message metadata naming a delivery.
func DeliveryMetadata(deliveryID string) slackapi.SlackMetadata {
	return slackapi.SlackMetadata{EventType: MetadataEventType, EventPayload: map[string]any{"delivery_id": deliveryID}}
}

// reconcileSlack widens the search window before an attempt's start, for
// Slack's clock and Herald's being a little apart. A wider window costs
// only a longer read: messages are matched by the delivery id in their
// metadata, never by text.
const reconcileSlack = 2 * time.Minute

// reconcilePages bounds the pages read while looking for one message.
const reconcilePages = 20

// Delivered reports whether Slack already has the message of a delivery
// whose attempt started at since: it looks for a message carrying the
// delivery's id in its metadata. A thread reply is looked for in its
// thread (conversations.replies), a thread parent in the channel's history
// (conversations.history, after finding the channel's id by name with
// conversations.list), a direct message in the conversation with the
// person (conversations.open). An edit (chat.update) is never looked for:
// doing it again changes nothing.
//
// It needs the bot token's read scopes besides chat:write: channels:history
// and channels:read (groups:history and groups:read for a private channel),
// im:history for direct messages. Without them Slack answers missing_scope,
// an *APIError, and the engine sends again.
func (c *Client) Delivered(ctx context.Context, m comms.Message, since time.Time) (comms.Receipt, bool, error) {
	d := m.Delivery
	oldest := slackTS(since.Add(-reconcileSlack))
	switch d.Kind {
	case herald.KindEdit:
		return comms.Receipt{}, false, nil
	case herald.KindReply:
		if m.ThreadChannel == "" || m.ThreadTS == "" {
			return comms.Receipt{}, false, nil // Deliver refuses it too
		}
		return c.findReply(ctx, m.ThreadChannel, m.ThreadTS, oldest, d.ID)
	case herald.KindThread:
		ch, err := c.channelID(ctx, d.Recipient)
		if err != nil {
			return comms.Receipt{}, false, err
		}
		return c.findInHistory(ctx, ch, oldest, d.ID)
	case herald.KindReminder, herald.KindFailure:
		member := d.Recipient
		if !herald.IsSlackMemberID(member) {
			u, err := c.api.GetUserByEmailContext(ctx, d.Recipient)
			if err != nil {
				return comms.Receipt{}, false, c.classify("users.lookupByEmail", err)
			}
			member = u.ID
		}
		ch, _, _, err := c.api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{member}})
		if err != nil {
			return comms.Receipt{}, false, c.classify("conversations.open", err)
		}
		return c.findInHistory(ctx, ch.ID, oldest, d.ID)
	}
	return comms.Receipt{}, false, nil
}

// findInHistory pages through a channel's messages since oldest, newest
// first, for the one carrying the delivery id.
func (c *Client) findInHistory(ctx context.Context, channelID, oldest, deliveryID string) (comms.Receipt, bool, error) {
	cursor := ""
	for range reconcilePages {
		resp, err := c.api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{
			ChannelID: channelID, Oldest: oldest, Inclusive: true, Limit: 200, Cursor: cursor, IncludeAllMetadata: true})
		if err != nil {
			return comms.Receipt{}, false, c.classify("conversations.history", err)
		}
		for _, msg := range resp.Messages {
			if carries(msg, deliveryID) {
				return comms.Receipt{ProviderID: msg.Timestamp, Channel: channelID}, true, nil
			}
		}
		cursor = resp.ResponseMetaData.NextCursor
		if !resp.HasMore || cursor == "" {
			return comms.Receipt{}, false, nil
		}
	}
	return comms.Receipt{}, false, fmt.Errorf("slack: conversations.history: more than %d pages since %s", reconcilePages, oldest)
}

// findReply pages through a thread since oldest for the reply carrying the
// delivery id.
func (c *Client) findReply(ctx context.Context, channelID, threadTS, oldest, deliveryID string) (comms.Receipt, bool, error) {
	cursor := ""
	for range reconcilePages {
		msgs, more, next, err := c.api.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{
			ChannelID: channelID, Timestamp: threadTS, Oldest: oldest, Inclusive: true, Limit: 200, Cursor: cursor,
			IncludeAllMetadata: true})
		if err != nil {
			return comms.Receipt{}, false, c.classify("conversations.replies", err)
		}
		for _, msg := range msgs {
			if carries(msg, deliveryID) {
				return comms.Receipt{ProviderID: msg.Timestamp, Channel: channelID}, true, nil
			}
		}
		if !more || next == "" {
			return comms.Receipt{}, false, nil
		}
		cursor = next
	}
	return comms.Receipt{}, false, fmt.Errorf("slack: conversations.replies: more than %d pages since %s", reconcilePages, oldest)
}

func carries(msg slackapi.Message, deliveryID string) bool {
	if msg.Metadata.EventType != MetadataEventType {
		return false
	}
	id, _ := msg.Metadata.EventPayload["delivery_id"].(string)
	return id == deliveryID
}

var channelIDRE = regexp.MustCompile(`^[CGD][A-Z0-9]{8,}$`)

// channelID turns a channel as the plan names it (#incident-response, or
// already an id) into its id: the read methods take ids only.
func (c *Client) channelID(ctx context.Context, channel string) (string, error) {
	if channelIDRE.MatchString(channel) {
		return channel, nil
	}
	name := strings.TrimPrefix(channel, "#")
	params := &slackapi.GetConversationsParameters{ExcludeArchived: true, Limit: 1000,
		Types: []string{"public_channel", "private_channel"}}
	for range reconcilePages {
		chans, next, err := c.api.GetConversationsContext(ctx, params)
		if err != nil {
			return "", c.classify("conversations.list", err)
		}
		for _, ch := range chans {
			if ch.Name == name {
				return ch.ID, nil
			}
		}
		if next == "" {
			break
		}
		params.Cursor = next
	}
	return "", &APIError{Method: "conversations.list", Code: "channel_not_found",
		Detail: []string{"no channel named " + channel + " is visible to the app"}}
}

// slackTS writes a time as Slack's message timestamps: seconds.microseconds.
func slackTS(t time.Time) string {
	if t.Unix() < 0 {
		return "0"
	}
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}
