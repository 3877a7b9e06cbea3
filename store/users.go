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
	userColumns = `id, email, name, phone, role, disabled, created_at, slack_user_id`
	insertUser  = `INSERT INTO users (id, email, name, phone, role, password_hash, disabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $7)`
	selectUserByEmail  = `SELECT ` + userColumns + `, password_hash FROM users WHERE email = $1`
	selectUserByID     = `SELECT ` + userColumns + ` FROM users WHERE id = $1`
	selectUsers        = `SELECT ` + userColumns + ` FROM users ORDER BY name, email`
	countUsers         = `SELECT COUNT(*) FROM users`
	updateUserRole     = `UPDATE users SET role = $2, updated_at = $3 WHERE id = $1`
	updateUserDisabled = `UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1`
	insertFailure      = `INSERT INTO login_failures (key, at) VALUES ($1, $2)`
	countFailures      = `SELECT COUNT(*) FROM login_failures WHERE key = $1 AND at >= $2`
	clearFailures      = `DELETE FROM login_failures WHERE key = $1`
	pruneFailures      = `DELETE FROM login_failures WHERE at < $1`
)

// ErrUserExists means the email is taken.
var ErrUserExists = fmt.Errorf("a user with this email already exists: %w", herald.ErrConflict)

// CreateUser stores a new user with an already hashed password.
func (s *Store) CreateUser(ctx context.Context, u herald.NewUser, passwordHash, actor string) (herald.User, error) {
	if err := u.Validate(); err != nil {
		return herald.User{}, err
	}
	now := s.Now()
	out := herald.User{ID: newID(), Email: u.Email, Name: u.Name, Phone: u.Phone, Role: u.Role, CreatedAt: now}
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(insertUser), out.ID, out.Email, out.Name, out.Phone, out.Role, passwordHash, now); err != nil {
			if isUnique(err) {
				return ErrUserExists
			}
			return fmt.Errorf("store: insert user: %w", err)
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "user.create", Entity: "user", EntityID: out.ID,
			After: map[string]any{"email": out.Email, "name": out.Name, "role": out.Role}})
	})
	return out, err
}

// UserByEmail returns the user and their password hash.
func (s *Store) UserByEmail(ctx context.Context, email string) (herald.User, string, error) {
	var u herald.User
	var hash string
	err := s.db.QueryRowContext(ctx, s.q(selectUserByEmail), strings.ToLower(strings.TrimSpace(email))).
		Scan(&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.Disabled, &u.CreatedAt, &u.SlackUserID, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return u, "", fmt.Errorf("store: user %q: %w", email, herald.ErrNotFound)
	}
	if err != nil {
		return u, "", fmt.Errorf("store: user by email: %w", err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, hash, nil
}

// User returns a user by id.
func (s *Store) User(ctx context.Context, id string) (herald.User, error) {
	var u herald.User
	err := s.db.QueryRowContext(ctx, s.q(selectUserByID), id).
		Scan(&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.Disabled, &u.CreatedAt, &u.SlackUserID)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("store: user %q: %w", id, herald.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("store: user: %w", err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]herald.User, error) {
	rows, err := s.db.QueryContext(ctx, selectUsers)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	var out []herald.User
	for rows.Next() {
		var u herald.User
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.Disabled, &u.CreatedAt, &u.SlackUserID); err != nil {
			return nil, fmt.Errorf("store: scan user: %w", err)
		}
		u.CreatedAt = u.CreatedAt.UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers says how many users exist (the first admin is bootstrapped
// only into an empty table).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, countUsers).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// SetUserRole changes a user's role, audited.
func (s *Store) SetUserRole(ctx context.Context, id string, role herald.Role, actor string) error {
	if _, err := herald.ParseRole(string(role)); err != nil {
		return err
	}
	return s.transact(ctx, false, func(tx *sql.Tx) error {
		var before string
		err := tx.QueryRowContext(ctx, s.q(`SELECT role FROM users WHERE id = $1`+forUpdate(s)), id).Scan(&before)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: user %q: %w", id, herald.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: user role: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(updateUserRole), id, role, s.Now()); err != nil {
			return fmt.Errorf("store: set role: %w", err)
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "user.role", Entity: "user", EntityID: id,
			Before: map[string]any{"role": before}, After: map[string]any{"role": role}})
	})
}

// SetUserDisabled disables or re-enables a user, audited. A disabled user
// cannot sign in, and their open sessions end at their next request.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, actor string) error {
	return s.transact(ctx, false, func(tx *sql.Tx) error {
		var before bool
		err := tx.QueryRowContext(ctx, s.q(`SELECT disabled FROM users WHERE id = $1`+forUpdate(s)), id).Scan(&before)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: user %q: %w", id, herald.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: user disabled: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(updateUserDisabled), id, disabled, s.Now()); err != nil {
			return fmt.Errorf("store: set disabled: %w", err)
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "user.disabled", Entity: "user", EntityID: id,
			Before: map[string]any{"disabled": before}, After: map[string]any{"disabled": disabled}})
	})
}

func forUpdate(s *Store) string {
	if s.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// RecordLoginFailure notes a failed sign-in under key (an account or an
// address).
func (s *Store) RecordLoginFailure(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, s.q(insertFailure), key, s.Now()); err != nil {
		return fmt.Errorf("store: record login failure: %w", err)
	}
	return nil
}

// LoginFailures counts failures under key since a time.
func (s *Store) LoginFailures(ctx context.Context, key string, since time.Time) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(countFailures), key, since.UTC()).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count login failures: %w", err)
	}
	return n, nil
}

// ClearLoginFailures forgets an account's failures after a good sign-in,
// and prunes failures older than a day.
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, s.q(clearFailures), key); err != nil {
		return fmt.Errorf("store: clear login failures: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(pruneFailures), s.Now().Add(-24*time.Hour)); err != nil {
		return fmt.Errorf("store: prune login failures: %w", err)
	}
	return nil
}

// isUnique reports a unique-constraint violation on either dialect.
func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint") || strings.Contains(err.Error(), "SQLSTATE 23505"))
}

// UserBySlackID returns the user linked to a Slack member.
func (s *Store) UserBySlackID(ctx context.Context, slackUserID string) (herald.User, error) {
	var u herald.User
	if slackUserID == "" {
		return u, fmt.Errorf("store: no Slack member: %w", herald.ErrNotFound)
	}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE slack_user_id = $1`), slackUserID).
		Scan(&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.Disabled, &u.CreatedAt, &u.SlackUserID)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("store: Slack member %q: %w", slackUserID, herald.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("store: user by Slack member: %w", err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// LinkSlackUser ties a user to a Slack member (empty unlinks): what a
// command from that member may do is what the user may do. A member
// linked to another user is moved (the newest link wins: an admin's
// correction, or a verified email).
func (s *Store) LinkSlackUser(ctx context.Context, userID, slackUserID, actor string) (herald.User, error) {
	var out herald.User
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		var before string
		err := tx.QueryRowContext(ctx, s.q(`SELECT slack_user_id FROM users WHERE id = $1`+forUpdate(s)), userID).Scan(&before)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: user %q: %w", userID, herald.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: link Slack member: %w", err)
		}
		now := s.Now()
		if slackUserID == "" {
			// Unlinked by an admin: marked so that the member is not linked
			// again by its email (UserBySlackID never matches the mark).
			slackUserID = herald.SlackUnlinked(userID)
		} else {
			// The member moves: the user it was linked to loses it, on
			// the record too.
			var from string
			err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM users WHERE slack_user_id = $1 AND id <> $2`), slackUserID, userID).Scan(&from)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("store: link Slack member: %w", err)
			default:
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE users SET slack_user_id = '', updated_at = $2 WHERE id = $1`), from, now); err != nil {
					return fmt.Errorf("store: link Slack member: %w", err)
				}
				if err := s.audit(ctx, tx, auditRecord{Actor: actor, Action: "user.slack", Entity: "user", EntityID: from,
					Before: map[string]any{"slack_user_id": slackUserID}, After: map[string]any{"slack_user_id": ""}}); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE users SET slack_user_id = $2, updated_at = $3 WHERE id = $1`), userID, slackUserID, now); err != nil {
			return fmt.Errorf("store: link Slack member: %w", err)
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "user.slack", Entity: "user", EntityID: userID,
			Before: map[string]any{"slack_user_id": before}, After: map[string]any{"slack_user_id": slackUserID}})
	})
	if err != nil {
		return out, err
	}
	return s.User(ctx, userID)
}

// ClaimOnce records key and reports whether it was new: what arrives
// twice (Slack delivering a request again) is handled once.
//
// Keys under "slack/trigger/" are kept an hour (Slack retries within
// minutes), then pruned by later claims.
func (s *Store) ClaimOnce(ctx context.Context, key string) (bool, error) {
	first := false
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		now := s.Now()
		var err error
		if first, err = s.claimKey(ctx, tx, key, now); err != nil {
			return err
		}
		if strings.HasPrefix(key, slackTriggerKeys) {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM engine_keys WHERE key >= $1 AND key < $2 AND created_at < $3`),
				slackTriggerKeys, slackTriggerKeys[:len(slackTriggerKeys)-1]+"0", now.Add(-time.Hour)); err != nil {
				return fmt.Errorf("store: prune Slack triggers: %w", err)
			}
		}
		return nil
	})
	return first, err
}

// slackTriggerKeys prefixes the claims of Slack's triggers; the range
// [prefix, prefix with "/" → "0") holds exactly them, and uses the key's
// index on both databases (LIKE would not, under PostgreSQL's collation).
const slackTriggerKeys = "slack/trigger/"

// ReleaseClaim forgets a ClaimOnce key: what it guarded failed, and a
// retry must be handled.
func (s *Store) ReleaseClaim(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM engine_keys WHERE key = $1`), key); err != nil {
		return fmt.Errorf("store: release %s: %w", key, err)
	}
	return nil
}
