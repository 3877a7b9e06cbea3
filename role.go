package herald

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Role is what a console user may do. A user has one role.
type Role string

// The roles.
const (
	RoleViewer    Role = "viewer"    // reads the console
	RoleResponder Role = "responder" // adds timeline notes
	RoleCommander Role = "commander" // declares, updates, resolves, assigns roles
	RoleDBA       Role = "dba"       // may execute database runbooks
	RoleApprover  Role = "approver"  // VP of Engineering: approves gated actions
	RoleComms     Role = "comms"     // communications lead: manages the status page's subscribers
	RoleAdmin     Role = "admin"     // users, components, configuration, and everything else
)

// Roles lists every role, least privileged first.
var Roles = []Role{RoleViewer, RoleResponder, RoleCommander, RoleDBA, RoleApprover, RoleComms, RoleAdmin}

// ParseRole checks s against the roles.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", invalid("role", s, Roles)
}

// Permission is one thing a role allows. Routes check permissions, never
// role names, so the matrix lives here and only here.
type Permission string

// The permissions.
const (
	PermReadConsole      Permission = "read_console"
	PermAddNote          Permission = "add_note"
	PermManageIncidents  Permission = "manage_incidents" // declare, update, resolve, reopen, assign roles, component status
	PermManageComponents Permission = "manage_components"
	PermScheduleMaint    Permission = "schedule_maintenance"
	PermExecuteDBRunbook Permission = "execute_db_runbook" // start a gated runbook once approved (the DBA)
	PermRunActions       Permission = "run_actions"        // move the steps of a running failover action
	PermApprove          Permission = "approve"
	PermManageUsers      Permission = "manage_users"
	PermReadAudit        Permission = "read_audit"
	// PermManageSubscribers: list, search, remove, import and export the
	// status page's subscribers (the console's Subscribers page).
	PermManageSubscribers Permission = "manage_subscribers"
)

var grants = map[Role][]Permission{
	RoleViewer:    {PermReadConsole},
	RoleResponder: {PermReadConsole, PermAddNote},
	RoleCommander: {PermReadConsole, PermAddNote, PermManageIncidents, PermManageComponents, PermScheduleMaint, PermRunActions},
	RoleDBA:       {PermReadConsole, PermAddNote, PermExecuteDBRunbook, PermRunActions},
	RoleApprover:  {PermReadConsole, PermAddNote, PermApprove},
	RoleComms:     {PermReadConsole, PermManageSubscribers},
	RoleAdmin: {PermReadConsole, PermAddNote, PermManageIncidents, PermManageComponents, PermScheduleMaint,
		PermManageUsers, PermReadAudit, PermRunActions, PermManageSubscribers},
}

// Can reports whether the role grants the permission.
func (r Role) Can(p Permission) bool {
	for _, g := range grants[r] {
		if g == p {
			return true
		}
	}
	return false
}

// Label is the role's human name.
func (r Role) Label() string {
	switch r {
	case RoleDBA:
		return "DBA"
	case RoleApprover:
		return "Approver (VP of Engineering)"
	case RoleComms:
		return "Communications lead"
	case "":
		return ""
	}
	return strings.ToUpper(string(r[:1])) + string(r[1:])
}

// User is a console account.
type User struct {
	ID        string
	Email     string
	Name      string
	Phone     string
	Role      Role
	Disabled  bool
	CreatedAt time.Time
	// SlackUserID is the Slack member linked to the user (by a verified
	// email, or by an admin): /incident and Slack's buttons act as the
	// user. Empty when none.
	SlackUserID string
}

// NewUser is what it takes to add a user.
type NewUser struct {
	Email    string
	Name     string
	Phone    string
	Role     Role
	Password string
}

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 12

// Validate checks a new user's fields and normalises the email.
func (u *NewUser) Validate() error {
	var errs ValidationErrors
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.Name = strings.TrimSpace(u.Name)
	u.Phone = strings.TrimSpace(u.Phone)
	if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
		errs.Add("email", fmt.Sprintf("%q is not an email address", u.Email))
	}
	checkText(&errs, "name", u.Name, MaxNameLen)
	if u.Phone != "" && !validE164(u.Phone) {
		errs.Add("phone", "must be in international form, e.g. +27215550123")
	}
	if _, err := ParseRole(string(u.Role)); err != nil {
		errs.Add("role", err.(*ValidationError).Problem)
	}
	if len([]rune(u.Password)) < MinPasswordLen {
		errs.Add("password", fmt.Sprintf("must be at least %d characters", MinPasswordLen))
	}
	return errs.Err()
}

func validE164(p string) bool {
	if len(p) < 8 || len(p) > 16 || p[0] != '+' {
		return false
	}
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
