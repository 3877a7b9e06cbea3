package herald

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"time"
)

// SMSCodeWindow is how long an SMS confirmation code stays valid: a code
// is typed from the phone in hand, so it is short-lived (a mailed link
// lasts ConfirmWindow).
const SMSCodeWindow = 15 * time.Minute

// MaxCodeTries is how many wrong codes a pending SMS subscription takes;
// the code is void after the last one (subscribe again for a new one).
// With 6 digits, a guesser's chance per code is 5 in a million.
const MaxCodeTries = 5

// MaxCodeTriesPerNetwork bounds, within SubscribeLimitWindow, the codes
// one network (herald.SubscribeNetworkKey) may submit across all numbers.
const MaxCodeTriesPerNetwork = 30

// ConfirmCodeLen is the number of digits of an SMS confirmation code.
const ConfirmCodeLen = 6

// NewConfirmCode returns a random 6-digit code (leading zeros kept).
func NewConfirmCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("herald: crypto/rand: " + err.Error()) // crypto/rand does not fail
	}
	s := n.String()
	return strings.Repeat("0", ConfirmCodeLen-len(s)) + s
}

// HashConfirmCode is the stored form of a subscriber's code: SHA-256 over
// the subscriber's id and the code, so equal codes of two subscribers do
// not hash alike and a row's hash says nothing of another's. (A 6-digit
// code can be found from its hash by trying them all; the hash keeps it
// off screens and logs, and the code lives 15 minutes.)
func HashConfirmCode(subscriberID, code string) string {
	sum := sha256.Sum256([]byte("sms-code\x00" + subscriberID + "\x00" + code))
	return hex.EncodeToString(sum[:])
}

// ValidConfirmCode reports whether s has a code's shape: six ASCII digits.
func ValidConfirmCode(s string) bool {
	if len(s) != ConfirmCodeLen {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// SubscribeCodeKey is the key of the wrong tries at one code among the
// subscribe attempts, given the code's stored hash (HashConfirmCode): a
// new code starts from no tries.
func SubscribeCodeKey(codeHash string) string { return "sms-code:" + codeHash }

// SubscribeCodeNetworkKey is the key of the codes submitted from a
// client's network (its /24 or /48, as SubscribeNetworkKey).
func SubscribeCodeNetworkKey(ip string) string { return "sms-code-" + SubscribeNetworkKey(ip) }

// SMSKeyword is what an inbound text asks of Herald.
type SMSKeyword int

// Inbound keywords. Carriers and Twilio answer STOP and START themselves;
// Herald only keeps its subscribers in step.
const (
	SMSOther SMSKeyword = iota // anything else: ignored
	SMSStop                    // STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT
	SMSStart                   // START, UNSTOP
)

// ParseSMSKeyword reads an inbound text's body: the whole body, trimmed,
// in any case, is the keyword ("stop please" is not STOP, as for Twilio).
func ParseSMSKeyword(body string) SMSKeyword {
	switch strings.ToUpper(strings.TrimSpace(body)) {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT":
		return SMSStop
	case "START", "UNSTOP":
		return SMSStart
	}
	return SMSOther
}

// ErrWrongCode means an SMS confirmation code does not match. The pages
// say the same for it, for an unknown number and for a code that expired
// or was voided, so they tell nobody which numbers are subscribed.
var ErrWrongCode = errors.New("the confirmation code is not right")
