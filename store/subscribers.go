package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
)

const (
	subscriberColumns = `id, channel, address, all_components, state, confirm_expires_at, webhook_secret, owner_email,
		failures, source, created_at, confirmed_at, unsubscribed_at, disabled_at`
	insertSubscriber = `INSERT INTO subscribers (id, channel, address, all_components, state, token_hash, confirm_expires_at,
		webhook_secret, owner_email, source, created_at, updated_at, confirm_code_hash)
		VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $10, $11)`
	selectSubscriberByAddress = `SELECT ` + subscriberColumns + ` FROM subscribers WHERE channel = $1 AND address = $2`
	selectSubscriberByToken   = `SELECT ` + subscriberColumns + ` FROM subscribers WHERE token_hash = $1`
	selectSubscriberByID      = `SELECT ` + subscriberColumns + ` FROM subscribers WHERE id = $1`
	// A pending or ended subscription starts over: a new token, a new
	// window, the components asked for; an SMS gets a new code, a webhook
	// the owner asked for now (none was proven) and a new secret.
	restartSubscriber = `UPDATE subscribers SET state = 'pending', token_hash = $2, confirm_expires_at = $3, all_components = $4,
		unsubscribed_at = NULL, disabled_at = NULL, failures = 0, updated_at = $5, confirm_code_hash = $6, owner_email = $7,
		webhook_secret = $8 WHERE id = $1`
	// A confirmed subscription keeps its components (changing them takes
	// the link) and gets a new token for the manage mail.
	rotateSubscriberToken = `UPDATE subscribers SET token_hash = $2, updated_at = $3 WHERE id = $1`
	confirmSubscriber     = `UPDATE subscribers SET state = 'confirmed', confirmed_at = $2, confirm_expires_at = NULL,
		confirm_code_hash = '', updated_at = $2 WHERE id = $1`
	unsubscribeSubscriber = `UPDATE subscribers SET state = 'unsubscribed', unsubscribed_at = $2, updated_at = $2 WHERE id = $1`
	setSubscriberAll      = `UPDATE subscribers SET all_components = $2, updated_at = $3 WHERE id = $1`
	deleteSubscriberComps = `DELETE FROM subscriber_components WHERE subscriber_id = $1`
	insertSubscriberComp  = `INSERT INTO subscriber_components (subscriber_id, component_id) VALUES ($1, $2)`
	selectSubscriberComps = `SELECT component_id FROM subscriber_components WHERE subscriber_id = $1 ORDER BY component_id`
	countSubscribersBy    = `SELECT channel, state, COUNT(*) FROM subscribers GROUP BY channel, state`
	insertSubscribeTry    = `INSERT INTO subscribe_attempts (key, at) VALUES ($1, $2)`
	countSubscribeTries   = `SELECT COUNT(*) FROM subscribe_attempts WHERE key = $1 AND at >= $2`
	pruneSubscribeTries   = `DELETE FROM subscribe_attempts WHERE at < $1`
)

// Subscribe records a subscription request. A new address becomes a
// pending subscriber; an address already pending, unsubscribed or disabled
// starts over as pending with the components asked for; a confirmed one
// keeps its components. Each gets a new token (the old links stop working).
func (s *Store) Subscribe(ctx context.Context, req herald.SubscriptionRequest, now time.Time) (herald.SubscribeResult, error) {
	var res herald.SubscribeResult
	comps, err := s.knownComponents(ctx)
	if err != nil {
		return res, err
	}
	req, err = req.Normalize(comps)
	if err != nil {
		return res, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	token, hash := herald.NewSubscriberToken()
	expires := now.Add(herald.ConfirmWindow)
	if req.Channel == herald.SubscriberSMS {
		// A code, not a link: typed within minutes (subscribers_sms.go).
		expires = now.Add(herald.SMSCodeWindow)
	}
	res.Token = token
	err = s.transact(ctx, false, func(tx *sql.Tx) error {
		cur, err := s.subscriberRow(ctx, tx, s.q(selectSubscriberByAddress+forUpdate(s)), req.Channel, req.Address)
		switch {
		case errors.Is(err, herald.ErrNotFound):
			sub := herald.Subscriber{ID: newID(), Channel: req.Channel, Address: req.Address, AllComponents: req.AllComponents,
				ComponentIDs: req.ComponentIDs, State: herald.SubscriberPending, ConfirmExpiresAt: &expires,
				OwnerEmail: req.OwnerEmail, Source: req.Source, CreatedAt: now}
			if req.Channel == herald.SubscriberWebhook {
				sub.WebhookSecret = herald.NewWebhookSecret()
			}
			codeHash := ""
			if req.Channel == herald.SubscriberSMS {
				res.Code = herald.NewConfirmCode()
				codeHash = herald.HashConfirmCode(sub.ID, res.Code)
			}
			if _, err := tx.ExecContext(ctx, s.q(insertSubscriber), sub.ID, sub.Channel, sub.Address, sub.AllComponents, hash,
				expires, sub.WebhookSecret, sub.OwnerEmail, sub.Source, now, codeHash); err != nil {
				if isUnique(err) {
					// Another request for the same address won the race.
					return fmt.Errorf("store: subscribe: %w", herald.ErrConflict)
				}
				return fmt.Errorf("store: insert subscriber: %w", err)
			}
			if err := s.setSubscriberComponents(ctx, tx, sub.ID, req.ComponentIDs); err != nil {
				return err
			}
			res.Subscriber, res.Mail = sub, herald.SubscriptionMailConfirm
			return s.audit(ctx, tx, auditRecord{Actor: "subscriber", Action: "subscriber.subscribe", Entity: "subscriber",
				EntityID: sub.ID, After: subscriberAudit(sub)})
		case err != nil:
			return err
		case cur.State == herald.SubscriberConfirmed:
			if _, err := tx.ExecContext(ctx, s.q(rotateSubscriberToken), cur.ID, hash, now); err != nil {
				return fmt.Errorf("store: rotate subscriber token: %w", err)
			}
			res.Subscriber, res.Mail = cur, herald.SubscriptionMailManage
			return nil
		default:
			before := subscriberAudit(cur)
			codeHash := ""
			if req.Channel == herald.SubscriberSMS {
				res.Code = herald.NewConfirmCode()
				codeHash = herald.HashConfirmCode(cur.ID, res.Code)
			}
			if req.Channel == herald.SubscriberWebhook {
				cur.OwnerEmail, cur.WebhookSecret = req.OwnerEmail, herald.NewWebhookSecret()
			}
			if _, err := tx.ExecContext(ctx, s.q(restartSubscriber), cur.ID, hash, expires, req.AllComponents, now,
				codeHash, cur.OwnerEmail, cur.WebhookSecret); err != nil {
				return fmt.Errorf("store: restart subscriber: %w", err)
			}
			if err := s.setSubscriberComponents(ctx, tx, cur.ID, req.ComponentIDs); err != nil {
				return err
			}
			cur.State, cur.ConfirmExpiresAt, cur.AllComponents, cur.ComponentIDs = herald.SubscriberPending, &expires, req.AllComponents, req.ComponentIDs
			cur.UnsubscribedAt, cur.DisabledAt, cur.Failures = nil, nil, 0
			res.Subscriber, res.Mail = cur, herald.SubscriptionMailConfirm
			return s.audit(ctx, tx, auditRecord{Actor: "subscriber", Action: "subscriber.subscribe", Entity: "subscriber",
				EntityID: cur.ID, Before: before, After: subscriberAudit(cur)})
		}
	})
	if err != nil {
		return herald.SubscribeResult{}, err
	}
	return res, nil
}

// ConfirmSubscriber confirms the subscription of the token. A confirmed
// one stays confirmed (a second click is fine); a pending one past its
// window, or one that has ended, is herald.ErrSubscriptionExpired; an
// unknown token herald.ErrNotFound.
func (s *Store) ConfirmSubscriber(ctx context.Context, token string) (herald.Subscriber, error) {
	var out herald.Subscriber
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		cur, err := s.subscriberRow(ctx, tx, s.q(selectSubscriberByToken+forUpdate(s)), herald.HashSubscriberToken(token))
		if err != nil {
			return err
		}
		now := s.Now()
		switch cur.State {
		case herald.SubscriberConfirmed:
			out = cur
			return nil
		case herald.SubscriberPending:
			if cur.ConfirmExpiresAt == nil || !now.Before(*cur.ConfirmExpiresAt) {
				return fmt.Errorf("store: confirm subscriber: %w", herald.ErrSubscriptionExpired)
			}
		default:
			return fmt.Errorf("store: confirm subscriber: %w", herald.ErrSubscriptionExpired)
		}
		if _, err := tx.ExecContext(ctx, s.q(confirmSubscriber), cur.ID, now); err != nil {
			return fmt.Errorf("store: confirm subscriber: %w", err)
		}
		before := subscriberAudit(cur)
		cur.State, cur.ConfirmedAt, cur.ConfirmExpiresAt = herald.SubscriberConfirmed, &now, nil
		out = cur
		return s.audit(ctx, tx, auditRecord{Actor: "subscriber", Action: "subscriber.confirm", Entity: "subscriber",
			EntityID: cur.ID, Before: before, After: subscriberAudit(cur)})
	})
	return out, err
}

// SubscriberByToken returns the subscriber a link's token belongs to, in
// any state; herald.ErrNotFound when none.
func (s *Store) SubscriberByToken(ctx context.Context, token string) (herald.Subscriber, error) {
	query, arg, ok, err := s.subscriberLookup(ctx, token, false)
	if err != nil {
		return herald.Subscriber{}, err
	}
	if !ok {
		return herald.Subscriber{}, fmt.Errorf("store: subscriber link: %w", herald.ErrNotFound)
	}
	return s.subscriberRow(ctx, s.db, query, arg)
}

// UpdateSubscriberComponents changes what the token's subscriber is told
// about: all components, or the ones named (which must exist).
func (s *Store) UpdateSubscriberComponents(ctx context.Context, token string, all bool, componentIDs []string) (herald.Subscriber, error) {
	var out herald.Subscriber
	comps, err := s.knownComponents(ctx)
	if err != nil {
		return out, err
	}
	if err := s.linkKeyFor(ctx, token); err != nil {
		return out, err
	}
	err = s.transact(ctx, false, func(tx *sql.Tx) error {
		cur, err := s.subscriberByLink(ctx, tx, token)
		if err != nil {
			return err
		}
		req, err := herald.SubscriptionRequest{Channel: cur.Channel, Address: cur.Address, OwnerEmail: cur.OwnerEmail,
			AllComponents: all, ComponentIDs: componentIDs}.Normalize(comps)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(setSubscriberAll), cur.ID, req.AllComponents, s.Now()); err != nil {
			return fmt.Errorf("store: subscriber components: %w", err)
		}
		if err := s.setSubscriberComponents(ctx, tx, cur.ID, req.ComponentIDs); err != nil {
			return err
		}
		before := subscriberAudit(cur)
		cur.AllComponents, cur.ComponentIDs = req.AllComponents, req.ComponentIDs
		out = cur
		return s.audit(ctx, tx, auditRecord{Actor: "subscriber", Action: "subscriber.components", Entity: "subscriber",
			EntityID: cur.ID, Before: before, After: subscriberAudit(cur)})
	})
	return out, err
}

// Unsubscribe ends the token's subscription. It is idempotent: an ended
// subscription stays ended and the call succeeds, so a mail client's
// repeated one-click POST is answered the same way each time.
func (s *Store) Unsubscribe(ctx context.Context, token string) (herald.Subscriber, error) {
	var out herald.Subscriber
	if err := s.linkKeyFor(ctx, token); err != nil {
		return out, err
	}
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		cur, err := s.subscriberByLink(ctx, tx, token)
		if err != nil {
			return err
		}
		if cur.State == herald.SubscriberUnsubscribed {
			out = cur
			return nil
		}
		now := s.Now()
		if _, err := tx.ExecContext(ctx, s.q(unsubscribeSubscriber), cur.ID, now); err != nil {
			return fmt.Errorf("store: unsubscribe: %w", err)
		}
		before := subscriberAudit(cur)
		cur.State, cur.UnsubscribedAt = herald.SubscriberUnsubscribed, &now
		out = cur
		return s.audit(ctx, tx, auditRecord{Actor: "subscriber", Action: "subscriber.unsubscribe", Entity: "subscriber",
			EntityID: cur.ID, Before: before, After: subscriberAudit(cur)})
	})
	return out, err
}

// ConfirmedSubscribersFor returns up to limit confirmed subscribers of a
// channel whom the incident concerns (herald.Subscriber.Wants), in id
// order after afterID (""): the fan-out streams through them a page at a
// time, so memory does not grow with their number. A drill concerns
// nobody.
func (s *Store) ConfirmedSubscribersFor(ctx context.Context, in herald.Incident, ch herald.SubscriberChannel, afterID string, limit int) ([]herald.Subscriber, error) {
	if in.Drill {
		return nil, nil
	}
	limit = max(1, min(limit, 10000))
	query := `SELECT ` + subscriberColumns + ` FROM subscribers s WHERE channel = $1 AND state = 'confirmed' AND id > $2`
	args := []any{ch, afterID}
	if len(in.ComponentIDs) > 0 {
		ph := make([]string, len(in.ComponentIDs))
		for i, id := range in.ComponentIDs {
			args = append(args, id)
			ph[i] = "$" + strconv.Itoa(len(args))
		}
		query += ` AND (all_components OR EXISTS (SELECT 1 FROM subscriber_components sc WHERE sc.subscriber_id = s.id
			AND sc.component_id IN (` + strings.Join(ph, ", ") + `)))`
	}
	query += ` ORDER BY id LIMIT ` + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: subscribers for incident: %w", err)
	}
	var out []herald.Subscriber
	for rows.Next() {
		sub, err := scanSubscriber(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, sub)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: subscribers for incident: %w", err)
	}
	// Components per subscriber of this page only: one query.
	if err := s.fillSubscriberComponents(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// CountSubscribers counts subscribers per channel and state.
func (s *Store) CountSubscribers(ctx context.Context) (herald.SubscriberCounts, error) {
	rows, err := s.db.QueryContext(ctx, countSubscribersBy)
	if err != nil {
		return nil, fmt.Errorf("store: count subscribers: %w", err)
	}
	defer rows.Close()
	out := herald.SubscriberCounts{}
	for rows.Next() {
		var ch herald.SubscriberChannel
		var st herald.SubscriberState
		var n int
		if err := rows.Scan(&ch, &st, &n); err != nil {
			return nil, fmt.Errorf("store: scan subscriber count: %w", err)
		}
		if out[ch] == nil {
			out[ch] = map[herald.SubscriberState]int{}
		}
		out[ch][st] = n
	}
	return out, rows.Err()
}

// RecordSubscribeAttempt notes a sign-up request under key (an address or
// a network, herald.SubscribeAddressKey and SubscribeNetworkKey) and
// prunes attempts older than a day.
func (s *Store) RecordSubscribeAttempt(ctx context.Context, key string) error {
	now := s.Now()
	if _, err := s.db.ExecContext(ctx, s.q(insertSubscribeTry), key, now); err != nil {
		return fmt.Errorf("store: record subscribe attempt: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(pruneSubscribeTries), now.Add(-24*time.Hour)); err != nil {
		return fmt.Errorf("store: prune subscribe attempts: %w", err)
	}
	return nil
}

// SubscribeAttempts counts the sign-up requests under key since a time.
func (s *Store) SubscribeAttempts(ctx context.Context, key string, since time.Time) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(countSubscribeTries), key, since.UTC()).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count subscribe attempts: %w", err)
	}
	return n, nil
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func scanSubscriber(r scanner) (herald.Subscriber, error) {
	var sub herald.Subscriber
	var expires, confirmed, unsubscribed, disabled sql.NullTime
	err := r.Scan(&sub.ID, &sub.Channel, &sub.Address, &sub.AllComponents, &sub.State, &expires, &sub.WebhookSecret,
		&sub.OwnerEmail, &sub.Failures, &sub.Source, &sub.CreatedAt, &confirmed, &unsubscribed, &disabled)
	if err != nil {
		return sub, err
	}
	sub.CreatedAt = sub.CreatedAt.UTC()
	sub.ConfirmExpiresAt, sub.ConfirmedAt = timePtr(expires), timePtr(confirmed)
	sub.UnsubscribedAt, sub.DisabledAt = timePtr(unsubscribed), timePtr(disabled)
	return sub, nil
}

// subscriberRow reads one subscriber with its components.
func (s *Store) subscriberRow(ctx context.Context, db rowQuerier, query string, args ...any) (herald.Subscriber, error) {
	sub, err := scanSubscriber(db.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return sub, fmt.Errorf("store: subscriber: %w", herald.ErrNotFound)
	}
	if err != nil {
		return sub, fmt.Errorf("store: subscriber: %w", err)
	}
	rows, err := db.QueryContext(ctx, s.q(selectSubscriberComps), sub.ID)
	if err != nil {
		return sub, fmt.Errorf("store: subscriber components: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return sub, fmt.Errorf("store: scan subscriber component: %w", err)
		}
		sub.ComponentIDs = append(sub.ComponentIDs, id)
	}
	return sub, rows.Err()
}

func (s *Store) fillSubscriberComponents(ctx context.Context, subs []herald.Subscriber) error {
	var ids []any
	var ph []string
	at := map[string]int{}
	for i, sub := range subs {
		if sub.AllComponents {
			continue
		}
		ids = append(ids, sub.ID)
		ph = append(ph, "$"+strconv.Itoa(len(ids)))
		at[sub.ID] = i
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT subscriber_id, component_id FROM subscriber_components
		WHERE subscriber_id IN (`+strings.Join(ph, ", ")+`) ORDER BY subscriber_id, component_id`), ids...)
	if err != nil {
		return fmt.Errorf("store: subscriber components: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sid, cid string
		if err := rows.Scan(&sid, &cid); err != nil {
			return fmt.Errorf("store: scan subscriber component: %w", err)
		}
		subs[at[sid]].ComponentIDs = append(subs[at[sid]].ComponentIDs, cid)
	}
	return rows.Err()
}

func (s *Store) setSubscriberComponents(ctx context.Context, tx *sql.Tx, id string, componentIDs []string) error {
	if _, err := tx.ExecContext(ctx, s.q(deleteSubscriberComps), id); err != nil {
		return fmt.Errorf("store: clear subscriber components: %w", err)
	}
	for _, c := range componentIDs {
		if _, err := tx.ExecContext(ctx, s.q(insertSubscriberComp), id, c); err != nil {
			return fmt.Errorf("store: add subscriber component: %w", err)
		}
	}
	return nil
}

// knownComponents maps the components by id, read outside any write
// (locking them, as componentMap does, is not needed to validate a choice).
func (s *Store) knownComponents(ctx context.Context) (map[string]herald.Component, error) {
	list, err := s.Components(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]herald.Component, len(list))
	for _, c := range list {
		m[c.ID] = c
	}
	return m, nil
}

// subscriberAudit is what the audit log keeps of a subscriber: never its
// token, secret or (beyond the channel) its address.
func subscriberAudit(sub herald.Subscriber) map[string]any {
	return map[string]any{"channel": sub.Channel, "state": sub.State, "all_components": sub.AllComponents,
		"components": sub.ComponentIDs, "source": sub.Source}
}

// subscriberByLink locks the subscriber of a manage or unsubscribe link's
// token, random or signed.
func (s *Store) subscriberByLink(ctx context.Context, tx *sql.Tx, token string) (herald.Subscriber, error) {
	query, arg, ok, err := s.subscriberLookup(ctx, token, true)
	if err != nil {
		return herald.Subscriber{}, err
	}
	if !ok {
		return herald.Subscriber{}, fmt.Errorf("store: subscriber link: %w", herald.ErrNotFound)
	}
	return s.subscriberRow(ctx, tx, query, arg)
}

// linkKeyFor loads the signing key before a transaction that will check a
// signed token: creating it inside would wait on the transaction's own
// write lock on SQLite.
func (s *Store) linkKeyFor(ctx context.Context, token string) error {
	if !herald.IsSubscriberLinkToken(token) {
		return nil
	}
	_, err := s.subscriberLinkKey(ctx)
	return err
}
