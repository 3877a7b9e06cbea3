package auth

import (
	"errors"
	"strings"
	"testing"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashAndCheck(t *testing.T) {
	h, err := Hash("correct horse battery staple", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the parameters", h)
	}
	if err := Check("correct horse battery staple", h); err != nil {
		t.Errorf("the right password was refused: %v", err)
	}
	if err := Check("correct horse battery stapler", h); !errors.Is(err, ErrMismatch) {
		t.Errorf("a wrong password gave %v, want ErrMismatch", err)
	}
	h2, _ := Hash("correct horse battery staple", cheap)
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestCheckRefusesMalformedHashes(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=x$c2FsdA$aGFzaA", "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA"} {
		if err := Check("pw", h); err == nil {
			t.Errorf("Check accepted the malformed hash %q", h)
		}
	}
}

func TestCheckMissingAlwaysFails(t *testing.T) {
	if err := CheckMissing("herald-dummy-password"); !errors.Is(err, ErrMismatch) {
		t.Errorf("CheckMissing gave %v, want ErrMismatch even for the dummy's own password", err)
	}
}
