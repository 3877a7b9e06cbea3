package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"fmt"

	"github.com/kredete/herald"
)

const (
	selectSubscriberCode = `SELECT confirm_code_hash FROM subscribers WHERE id = $1`
	voidSubscriberCode   = `UPDATE subscribers SET confirm_code_hash = '', updated_at = $2 WHERE id = $1`
	// STOP ends the subscription and voids a pending code.
	stopSubscriber = `UPDATE subscribers SET state = 'unsubscribed', unsubscribed_at = $2, confirm_code_hash = '',
		confirm_expires_at = NULL, updated_at = $2 WHERE id = $1`
	// START resumes a subscription that had been confirmed.
	startSubscriber = `UPDATE subscribers SET state = 'confirmed', unsubscribed_at = NULL, updated_at = $2 WHERE id = $1`
)

// ConfirmSubscriberCode confirms the pending SMS subscription of a number
// (E.164, as herald.NormalizePhone returns it) with the code texted to it,
// and gives the subscriber a new link token (for its manage page). A wrong
// code is herald.ErrWrongCode and is counted: the herald.MaxCodeTries-th
// wrong one voids the code. A code past herald.SMSCodeWindow, voided or
// replaced, or a number not pending, is herald.ErrSubscriptionExpired; an
// unknown number herald.ErrNotFound. Callers show one message for all
// three.
func (s *Store) ConfirmSubscriberCode(ctx context.Context, number, code string) (herald.Subscriber, string, error) {
	var out herald.Subscriber
	var wrong bool
	token, hash := herald.NewSubscriberToken()
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		cur, err := s.subscriberRow(ctx, tx, s.q(selectSubscriberByAddress+forUpdate(s)), herald.SubscriberSMS, number)
		if err != nil {
			return err
		}
		expired := fmt.Errorf("store: confirm code: %w", herald.ErrSubscriptionExpired)
		if cur.State != herald.SubscriberPending || cur.ConfirmExpiresAt == nil {
			return expired
		}
		var codeHash string
		if err := tx.QueryRowContext(ctx, s.q(selectSubscriberCode), cur.ID).Scan(&codeHash); err != nil {
			return fmt.Errorf("store: confirm code: %w", err)
		}
		now := s.Now()
		if codeHash == "" || !now.Before(*cur.ConfirmExpiresAt) {
			return expired
		}
		// Wrong tries are counted per code, since it was issued: a new
		// code (subscribing again) starts from none.
		issued := cur.ConfirmExpiresAt.Add(-herald.SMSCodeWindow)
		key := herald.SubscribeCodeKey(codeHash)
		var tries int
		if err := tx.QueryRowContext(ctx, s.q(countSubscribeTries), key, issued).Scan(&tries); err != nil {
			return fmt.Errorf("store: count code tries: %w", err)
		}
		if tries >= herald.MaxCodeTries {
			return expired
		}
		if subtle.ConstantTimeCompare([]byte(herald.HashConfirmCode(cur.ID, code)), []byte(codeHash)) != 1 {
			// Recorded in this transaction, which commits: the error is
			// returned after it.
			wrong = true
			if _, err := tx.ExecContext(ctx, s.q(insertSubscribeTry), key, now); err != nil {
				return fmt.Errorf("store: record code try: %w", err)
			}
			if tries+1 >= herald.MaxCodeTries {
				if _, err := tx.ExecContext(ctx, s.q(voidSubscriberCode), cur.ID, now); err != nil {
					return fmt.Errorf("store: void code: %w", err)
				}
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.q(confirmSubscriber), cur.ID, now); err != nil {
			return fmt.Errorf("store: confirm code: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(rotateSubscriberToken), cur.ID, hash, now); err != nil {
			return fmt.Errorf("store: rotate subscriber token: %w", err)
		}
		before := subscriberAudit(cur)
		cur.State, cur.ConfirmedAt, cur.ConfirmExpiresAt = herald.SubscriberConfirmed, &now, nil
		out = cur
		return s.audit(ctx, tx, auditRecord{Actor: "subscriber", Action: "subscriber.confirm", Entity: "subscriber",
			EntityID: cur.ID, Before: before, After: subscriberAudit(cur)})
	})
	if err != nil {
		return herald.Subscriber{}, "", err
	}
	if wrong {
		return herald.Subscriber{}, "", fmt.Errorf("store: confirm code: %w", herald.ErrWrongCode)
	}
	return out, token, nil
}

// UnsubscribeByAddress ends the subscription of a channel's address, as
// an SMS subscriber's STOP asks: whatever its state, it becomes
// unsubscribed and a pending code is void. Idempotent; herald.ErrNotFound
// when no subscriber has the address.
func (s *Store) UnsubscribeByAddress(ctx context.Context, ch herald.SubscriberChannel, address string) (herald.Subscriber, error) {
	var out herald.Subscriber
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		cur, err := s.subscriberRow(ctx, tx, s.q(selectSubscriberByAddress+forUpdate(s)), ch, address)
		if err != nil {
			return err
		}
		out = cur
		if cur.State == herald.SubscriberUnsubscribed {
			return nil
		}
		now := s.Now()
		if _, err := tx.ExecContext(ctx, s.q(stopSubscriber), cur.ID, now); err != nil {
			return fmt.Errorf("store: unsubscribe by address: %w", err)
		}
		before := subscriberAudit(cur)
		cur.State, cur.UnsubscribedAt, cur.ConfirmExpiresAt = herald.SubscriberUnsubscribed, &now, nil
		out = cur
		after := subscriberAudit(cur)
		after["via"] = "keyword"
		return s.audit(ctx, tx, auditRecord{Actor: "subscriber", Action: "subscriber.unsubscribe", Entity: "subscriber",
			EntityID: cur.ID, Before: before, After: after})
	})
	return out, err
}

// ResubscribeByAddress resumes the subscription of a channel's address, as
// an SMS subscriber's START asks, only when it had been confirmed before
// it was ended: START never confirms a number nobody proved. It returns
// the subscriber as it is afterwards (still unsubscribed or pending when
// it was not resumed); herald.ErrNotFound when no subscriber has the
// address.
func (s *Store) ResubscribeByAddress(ctx context.Context, ch herald.SubscriberChannel, address string) (herald.Subscriber, error) {
	var out herald.Subscriber
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		cur, err := s.subscriberRow(ctx, tx, s.q(selectSubscriberByAddress+forUpdate(s)), ch, address)
		if err != nil {
			return err
		}
		out = cur
		if cur.State != herald.SubscriberUnsubscribed || cur.ConfirmedAt == nil {
			return nil
		}
		now := s.Now()
		if _, err := tx.ExecContext(ctx, s.q(startSubscriber), cur.ID, now); err != nil {
			return fmt.Errorf("store: resubscribe by address: %w", err)
		}
		before := subscriberAudit(cur)
		cur.State, cur.UnsubscribedAt = herald.SubscriberConfirmed, nil
		out = cur
		after := subscriberAudit(cur)
		after["via"] = "keyword"
		return s.audit(ctx, tx, auditRecord{Actor: "subscriber", Action: "subscriber.resubscribe", Entity: "subscriber",
			EntityID: cur.ID, Before: before, After: after})
	})
	return out, err
}
