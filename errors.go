package herald

import (
	"errors"
	"strings"
)

// Sentinel errors of the domain. Callers test them with errors.Is; the
// handlers map them to HTTP status codes in one place.
var (
	// ErrNotFound means the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the input broke a rule; the error names the field.
	ErrInvalid = errors.New("invalid input")
	// ErrInvalidTransition means the status change is not allowed from here.
	ErrInvalidTransition = errors.New("invalid status transition")
	// ErrClosed means the incident is resolved and must be reopened first.
	ErrClosed = errors.New("incident is closed")
	// ErrConflict means the thing exists already or changed underneath.
	ErrConflict = errors.New("conflict")
	// ErrForbidden means the person's role does not allow this, or a rule
	// of the plan forbids it (no one approves their own request).
	ErrForbidden = errors.New("forbidden")
)

// ValidationError names the field that is wrong and why. It matches
// ErrInvalid under errors.Is.
type ValidationError struct {
	Field   string
	Problem string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Problem }

// Is makes every ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// ValidationErrors is a list of field problems reported together, so a form
// or a configuration file shows all of them at once.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Is makes ValidationErrors match ErrInvalid.
func (es ValidationErrors) Is(target error) bool { return target == ErrInvalid }

// Add records a problem with field.
func (es *ValidationErrors) Add(field, problem string) {
	*es = append(*es, &ValidationError{Field: field, Problem: problem})
}

// Err returns nil when there are no problems, the list otherwise.
func (es ValidationErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Fields maps each field to its first problem, for showing errors next to
// form fields.
func (es ValidationErrors) Fields() map[string]string {
	m := make(map[string]string, len(es))
	for _, e := range es {
		if _, ok := m[e.Field]; !ok {
			m[e.Field] = e.Problem
		}
	}
	return m
}
