package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kredete/herald"
)

const (
	deliveryColumns = `id, COALESCE(incident_id, ''), COALESCE(communication_id, ''), audience, channel, kind, recipient, subject, body,
		idempotency_key, seq, state, attempts, provider_id, provider_status, last_error, obligation_key, due_at,
		created_at, updated_at, sent_at, subscriber_id, update_id`
	insertDelivery = `INSERT INTO deliveries (id, incident_id, communication_id, audience, channel, kind, recipient, subject, body,
		idempotency_key, seq, state, obligation_key, due_at, created_at, updated_at, subscriber_id, update_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NEXT_SEQ, 'queued', $11, $12, $13, $13, $14, $15)
		ON CONFLICT (idempotency_key) DO NOTHING`
	selectDelivery = `SELECT ` + deliveryColumns + ` FROM deliveries WHERE id = $1`
	// The incident's own deliveries: the messages of the plan, reminders,
	// pages and calls. Subscriber deliveries (a hundred thousand for one
	// update) are counted apart (SubscriberDeliveryCounts).
	selectDeliveries = `SELECT ` + deliveryColumns + ` FROM deliveries WHERE incident_id = $1 AND kind <> 'subscriber'
		ORDER BY seq DESC LIMIT $2`
	countEarlierPending = `SELECT COUNT(*) FROM deliveries WHERE incident_id = $1 AND channel = $2 AND recipient = $3
		AND seq < $4 AND state NOT IN ('sent', 'failed', 'skipped')`
	selectThread = `SELECT channel_id, ts FROM slack_threads WHERE incident_id = $1 AND channel = $2`
	insertThread = `INSERT INTO slack_threads (incident_id, channel, channel_id, ts, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (incident_id, channel) DO NOTHING`
)

// EnableDeliveries makes every incident write fan out to the plan's
// channels: deliveries written in the same transaction, sent by the queue.
// Without it (tests of other parts, tools) nothing is queued.
func (s *Store) EnableDeliveries(plan herald.Plan) { s.plan = &plan }

// writeDeliveries inserts deliveries for an incident and their jobs, all in
// tx. A delivery whose key exists already is not written again: its cause
// was handled before (by this replica or another). It returns how many were
// new.
func (s *Store) writeDeliveries(ctx context.Context, tx *sql.Tx, incidentID, communicationID string, ds []herald.Delivery, now time.Time) (int, error) {
	if len(ds) > 0 {
		// Every message about a drill says so, whoever queued it (a
		// message, a thread reply, a reminder, a failure report).
		if drill, err := s.isDrill(ctx, tx, incidentID); err != nil {
			return 0, err
		} else if drill {
			ds = herald.MarkDrill(ds)
		}
	}
	var ids []string
	for _, d := range ds {
		id := newID()
		res, err := tx.ExecContext(ctx, s.q(s.deliverySeq(insertDelivery)), id, nullString(incidentID), nullString(communicationID), d.Audience, d.Channel,
			d.Kind, d.Recipient, d.Subject, d.Body, d.Key, d.ObligationKey, nullTime(d.DueAt), now, d.SubscriberID, d.UpdateID)
		if err != nil {
			return 0, fmt.Errorf("store: write delivery: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("store: write delivery: %w", err)
		} else if n == 1 {
			ids = append(ids, id)
		}
	}
	return len(ids), s.enqueue(ctx, tx, ids)
}

// slackEvent queues, for the plan's incident thread, a reply and an edit of
// the thread's parent to the current state. The first event of an incident
// (its declaration) posts the parent instead.
func (s *Store) slackEvent(ctx context.Context, tx *sql.Tx, incidentID, kind, body string, now time.Time) error {
	if s.plan == nil {
		return nil
	}
	a, ok := s.plan.ThreadAudience()
	if !ok {
		return nil
	}
	ch := a.Recipients.SlackChannel
	key := incidentID + "/slack/" + ch + "/" + kind + "/" + newID()
	var ds []herald.Delivery
	if kind == "declared" {
		ds = append(ds, herald.Delivery{Audience: a.Key, Channel: herald.ChannelSlack, Kind: herald.KindThread, Recipient: ch,
			Body: body, Key: incidentID + "/slack/" + ch + "/thread"})
	} else {
		ds = append(ds,
			herald.Delivery{Audience: a.Key, Channel: herald.ChannelSlack, Kind: herald.KindReply, Recipient: ch, Body: body, Key: key},
			herald.Delivery{Audience: a.Key, Channel: herald.ChannelSlack, Kind: herald.KindEdit, Recipient: ch, Key: key + "/edit"})
	}
	_, err := s.writeDeliveries(ctx, tx, incidentID, "", ds, now)
	return err
}

// fanoutCommunication queues a message to an audience on every channel the
// plan gives it: the thread audience's text as a reply in the incident's
// thread, email and SMS to each recipient.
func (s *Store) fanoutCommunication(ctx context.Context, tx *sql.Tx, incidentID, commID, audience string,
	kind herald.DeliveryKind, body string, now time.Time) error {
	if s.plan == nil {
		return nil
	}
	a, ok := s.plan.AudienceByKey(audience)
	if !ok {
		return nil
	}
	var name, status, impact string
	if err := tx.QueryRowContext(ctx, s.q(`SELECT name, status, impact FROM incidents WHERE id = $1`), incidentID).
		Scan(&name, &status, &impact); err != nil {
		return fmt.Errorf("store: fan out: %w", err)
	}
	label := herald.Status(status).Label()
	prefix := ""
	if kind == herald.KindHolding {
		prefix = "Holding update: "
	}
	subject := fmt.Sprintf("[%s] %s%s (%s)", s.plan.Page.Name, prefix, name, label)
	ds := herald.Fanout(a, kind, incidentID+"/"+commID, subject, body)
	_, err := s.writeDeliveries(ctx, tx, incidentID, commID, ds, now)
	return err
}

// deliverySeq fills in how a delivery gets its order number: a sequence on
// PostgreSQL, where concurrent writers (a console write and an engine's
// reminder) must not draw the same number; on SQLite, where writers take
// turns, the next after the largest.
func (s *Store) deliverySeq(query string) string {
	next := "(SELECT COALESCE(MAX(seq), 0) + 1 FROM deliveries)"
	if s.dialect == Postgres {
		next = "nextval('deliveries_order_seq')"
	}
	return strings.Replace(query, "NEXT_SEQ", next, 1)
}

// Delivery reads one delivery.
func (s *Store) Delivery(ctx context.Context, id string) (herald.Delivery, error) {
	ds, err := s.queryDeliveries(ctx, s.prep(nil), selectDelivery, id)
	if err != nil {
		return herald.Delivery{}, err
	}
	if len(ds) == 0 {
		return herald.Delivery{}, fmt.Errorf("store: delivery %q: %w", id, herald.ErrNotFound)
	}
	return ds[0], nil
}

// Deliveries lists an incident's deliveries, newest first, at most limit.
func (s *Store) Deliveries(ctx context.Context, incidentID string, limit int) ([]herald.Delivery, error) {
	return s.queryDeliveries(ctx, s.db, selectDeliveries, incidentID, limit)
}

func (s *Store) queryDeliveries(ctx context.Context, db querier, query string, args ...any) ([]herald.Delivery, error) {
	rows, err := db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	defer rows.Close()
	var out []herald.Delivery
	for rows.Next() {
		var d herald.Delivery
		var due, sent sql.NullTime
		if err := rows.Scan(&d.ID, &d.IncidentID, &d.CommunicationID, &d.Audience, &d.Channel, &d.Kind, &d.Recipient,
			&d.Subject, &d.Body, &d.Key, &d.Seq, &d.State, &d.Attempts, &d.ProviderID, &d.ProviderStatus, &d.LastError,
			&d.ObligationKey, &due, &d.CreatedAt, &d.UpdatedAt, &sent, &d.SubscriberID, &d.UpdateID); err != nil {
			return nil, fmt.Errorf("store: scan delivery: %w", err)
		}
		d.DueAt, d.SentAt = timePtr(due), timePtr(sent)
		d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	return out, nil
}

// EarlierPending reports whether a delivery to the same place (a Slack
// thread, a phone) written before d is still on its way: the engine keeps
// their order by waiting for it.
func (s *Store) EarlierPending(ctx context.Context, d herald.Delivery) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(countEarlierPending), d.IncidentID, d.Channel, d.Recipient, d.Seq).Scan(&n); err != nil {
		return false, fmt.Errorf("store: earlier deliveries: %w", err)
	}
	return n > 0, nil
}

// StartAttempt marks a delivery as being sent and counts the attempt. It
// returns the delivery as it was before; a delivery already in a final
// state is returned unchanged, and the caller does nothing.
func (s *Store) StartAttempt(ctx context.Context, id string) (herald.Delivery, error) {
	var d herald.Delivery
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		ds, err := s.queryDeliveries(ctx, s.prep(tx), selectDelivery+" FOR UPDATE", id)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return fmt.Errorf("store: delivery %q: %w", id, herald.ErrNotFound)
		}
		d = ds[0]
		if d.State.Final() {
			return nil
		}
		_, err = s.prep(tx).ExecContext(ctx, s.q(`UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = $2 WHERE id = $1`),
			id, s.Now())
		return err
	})
	return d, err
}

// FinishAttempt records the outcome of an attempt: sent with the vendor's
// id, retrying or failed with the error, or skipped with the reason.
func (s *Store) FinishAttempt(ctx context.Context, id string, state herald.DeliveryState, providerID, problem string) error {
	now := s.Now()
	var sent any
	if state == herald.DeliverySent {
		sent = now
	}
	// Delivery progress is not a change of the public page: no version bump.
	return s.transact(ctx, false, func(tx *sql.Tx) error {
		var incidentID string
		err := s.prep(tx).QueryRowContext(ctx, s.q(`UPDATE deliveries SET state = $2, provider_id = CASE WHEN $3 = '' THEN provider_id ELSE $3 END,
			last_error = $4, sent_at = COALESCE(sent_at, $5), updated_at = $6 WHERE id = $1 RETURNING COALESCE(incident_id, '')`),
			id, state, providerID, truncateError(problem), sent, now).Scan(&incidentID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: delivery %q: %w", id, herald.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: finish delivery: %w", err)
		}
		return nil
	})
}

// SetProviderStatus records a vendor's later word on a delivery (Twilio's
// status callback: delivered, undelivered, failed) by its provider id. It
// reports false when no delivery has that id.
func (s *Store) SetProviderStatus(ctx context.Context, providerID, status, problem string) (bool, error) {
	found := false
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		var incidentID string
		err := tx.QueryRowContext(ctx, s.q(`UPDATE deliveries SET provider_status = $2,
			last_error = CASE WHEN $3 = '' THEN last_error ELSE $3 END, updated_at = $4
			WHERE provider_id = $1 AND channel = 'sms' RETURNING COALESCE(incident_id, '')`), providerID, status, truncateError(problem), s.Now()).Scan(&incidentID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: provider status: %w", err)
		}
		found = true
		return nil
	})
	return found, err
}

// SlackThread finds the incident's thread in a channel.
func (s *Store) SlackThread(ctx context.Context, incidentID, channel string) (channelID, ts string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.q(selectThread), incidentID, channel).Scan(&channelID, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("store: slack thread: %w", err)
	}
	return channelID, ts, true, nil
}

// SaveSlackThread records the incident's thread parent.
func (s *Store) SaveSlackThread(ctx context.Context, incidentID, channel, channelID, ts string) error {
	if _, err := s.db.ExecContext(ctx, s.q(insertThread), incidentID, channel, channelID, ts, s.Now()); err != nil {
		return fmt.Errorf("store: save slack thread: %w", err)
	}
	return nil
}

func truncateError(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1000 {
		return s[:1000] + "…"
	}
	return s
}

// claimKey records that the work named key is being done in tx; false when
// it was done before, by this replica or another.
func (s *Store) claimKey(ctx context.Context, tx *sql.Tx, key string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO engine_keys (key, created_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`), key, now)
	if err != nil {
		return false, fmt.Errorf("store: claim %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim %s: %w", key, err)
	}
	return n == 1, nil
}

// QueueOnce writes deliveries for an incident, once for key: a second call
// with the same key (from any replica) writes nothing and returns false.
func (s *Store) QueueOnce(ctx context.Context, key, incidentID string, ds []herald.Delivery) (bool, error) {
	now := s.Now()
	done := false
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		ok, err := s.claimKey(ctx, tx, key, now)
		if err != nil || !ok {
			return err
		}
		done = true
		_, err = s.writeDeliveries(ctx, tx, incidentID, "", ds, now)
		return err
	})
	return done, err
}

// RecordHolding records an automatic holding update to an audience, once
// for key, and queues it on the audience's channels. The communication
// resets the audience's clock like any other message.
func (s *Store) RecordHolding(ctx context.Context, key, incidentID, audience, body string) (bool, error) {
	now := s.Now()
	done := false
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		ok, err := s.claimKey(ctx, tx, key, now)
		if err != nil || !ok {
			return err
		}
		done = true
		commID := newID()
		if _, err := tx.ExecContext(ctx, s.q(insertCommunication), commID, incidentID, nil, audience, body, herald.EngineActor, now); err != nil {
			return fmt.Errorf("store: record holding update: %w", err)
		}
		if err := s.fanoutCommunication(ctx, tx, incidentID, commID, audience, herald.KindHolding, body, now); err != nil {
			return err
		}
		return s.timeline(ctx, tx, incidentID, "communication", herald.EngineActor, "Automatic holding update to "+audience, now)
	})
	return done, err
}
