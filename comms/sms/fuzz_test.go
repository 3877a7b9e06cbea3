package sms_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/sms"
)

// signedPost is a form POST as Twilio sends it, signed with the account's
// auth token over url and the parameters as the body carries them, so the
// fuzzer's bodies reach the parser. It also says whether the body parses
// and whether a parameter is repeated (Twilio signs each once: refused).
func signedPost(rawURL, body string) (r *http.Request, parses, repeated bool) {
	form, err := url.ParseQuery(body)
	r = httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", sms.Sign(authToken, rawURL, form))
	for _, v := range form {
		repeated = repeated || len(v) > 1
	}
	return r, err == nil, repeated
}

var statusName = regexp.MustCompile(`^[a-z_]+$`)

// FuzzParseStatusCallback posts fuzzed, correctly signed status callbacks.
// Never a panic; a body that does not parse is a malformed callback, not a
// forgery; one signed by the fuzzer is only refused as forged when it
// repeats a parameter; a status read carries the message id and a status
// word as posted.
func FuzzParseStatusCallback(f *testing.F) {
	for _, v := range []url.Values{
		{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "MessageStatus": {"delivered"}, "AccountSid": {accountSID},
			"From": {from}, "To": {to}, "ApiVersion": {"2010-04-01"}},
		{"MessageSid": {"SM1"}, "SmsStatus": {"undelivered"}, "ErrorCode": {"30003"}},
		{"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "ErrorCode": {"3e4"}},
		{"MessageStatus": {"sent"}},
	} {
		f.Add(v.Encode())
	}
	f.Add("MessageSid=SM1&MessageSid=SM2&MessageStatus=sent")
	f.Add("MessageSid=%zz")
	c := newClient(f, "https://api.twilio.invalid")
	f.Fuzz(func(t *testing.T, body string) {
		r, parses, repeated := signedPost(callbackURL, body)
		st, err := c.ParseStatusCallback(r, callbackURL)
		if err != nil {
			switch {
			case errors.Is(err, sms.ErrSignature) && !repeated && parses:
				t.Fatalf("a correctly signed callback is refused as forged: %v", err)
			case !parses && !errors.Is(err, sms.ErrInvalidCallback):
				t.Fatalf("a body that does not parse: %v, want ErrInvalidCallback", err)
			case !errors.Is(err, sms.ErrSignature) && !errors.Is(err, sms.ErrInvalidCallback):
				t.Fatalf("error %v is neither a bad signature nor an invalid callback", err)
			}
			noToken(t, err)
			return
		}
		if !parses || repeated {
			t.Fatalf("accepted a body that does not parse or repeats a parameter: %q", body)
		}
		form, _ := url.ParseQuery(body)
		if st.MessageSID == "" || st.MessageSID != form.Get("MessageSid") {
			t.Fatalf("MessageSID %q; posted %q", st.MessageSID, form.Get("MessageSid"))
		}
		if !statusName.MatchString(st.MessageStatus) {
			t.Fatalf("status %q is not a status word", st.MessageStatus)
		}
		if code := form.Get("ErrorCode"); code != "" && strconv.Itoa(st.ErrorCode) != strings.TrimLeft(strings.TrimPrefix(code, "+"), "0") && st.ErrorCode != 0 {
			t.Fatalf("ErrorCode %d; posted %q", st.ErrorCode, code)
		}
	})
}

// FuzzParseInbound posts fuzzed, correctly signed incoming texts and reads
// the keyword as the handler does. A text read has a sender and at most
// 1,600 characters; STOP and START are recognised exactly when the whole
// text, trimmed, in any case, is one of their words.
func FuzzParseInbound(f *testing.F) {
	for _, body := range []string{" Stop ", "STOP", "start", "UNSTOP", "stop please", "HELP", "quit\n", "ＳＴＯＰ", "stop\u00a0"} {
		f.Add(inboundForm(to, body).Encode())
	}
	f.Add(inboundForm("+44 (7700) 900-123", "cancel").Encode())
	f.Add("From=%2B447700900123&Body=" + strings.Repeat("x", 1601))
	f.Add("Body=STOP")
	c := newClient(f, "https://api.twilio.invalid")
	stop := map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true}
	start := map[string]bool{"START": true, "UNSTOP": true}
	f.Fuzz(func(t *testing.T, body string) {
		r, parses, repeated := signedPost(inboundURL, body)
		in, err := c.ParseInbound(r, inboundURL)
		if err != nil {
			switch {
			case errors.Is(err, sms.ErrSignature) && !repeated && parses:
				t.Fatalf("a correctly signed text is refused as forged: %v", err)
			case !errors.Is(err, sms.ErrSignature) && !errors.Is(err, sms.ErrInvalidInbound):
				t.Fatalf("error %v is neither a bad signature nor an invalid text", err)
			}
			noToken(t, err)
			return
		}
		if !parses || repeated {
			t.Fatalf("accepted a body that does not parse or repeats a parameter: %q", body)
		}
		if in.From == "" || in.From != strings.TrimSpace(in.From) {
			t.Fatalf("From %q", in.From)
		}
		if n := utf8.RuneCountInString(in.Body); n > 1600 {
			t.Fatalf("a body of %d characters read", n)
		}
		word := strings.ToUpper(strings.TrimSpace(in.Body))
		switch kw := herald.ParseSMSKeyword(in.Body); {
		case stop[word] != (kw == herald.SMSStop), start[word] != (kw == herald.SMSStart):
			t.Fatalf("ParseSMSKeyword(%q) = %v", in.Body, kw)
		}
		if n, err := herald.NormalizePhone(in.From); err == nil && !strings.HasPrefix(n, "+") {
			t.Fatalf("NormalizePhone(%q) = %q", in.From, n)
		}
	})
}

// FuzzFit cuts fuzzed texts to a number of segments. A text that fits is
// sent as it is; one that does not is cut to fit with its ellipsis and
// suffix (unless those alone do not fit), keeps a beginning of the text
// and never splits a character a reader sees as one.
func FuzzFit(f *testing.F) {
	f.Add("Payments API errors: we are investigating elevated error rates on card payments.", " (more by email)", uint8(1))
	f.Add(strings.Repeat("word ", 80), "", uint8(2))
	f.Add(strings.Repeat("é", 200), " (more)", uint8(1))
	f.Add(strings.Repeat("👩‍👩‍👧‍👦", 40), "", uint8(2))
	f.Add(strings.Repeat("🇿🇦", 90), "…", uint8(1))
	f.Add(strings.Repeat("e\u0301", 120), "", uint8(1))
	f.Add(strings.Repeat("{}[]~", 70), "", uint8(2))
	f.Fuzz(func(t *testing.T, body, suffix string, segs uint8) {
		max := int(segs%3) + 1
		text, cut := sms.Fit(body, suffix, max)
		_, n, _ := herald.SMSSegments(body)
		if !cut {
			if text != body || n > max {
				t.Fatalf("not cut: %q (%d segments of %d)", text, n, max)
			}
			return
		}
		if n <= max {
			t.Fatalf("cut a body of %d segments to fit %d", n, max)
		}
		var kept string
		switch {
		case strings.HasSuffix(text, "..."+suffix):
			kept = strings.TrimSuffix(text, "..."+suffix)
		case strings.HasSuffix(text, "…"+suffix):
			kept = strings.TrimSuffix(text, "…"+suffix)
		default:
			t.Fatalf("%q does not end with an ellipsis and %q", text, suffix)
		}
		if _, tn, _ := herald.SMSSegments(text); tn > max && kept != "" {
			t.Fatalf("cut to %d segments, want at most %d: %q", tn, max, text)
		}
		runes := []rune(body)
		whole := string(runes)
		if !strings.HasPrefix(whole, kept) || !utf8.ValidString(kept) {
			t.Fatalf("%q is not a beginning of the body", kept)
		}
		if k := utf8.RuneCountInString(kept); k > 0 && k < len(runes) {
			next := runes[k]
			if unicode.In(next, unicode.Mn, unicode.Me, unicode.Mc) || next == '\u200d' || next >= '\ufe00' && next <= '\ufe0f' ||
				next >= 0x1f3fb && next <= 0x1f3ff {
				t.Fatalf("cut before %U, which belongs to the character before it: %q", next, kept)
			}
			regional := 0
			for i := k - 1; i >= 0 && runes[i] >= 0x1f1e6 && runes[i] <= 0x1f1ff; i-- {
				regional++
			}
			if regional%2 == 1 && next >= 0x1f1e6 && next <= 0x1f1ff {
				t.Fatalf("cut inside a flag: %q", kept)
			}
		}
	})
}
