package herald

import (
	"reflect"
	"strings"
	"testing"
)

// TestCSVAgreesWithSignUp: an import accepts an address exactly when the
// sign-up form's function does, and stores the same normalised form.
func TestCSVAgreesWithSignUp(t *testing.T) {
	inputs := map[string][]string{
		"email": {"ops@example.com", "Ops@Example.COM", "a@localhost", "a@.example.com", "a@[10.0.0.1]", "a@b@example.com",
			"Ops <ops@example.com>", strings.Repeat("a", 250) + "@example.com", "a@example.com."},
		"sms": {"+27215550123", "+27 21 555-0123", "0215550123", "+0215550123", "+123456", "+1234567", "+1 415/555 0100"},
		"webhook": {"https://hooks.example.com/x", "HTTPS://Hooks.Example.com/X", "http://hooks.example.com/", "/relative",
			"https://u:p@h.example.com/", "https://h.example.com/#f", "https://h.example.com/" + strings.Repeat("a b", 700)},
	}
	norm := map[string]func(string) (string, error){"email": NormalizeEmail, "sms": NormalizePhone, "webhook": NormalizeWebhookURL}
	for ch, list := range inputs {
		for _, in := range list {
			want, werr := norm[ch](in)
			got, reason := csvAddress(ch, in)
			if (werr == nil) != (reason == "") || got != want {
				t.Errorf("%s %q: csv (%q, %q), sign-up (%q, %v)", ch, in, got, reason, want, werr)
			}
		}
	}
}

func TestCSVReportRefuseAccepted(t *testing.T) {
	in := "channel,address,owner_email\n" + // 1
		"email,a@example.com,\n" + // 2
		"email,bad,\n" + // 3
		"webhook,https://10.0.0.1/hook?token=x,o@example.com\n" + // 4
		"\n" + // 5
		"sms,+27215550123,\n" + // 6
		"email,,\n" // 7
	rows, report := csvParse(t, in)
	if !reflect.DeepEqual(report.Lines, []int{2, 4, 6}) {
		t.Fatalf("lines %v", report.Lines)
	}
	report.RefuseAccepted(rows, 1, "private address")
	report.RefuseAccepted(rows, 2, ImportAlreadySubscribed)
	want := []CSVRefusal{
		{3, "bad", "address is not an email address such as name@example.com"},
		{4, "https://10.0.0.1/hook?token=x", "private address"},
		{6, "+27215550123", ImportAlreadySubscribed},
		{7, "", "address is empty"},
	}
	if !reflect.DeepEqual(report.Refused, want) {
		t.Errorf("refused\n got %+v\nwant %+v", report.Refused, want)
	}
	if report.Accepted != 1 || !reflect.DeepEqual(report.Channels, map[string]int{"email": 1, "sms": 0, "webhook": 0}) {
		t.Errorf("accepted %d channels %v", report.Accepted, report.Channels)
	}
}

func TestDisplayAddress(t *testing.T) {
	for _, tt := range []struct {
		ch       SubscriberChannel
		in, want string
	}{
		{SubscriberEmail, "a@example.com", "a@example.com"},
		{SubscriberSMS, "+27215550123", "+27215550123"},
		{SubscriberWebhook, "https://Hooks.example.com:8443/secret?token=x", "hooks.example.com:8443"},
		{SubscriberWebhook, "::", "(webhook)"},
	} {
		if got := DisplayAddress(tt.ch, tt.in); got != tt.want {
			t.Errorf("DisplayAddress(%s, %q) = %q, want %q", tt.ch, tt.in, got, tt.want)
		}
	}
}
