// Package auth hashes and checks console passwords (argon2id, in the PHC
// string form) and decides when sign-in attempts must be throttled.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters. Defaults follow OWASP's password
// storage guidance (19 MiB, 2 passes, 1 lane).
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams are used for new hashes.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// ErrMismatch means the password is wrong.
var ErrMismatch = errors.New("auth: password does not match")

// Hash returns the PHC string of the password, e.g.
// $argon2id$v=19$m=19456,t=2,p=1$salt$hash.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check compares a password with a PHC string in constant time.
func Check(password, encoded string) error {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("auth: unknown hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return errors.New("auth: unsupported argon2 version")
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return errors.New("auth: bad argon2 parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return errors.New("auth: bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return errors.New("auth: bad hash")
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// dummyHash is checked when the account does not exist, so a wrong email
// takes as long as a wrong password and timing tells nothing. It is made on
// first use: argon2 takes 19 MiB, which an idle status page should not hold.
var dummyHash = sync.OnceValue(func() string {
	h, _ := Hash("herald-dummy-password", DefaultParams)
	return h
})

// CheckMissing spends the same time as Check and always fails.
func CheckMissing(password string) error {
	Check(password, dummyHash()) //nolint:errcheck // the answer is always no
	return ErrMismatch
}

// Hasher hashes with fixed parameters; the console uses it through a small
// interface so tests can use cheaper parameters.
type Hasher struct{ Params Params }

// Hash returns the PHC string of the password.
func (h Hasher) Hash(password string) (string, error) { return Hash(password, h.Params) }

// Check compares a password with a stored hash.
func (h Hasher) Check(password, encoded string) error { return Check(password, encoded) }

// CheckMissing spends a check's time and fails, for unknown accounts.
func (h Hasher) CheckMissing(password string) error { return CheckMissing(password) }
