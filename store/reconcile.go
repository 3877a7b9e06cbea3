package store

import (
	"context"
	"fmt"

	"github.com/kredete/herald"
)

// ProviderIDUsed reports whether a delivery other than exceptID, on the
// channel, was recorded with the vendor's id providerID. The engine asks
// before recording a message found at the vendor for an interrupted
// attempt: where the vendor is searched by content (Twilio: the same text
// to the same phone), an earlier delivery's message must not be taken for
// this one's. Edits are left out: they record their thread parent's ts.
func (s *Store) ProviderIDUsed(ctx context.Context, channel herald.Channel, providerID, exceptID string) (bool, error) {
	if providerID == "" {
		return false, nil
	}
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM deliveries WHERE channel = $1 AND provider_id = $2
		AND id <> $3 AND kind <> 'edit'`), channel, providerID, exceptID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: provider id: %w", err)
	}
	return n > 0, nil
}
