package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/kredete/herald"
)

const (
	insertSigningKey = `INSERT INTO signing_keys (name, key, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`
	selectSigningKey = `SELECT key FROM signing_keys WHERE name = $1`
)

// subscriberLinkKey is the key of subscribers' signed links, created by the
// first replica that needs it and read by the others, then kept in memory.
func (s *Store) subscriberLinkKey(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.linkKey != nil {
		return s.linkKey, nil
	}
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	if _, err := s.db.ExecContext(ctx, s.q(insertSigningKey), "subscriber_links", base64.StdEncoding.EncodeToString(b), s.Now()); err != nil {
		return nil, fmt.Errorf("store: signing key: %w", err)
	}
	var enc string
	if err := s.db.QueryRowContext(ctx, s.q(selectSigningKey), "subscriber_links").Scan(&enc); err != nil {
		return nil, fmt.Errorf("store: signing key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("store: signing key is damaged")
	}
	s.linkKey = key
	return key, nil
}

// SubscriberLinkToken is the signed token for a subscriber's manage and
// unsubscribe links in the mails sent to them (herald.SubscriberLinkToken).
func (s *Store) SubscriberLinkToken(ctx context.Context, subscriberID string) (string, error) {
	key, err := s.subscriberLinkKey(ctx)
	if err != nil {
		return "", err
	}
	return herald.SubscriberLinkToken(key, subscriberID), nil
}

// subscriberLookup is how a link's token finds its subscriber: a signed
// token by the id it carries, a random one by its hash. ok is false for a
// signed token whose MAC is wrong.
func (s *Store) subscriberLookup(ctx context.Context, token string, forUpd bool) (query string, arg any, ok bool, err error) {
	lock := ""
	if forUpd {
		lock = forUpdate(s)
	}
	if !herald.IsSubscriberLinkToken(token) {
		return s.q(selectSubscriberByToken + lock), herald.HashSubscriberToken(token), true, nil
	}
	key, err := s.subscriberLinkKey(ctx)
	if err != nil {
		return "", nil, false, err
	}
	id, valid := herald.ParseSubscriberLinkToken(key, token)
	return s.q(selectSubscriberByID + lock), id, valid, nil
}
