package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// RecordReminderResponse keeps an answer to an obligation's reminders
// (Slack's "Snooze 5 minutes", "I'm on it") and writes it on the
// incident's timeline; the clocks wake (the page version moves) and read
// it with the obligation. summary is the timeline's line.
//
// once names the message answered (its buttons): one answer per message,
// whichever replica or click comes first; it reports false for the
// others, which change nothing.
func (s *Store) RecordReminderResponse(ctx context.Context, r herald.ReminderResponse, summary, once string) (bool, error) {
	r.At = r.At.UTC().Truncate(time.Microsecond)
	var until any
	if !r.Until.IsZero() {
		until = r.Until.UTC().Truncate(time.Microsecond)
	}
	recorded := false
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		if once != "" {
			ok, err := s.claimKey(ctx, tx, once, s.Now())
			if err != nil || !ok {
				return err
			}
		}
		recorded = true
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO reminder_responses (id, incident_id, obligation_key, kind, at, until, actor)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`), newID(), r.IncidentID, r.ObligationKey, r.Kind, r.At, until, r.Actor); err != nil {
			return fmt.Errorf("store: reminder response: %w", err)
		}
		return s.timeline(ctx, tx, r.IncidentID, "reminder", r.Actor, summary, r.At)
	})
	return recorded && err == nil, err
}

// ReminderResponses lists the answers to the reminders of the incidents,
// oldest first.
func (s *Store) ReminderResponses(ctx context.Context, incidentIDs []string) ([]herald.ReminderResponse, error) {
	if len(incidentIDs) == 0 {
		return nil, nil
	}
	ph := make([]string, len(incidentIDs))
	args := make([]any, len(incidentIDs))
	for i, id := range incidentIDs {
		ph[i], args[i] = "$"+strconv.Itoa(i+1), id
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT incident_id, obligation_key, kind, at, until, actor FROM reminder_responses
		WHERE incident_id IN (`+strings.Join(ph, ", ")+`) ORDER BY at, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: reminder responses: %w", err)
	}
	defer rows.Close()
	var out []herald.ReminderResponse
	for rows.Next() {
		var r herald.ReminderResponse
		var until sql.NullTime
		if err := rows.Scan(&r.IncidentID, &r.ObligationKey, &r.Kind, &r.At, &until, &r.Actor); err != nil {
			return nil, fmt.Errorf("store: reminder responses: %w", err)
		}
		r.At = r.At.UTC()
		if until.Valid {
			r.Until = until.Time.UTC()
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
