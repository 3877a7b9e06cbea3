package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/kredete/herald"
)

// auditRecord is one write to log: who, what, before and after. The log is
// append-only: the store has no method that changes or removes an entry.
type auditRecord struct {
	Actor      string
	Action     string // e.g. "incident.declare", "incident.change", "user.role"
	IncidentID string
	Entity     string
	EntityID   string
	Before     any // marshalled to JSON; nil for a creation
	After      any
}

const (
	insertAudit = `INSERT INTO audit_log (at, actor, action, incident_id, entity, entity_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	selectAudit = `SELECT id, at, actor, action, COALESCE(incident_id, ''), entity, entity_id, COALESCE(before, ''),
		COALESCE(after, '') FROM audit_log`
)

// audit appends an entry inside the caller's transaction, so the entry
// exists exactly when the write does.
func (s *Store) audit(ctx context.Context, tx *sql.Tx, e auditRecord) error {
	enc := func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	before, err := enc(e.Before)
	if err != nil {
		return fmt.Errorf("store: audit before: %w", err)
	}
	after, err := enc(e.After)
	if err != nil {
		return fmt.Errorf("store: audit after: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(insertAudit), s.Now(), e.Actor, e.Action, nullString(e.IncidentID), e.Entity,
		e.EntityID, before, after); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// Audit lists entries newest first: one incident's when incidentID is set,
// else all, at most limit.
func (s *Store) Audit(ctx context.Context, incidentID string, limit int) ([]herald.AuditEntry, error) {
	query, args := selectAudit, []any{}
	if incidentID != "" {
		query += ` WHERE incident_id = $1`
		args = append(args, incidentID)
	}
	query += fmt.Sprintf(` ORDER BY at DESC, id DESC LIMIT %d`, max(1, limit))
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []herald.AuditEntry
	for rows.Next() {
		var e herald.AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.IncidentID, &e.Entity, &e.EntityID, &e.Before, &e.After); err != nil {
			return nil, fmt.Errorf("store: scan audit: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
