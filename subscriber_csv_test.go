package herald

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

func csvKnown() map[string]bool {
	return map[string]bool{"api": true, "database": true, "website": true}
}

// csvParse parses s with the known components and fails the test on a file
// error.
func csvParse(t *testing.T, s string) ([]CSVSubscriber, CSVReport) {
	t.Helper()
	rows, report, err := ParseSubscriberCSV(strings.NewReader(s), csvKnown(), 0)
	if err != nil {
		t.Fatalf("ParseSubscriberCSV: %v", err)
	}
	return rows, report
}

func TestParseSubscriberCSVAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []CSVSubscriber
	}{
		{
			name: "email to every component",
			in:   "channel,address,components,owner_email\nemail,ops@example.com,,\n",
			want: []CSVSubscriber{{Channel: "email", Address: "ops@example.com"}},
		},
		{
			name: "email lower-cased, all in any case",
			in:   "channel,address,components\nEMAIL, Ops.Team@Example.COM ,ALL\n",
			want: []CSVSubscriber{{Channel: "email", Address: "ops.team@example.com"}},
		},
		{
			name: "header in any order and case, only required columns",
			in:   "Address,CHANNEL\n+27215550123,sms\n",
			want: []CSVSubscriber{{Channel: "sms", Address: "+27215550123"}},
		},
		{
			name: "phone with spaces, dashes, dots and brackets",
			in:   "channel,address\nsms,+27 21 555-0123\nsms,+1-415-555-0100\nsms,+1 (212) 555.0100\n",
			want: []CSVSubscriber{
				{Channel: "sms", Address: "+27215550123"},
				{Channel: "sms", Address: "+14155550100"},
				{Channel: "sms", Address: "+12125550100"},
			},
		},
		{
			name: "shortest and longest E.164",
			in:   "channel,address\nsms,+1234567\nsms,+123456789012345\n",
			want: []CSVSubscriber{
				{Channel: "sms", Address: "+1234567"},
				{Channel: "sms", Address: "+123456789012345"},
			},
		},
		{
			name: "webhook with owner, host lower-cased",
			in:   "channel,address,components,owner_email\nwebhook,HTTPS://Hooks.Example.com/Status?x=1,api|website,Dev@Example.com\n",
			want: []CSVSubscriber{{Channel: "webhook", Address: "https://hooks.example.com/Status?x=1", Components: []string{"api", "website"}, OwnerEmail: "dev@example.com"}},
		},
		{
			name: "webhook with port",
			in:   "channel,address,owner_email\nwebhook,https://hooks.example.com:8443/x,dev@example.com\n",
			want: []CSVSubscriber{{Channel: "webhook", Address: "https://hooks.example.com:8443/x", OwnerEmail: "dev@example.com"}},
		},
		{
			name: "components sorted, repeats and empty keys dropped, either separator",
			in:   "channel,address,components\nemail,a@example.com,website; api|api;;Database;\n",
			want: []CSVSubscriber{{Channel: "email", Address: "a@example.com", Components: []string{"api", "database", "website"}}},
		},
		{
			name: "protective quote from the export removed",
			in:   "channel,address,components,owner_email\nemail,'=cmd@example.com,all,\nemail,'-x@example.com,all,\nemail,''quote@example.com,all,\nwebhook,https://h.example.com/,all,'=dev@example.com\n",
			want: []CSVSubscriber{
				{Channel: "email", Address: "=cmd@example.com"},
				{Channel: "email", Address: "-x@example.com"},
				{Channel: "email", Address: "'quote@example.com"},
				{Channel: "webhook", Address: "https://h.example.com/", OwnerEmail: "=dev@example.com"},
			},
		},
		{
			name: "quote not before a formula character kept",
			in:   "channel,address\nemail,'quote@example.com\n",
			want: []CSVSubscriber{{Channel: "email", Address: "'quote@example.com"}},
		},
		{
			name: "fewer cells than columns, trailing empty cells",
			in:   "channel,address,components,owner_email\nemail,a@example.com\nemail,b@example.com,api,,,,\n",
			want: []CSVSubscriber{
				{Channel: "email", Address: "a@example.com"},
				{Channel: "email", Address: "b@example.com", Components: []string{"api"}},
			},
		},
		{
			name: "nameless header column ignored",
			in:   "channel,,address\nemail,whatever,a@example.com\n",
			want: []CSVSubscriber{{Channel: "email", Address: "a@example.com"}},
		},
		{
			name: "blank lines and blank cells skipped",
			in:   "\n\nchannel,address\n\n , \n,\nemail,a@example.com\n\n",
			want: []CSVSubscriber{{Channel: "email", Address: "a@example.com"}},
		},
		{
			name: "same address on two channels",
			in:   "channel,address,owner_email\nemail,a@example.com,\nwebhook,https://a.example.com/,a@example.com\n",
			want: []CSVSubscriber{
				{Channel: "email", Address: "a@example.com"},
				{Channel: "webhook", Address: "https://a.example.com/", OwnerEmail: "a@example.com"},
			},
		},
		{
			name: "header only",
			in:   "channel,address,components,owner_email\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, report := csvParse(t, tt.in)
			if len(report.Refused) > 0 {
				t.Errorf("refused %+v", report.Refused)
			}
			if !reflect.DeepEqual(rows, tt.want) {
				t.Errorf("rows:\n got %+v\nwant %+v", rows, tt.want)
			}
			if report.Accepted != len(tt.want) || report.Rows != len(tt.want) {
				t.Errorf("report: rows %d accepted %d, want %d", report.Rows, report.Accepted, len(tt.want))
			}
		})
	}
}

func TestParseSubscriberCSVRefuses(t *testing.T) {
	long := strings.Repeat("x", 150) + "@example.com"
	tests := []struct {
		name string
		line string // the second line, after the full header
		want CSVRefusal
	}{
		{"unknown channel", "fax,+27215550123,,", CSVRefusal{2, "+27215550123", `channel "fax" is not one of email, sms, webhook`}},
		{"empty channel", ",a@example.com,,", CSVRefusal{2, "a@example.com", "channel is empty; use email, sms or webhook"}},
		{"empty address", "email,,,", CSVRefusal{2, "", "address is empty"}},
		{"not an email", "email,not-an-address,,", CSVRefusal{2, "not-an-address", "address is not an email address such as name@example.com"}},
		{"email without dot in domain", "email,a@localhost,,", CSVRefusal{2, "a@localhost", "address is not an email address such as name@example.com"}},
		{"email with domain literal", "email,a@[10.0.0.1],,", CSVRefusal{2, "a@[10.0.0.1]", "address is not an email address such as name@example.com"}},
		{"email with two ats", "email,a@b@example.com,,", CSVRefusal{2, "a@b@example.com", "address is not an email address such as name@example.com"}},
		{"email too long", "email," + strings.Repeat("a", 250) + "@example.com,,", CSVRefusal{2, strings.Repeat("a", 100), "address is longer than 254 characters"}},
		{"display name", `email,Ops <ops@example.com>,,`, CSVRefusal{2, "Ops <ops@example.com>", "give the bare email address, like name@example.com, without a display name or angle brackets"}},
		{"angle brackets", `email,<ops@example.com>,,`, CSVRefusal{2, "<ops@example.com>", "give the bare email address, like name@example.com, without a display name or angle brackets"}},
		{"phone without plus", "sms,0215550123,,", CSVRefusal{2, "0215550123", "address is not a phone number in international form, such as +27821234567"}},
		{"phone starting with 0", "sms,+0215550123,,", CSVRefusal{2, "+0215550123", "address is not a phone number in international form, such as +27821234567"}},
		{"phone too short", "sms,+123456,,", CSVRefusal{2, "+123456", "address is not a phone number in international form, such as +27821234567"}},
		{"phone too long", "sms,+1234567890123456,,", CSVRefusal{2, "+1234567890123456", "address is not a phone number in international form, such as +27821234567"}},
		{"phone with letters", "sms,+2721555ABCD,,", CSVRefusal{2, "+2721555ABCD", "address is not a phone number in international form, such as +27821234567"}},
		{"phone with a slash", "sms,+1 415/555 0100,,", CSVRefusal{2, "+1 415/555 0100", "address is not a phone number in international form, such as +27821234567"}},
		{"webhook over http", "webhook,http://hooks.example.com/,,dev@example.com", CSVRefusal{2, "http://hooks.example.com/", "webhook URL must use https"}},
		{"webhook relative", "webhook,/hooks/status,,dev@example.com", CSVRefusal{2, "/hooks/status", "webhook URL must be absolute, like https://hooks.example.com/status"}},
		{"webhook opaque", "webhook,https:hooks.example.com,,dev@example.com", CSVRefusal{2, "https:hooks.example.com", "webhook URL must be absolute, like https://hooks.example.com/status"}},
		{"webhook without host", "webhook,https:///status,,dev@example.com", CSVRefusal{2, "https:///status", "webhook URL has no host"}},
		{"webhook with port only", "webhook,https://:443/status,,dev@example.com", CSVRefusal{2, "https://:443/status", "webhook URL has no host"}},
		{"webhook with fragment", "webhook,https://hooks.example.com/#x,,dev@example.com", CSVRefusal{2, "https://hooks.example.com/#x", "webhook URL must not contain a #fragment"}},
		{"webhook with password", "webhook,https://u:p@hooks.example.com/,,dev@example.com", CSVRefusal{2, "https://u:p@hooks.example.com/", "webhook URL must not contain a user name or password"}},
		{"webhook not a URL", "webhook,https://hooks example.com/,,dev@example.com", CSVRefusal{2, "https://hooks example.com/", "not a URL"}},
		{"webhook too long", "webhook,https://h.example.com/" + strings.Repeat("a", 2100) + ",,dev@example.com", CSVRefusal{2, "https://h.example.com/" + strings.Repeat("a", 78), "webhook URL is longer than 2048 characters"}},
		{"webhook without owner", "webhook,https://hooks.example.com/,,", CSVRefusal{2, "https://hooks.example.com/", "owner_email is empty; a webhook needs an owner, told by email when it fails"}},
		{"webhook with bad owner", "webhook,https://hooks.example.com/,,dev", CSVRefusal{2, "https://hooks.example.com/", "owner_email is not an email address"}},
		{"owner on an email line", "email,a@example.com,,dev@example.com", CSVRefusal{2, "a@example.com", "owner_email is only for webhook lines; leave it empty"}},
		{"owner on an sms line", "sms,+27215550123,,dev@example.com", CSVRefusal{2, "+27215550123", "owner_email is only for webhook lines; leave it empty"}},
		{"unknown component", "email,a@example.com,api;billing,", CSVRefusal{2, "a@example.com", `unknown component "billing"`}},
		{"unknown components listed once", "email,a@example.com,billing|cdn;billing,", CSVRefusal{2, "a@example.com", `unknown components "billing", "cdn"`}},
		{"all with keys", "email,a@example.com,all;api,", CSVRefusal{2, "a@example.com", `components: "all" cannot be combined with component keys`}},
		{"separators only", "email,a@example.com,;|,", CSVRefusal{2, "a@example.com", `components lists no keys; leave it empty or write "all" for every component`}},
		{"more cells than columns", "email,a@example.com,,,surplus", CSVRefusal{2, "a@example.com", "has 5 cells but the header has 4"}},
		{"invalid UTF-8", "email,a\xff@example.com,,", CSVRefusal{2, "a\uFFFD@example.com", "not valid UTF-8; save the file as UTF-8"}},
		{"invalid UTF-8 in another cell", "email,a@example.com,api\xc3,", CSVRefusal{2, "a@example.com", "not valid UTF-8; save the file as UTF-8"}},
		{"address cut to 100 characters", "email," + long + ",billing,", CSVRefusal{2, strings.Repeat("x", 100), `unknown component "billing"`}},
		{"several problems in one sentence", "webhook,http://h.example.com/,billing,", CSVRefusal{2, "http://h.example.com/", `webhook URL must use https; unknown component "billing"; owner_email is empty; a webhook needs an owner, told by email when it fails`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, report := csvParse(t, "channel,address,components,owner_email\n"+tt.line+"\n")
			if len(rows) != 0 {
				t.Errorf("accepted %+v", rows)
			}
			want := CSVReport{Rows: 1, Channels: map[string]int{"email": 0, "sms": 0, "webhook": 0}, Refused: []CSVRefusal{tt.want}}
			if !reflect.DeepEqual(report, want) {
				t.Errorf("report:\n got %+v\nwant %+v", report, want)
			}
		})
	}
}

func TestParseSubscriberCSVReport(t *testing.T) {
	in := strings.Join([]string{
		"channel,address,components,owner_email", // 1
		"email,a@example.com,,",                  // 2
		"",                                       // 3
		"sms,+27 21 555 0123,api,",               // 4
		`email,"multi`,                           // 5
		`line@example.com",,`,                    // 6
		"email,A@Example.com,website,",           // 7: duplicate of 2 once lower-cased
		"sms,+27215550123,,",                     // 8: duplicate of 4 once normalised
		"email,b@example.com,nope,",              // 9
		"email,b@example.com,,",                  // 10: accepted, line 9 was refused
		"webhook,https://h.example.com/,,o@example.com", // 11
		"webhook,https://H.EXAMPLE.COM/,,o@example.com", // 12: duplicate of 11
		"email,b@example.com,,",                         // 13: duplicate of 10
	}, "\n")
	rows, report := csvParse(t, in)
	wantRefused := []CSVRefusal{
		{5, "multi\nline@example.com", "address is not an email address such as name@example.com"},
		{7, "A@Example.com", "duplicate of line 2"},
		{8, "+27215550123", "duplicate of line 4"},
		{9, "b@example.com", `unknown component "nope"`},
		{12, "https://H.EXAMPLE.COM/", "duplicate of line 11"},
		{13, "b@example.com", "duplicate of line 10"},
	}
	if !reflect.DeepEqual(report.Refused, wantRefused) {
		t.Errorf("refused:\n got %+v\nwant %+v", report.Refused, wantRefused)
	}
	if report.Rows != 10 || report.Accepted != 4 || len(rows) != 4 {
		t.Errorf("rows %d accepted %d (%d rows), want 10, 4", report.Rows, report.Accepted, len(rows))
	}
	wantChannels := map[string]int{"email": 2, "sms": 1, "webhook": 1}
	if !reflect.DeepEqual(report.Channels, wantChannels) {
		t.Errorf("channels %v, want %v", report.Channels, wantChannels)
	}
	if report.Accepted+len(report.Refused) != report.Rows {
		t.Errorf("accepted %d + refused %d != rows %d", report.Accepted, len(report.Refused), report.Rows)
	}
}

func TestParseSubscriberCSVEncodings(t *testing.T) {
	want := []CSVSubscriber{
		{Channel: "email", Address: "a@example.com", Components: []string{"api", "database"}},
		{Channel: "webhook", Address: "https://h.example.com/a,b", OwnerEmail: "o@example.com"},
	}
	tests := []struct{ name, in string }{
		{"LF", "channel,address,components,owner_email\nemail,a@example.com,api;database,\nwebhook,\"https://h.example.com/a,b\",,o@example.com\n"},
		{"CRLF", "channel,address,components,owner_email\r\nemail,a@example.com,api;database,\r\nwebhook,\"https://h.example.com/a,b\",,o@example.com\r\n"},
		{"BOM", "\uFEFFchannel,address,components,owner_email\r\nemail,a@example.com,api;database,\r\nwebhook,\"https://h.example.com/a,b\",,o@example.com"},
		{"every cell quoted", "\"channel\",\"address\",\"components\",\"owner_email\"\n\"email\",\"a@example.com\",\"api;database\",\"\"\n\"webhook\",\"https://h.example.com/a,b\",\"\",\"o@example.com\"\n"},
		{"no final line break", "channel,address,components,owner_email\nemail,a@example.com,api;database,\nwebhook,\"https://h.example.com/a,b\",,o@example.com"},
		{"components with a comma-free quoted list", "channel,address,components,owner_email\nemail,a@example.com,\"database|api\",\nwebhook,\"https://h.example.com/a,b\",,o@example.com\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, report := csvParse(t, tt.in)
			if len(report.Refused) > 0 {
				t.Errorf("refused %+v", report.Refused)
			}
			if !reflect.DeepEqual(rows, want) {
				t.Errorf("rows:\n got %+v\nwant %+v", rows, want)
			}
		})
	}
	t.Run("BOM line numbers", func(t *testing.T) {
		_, report := csvParse(t, "\uFEFFchannel,address\r\n\r\nemail,nope\r\n")
		if len(report.Refused) != 1 || report.Refused[0].Line != 3 {
			t.Errorf("refused %+v, want line 3", report.Refused)
		}
	})
}

func TestParseSubscriberCSVFileErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "subscriber csv: the file is empty; the first line must be the header channel,address,components,owner_email"},
		{"blank lines only", "\n \n,,\n", "subscriber csv: the file is empty; the first line must be the header channel,address,components,owner_email"},
		{"BOM only", "\uFEFF", "subscriber csv: the file is empty; the first line must be the header channel,address,components,owner_email"},
		{"no header", "email,a@example.com\n", `subscriber csv: line 1: unknown column "email"; the first line must be the header, with columns channel, address, components, owner_email`},
		{"unknown column", "\nchannel,address,component\n", `subscriber csv: line 2: unknown column "component"; the first line must be the header, with columns channel, address, components, owner_email`},
		{"missing channel", "address,components\n", "subscriber csv: line 1: the header has no channel column; the first line must be the header, with columns channel, address, components, owner_email"},
		{"missing address", "channel,owner_email\n", "subscriber csv: line 1: the header has no address column; the first line must be the header, with columns channel, address, components, owner_email"},
		{"repeated column", "channel,address,Address\n", "subscriber csv: line 1: column address appears twice in the header"},
		{"bare quote", "channel,address\nemail,a\"b@example.com\n", `subscriber csv: line 2: not valid CSV (bare " in non-quoted-field); a cell containing " must be quoted, with each " inside it doubled`},
		{"unclosed quote", "channel,address\nemail,\"a@example.com\n", `subscriber csv: line 2: not valid CSV (extraneous or missing " in quoted-field); a cell containing " must be quoted, with each " inside it doubled`},
		{"binary", "\x00\x01\x02\"\xff", `subscriber csv: line 1: not valid CSV (bare " in non-quoted-field); a cell containing " must be quoted, with each " inside it doubled`},
		{"line too long", "channel,address\nemail,a@example.com\nemail," + strings.Repeat("a", DefaultCSVMaxLineBytes) + "@example.com\n", fmt.Sprintf("subscriber csv: line 3: longer than %d bytes", DefaultCSVMaxLineBytes)},
		{"endless quoted cell", "channel,address\nemail,\"" + strings.Repeat("a\n", DefaultCSVMaxLineBytes) + "\"\n", fmt.Sprintf("subscriber csv: line 2: longer than %d bytes; a quoted cell may be missing its closing quote", DefaultCSVMaxLineBytes)},
		{"header too long", strings.Repeat("x", DefaultCSVMaxLineBytes+1), fmt.Sprintf("subscriber csv: line 1: longer than %d bytes", DefaultCSVMaxLineBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, report, err := ParseSubscriberCSV(strings.NewReader(tt.in), csvKnown(), 0)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("err does not match ErrInvalid")
			}
			var fe *CSVFileError
			if !errors.As(err, &fe) {
				t.Errorf("err is %T, want *CSVFileError", err)
			}
			if rows != nil || !reflect.DeepEqual(report, CSVReport{}) {
				t.Errorf("got rows %v report %+v with an error", rows, report)
			}
		})
	}
}

func TestParseSubscriberCSVLimits(t *testing.T) {
	in := "channel,address\nemail,a@example.com\nemail,b@example.com\n"
	if _, _, err := ParseSubscriberCSV(strings.NewReader(in), nil, 2); err != nil {
		t.Errorf("2 rows with maxRows 2: %v", err)
	}
	_, _, err := ParseSubscriberCSV(strings.NewReader(in), nil, 1)
	if want := "subscriber csv: line 3: more than 1 subscribers; split the file"; err == nil || err.Error() != want {
		t.Errorf("2 rows with maxRows 1: err = %v, want %s", err, want)
	}
	// The limit counts data lines: blank lines and the header do not count.
	if _, _, err := ParseSubscriberCSV(strings.NewReader("\n\n"+in+"\n\n"), nil, 2); err != nil {
		t.Errorf("blank lines counted: %v", err)
	}
	// Refused lines count: they were read.
	if _, _, err := ParseSubscriberCSV(strings.NewReader("channel,address\nfax,1\nfax,2\n"), nil, 1); err == nil {
		t.Errorf("refused lines not counted")
	}

	line := "email,a@example.com\n" // 20 bytes with its line break
	lim := CSVLimits{MaxLineBytes: len(line)}
	if _, _, err := ParseSubscriberCSVLimits(strings.NewReader("channel,address\n"+line), nil, lim); err != nil {
		t.Errorf("line of exactly MaxLineBytes: %v", err)
	}
	_, _, err = ParseSubscriberCSVLimits(strings.NewReader("channel,address\n"+line+"email,ab@example.com\n"), nil, lim)
	if want := "subscriber csv: line 3: longer than 20 bytes"; err == nil || err.Error() != want {
		t.Errorf("line of MaxLineBytes+1: err = %v, want %s", err, want)
	}
	// A quoted cell with a line break counts as one line.
	quoted := "email,\"a\n@example.com\"\n" // 23 bytes
	_, report, err := ParseSubscriberCSVLimits(strings.NewReader("channel,address\n"+quoted), nil, CSVLimits{MaxLineBytes: len(quoted)})
	if err != nil || len(report.Refused) != 1 || report.Refused[0].Line != 2 {
		t.Errorf("quoted line break: err %v report %+v", err, report)
	}
	_, _, err = ParseSubscriberCSVLimits(strings.NewReader("channel,address\n"+quoted), nil, CSVLimits{MaxLineBytes: len(quoted) - 1})
	if want := "subscriber csv: line 2: longer than 22 bytes"; err == nil || err.Error() != want {
		t.Errorf("quoted line break over the limit: err = %v, want %s", err, want)
	}
}

func TestParseSubscriberCSVReadError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, r := range []io.Reader{
		iotest.ErrReader(boom),
		io.MultiReader(strings.NewReader("channel,address\nemail,a@example.com\n"), iotest.ErrReader(boom)),
	} {
		_, _, err := ParseSubscriberCSV(r, nil, 0)
		if !errors.Is(err, boom) || errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want the reader's error, not ErrInvalid", err)
		}
	}
	// Data handed over a byte at a time parses the same.
	rows, _, err := ParseSubscriberCSV(iotest.OneByteReader(strings.NewReader("\uFEFFchannel,address\nemail,a@example.com\n")), nil, 0)
	if err != nil || len(rows) != 1 {
		t.Errorf("one byte at a time: rows %v err %v", rows, err)
	}
}

// csvRoundTripRows are rows as ParseSubscriberCSV returns them, including
// cells a spreadsheet would run as formulas.
var csvRoundTripRows = []CSVSubscriber{
	{Channel: "email", Address: "ops@example.com"},
	{Channel: "email", Address: "=cmd|'/c!calc'!a0@example.com"},
	{Channel: "email", Address: "-2+3@example.com", Components: []string{"api"}},
	{Channel: "email", Address: "+sum@example.com", Components: []string{"api", "database"}},
	{Channel: "email", Address: "'quote@example.com"},
	{Channel: "email", Address: "''=x@example.com"},
	{Channel: "sms", Address: "+27215550123", Components: []string{"website"}},
	{Channel: "webhook", Address: "https://hooks.example.com/a,b?q=\"x\"", Components: []string{"api", "database", "website"}, OwnerEmail: "=owner@example.com"},
	{Channel: "webhook", Address: "https://hooks.example.com/x", OwnerEmail: "dev@example.com"},
}

func TestSubscriberCSVRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSubscriberCSV(&buf, csvRoundTripRows); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "channel,address,components,owner_email\n") {
		t.Errorf("export does not start with the header:\n%s", buf.String())
	}
	rows, report := csvParse(t, buf.String())
	if len(report.Refused) > 0 {
		t.Errorf("refused %+v in\n%s", report.Refused, buf.String())
	}
	if !reflect.DeepEqual(rows, csvRoundTripRows) {
		t.Errorf("round trip:\n got %+v\nwant %+v\nexport:\n%s", rows, csvRoundTripRows, buf.String())
	}

	// Exporting the imported rows gives the same bytes.
	var again bytes.Buffer
	if err := WriteSubscriberCSV(&again, rows); err != nil {
		t.Fatal(err)
	}
	if again.String() != buf.String() {
		t.Errorf("second export differs:\n%s\nfirst:\n%s", again.String(), buf.String())
	}

	var empty bytes.Buffer
	if err := WriteSubscriberCSV(&empty, nil); err != nil || empty.String() != "channel,address,components,owner_email\n" {
		t.Errorf("empty export %q, %v", empty.String(), err)
	}
}

func TestWriteSubscriberCSVFormulaInjection(t *testing.T) {
	rows := []CSVSubscriber{
		{Channel: "email", Address: "=HYPERLINK(\"http://evil\")", Components: []string{"-x"}},
		{Channel: "email", Address: "+1+1", OwnerEmail: "@SUM(A1)"},
		{Channel: "email", Address: "-1", Components: []string{"=a", "b"}},
		{Channel: "email", Address: "\tx"},
		{Channel: "email", Address: "\rx"},
		{Channel: "email", Address: "'x"},
		{Channel: "=channel", Address: "a@example.com"},
		{Channel: "sms", Address: "+27215550123"},
		{Channel: "sms", Address: "+1+cmd"}, // not E.164, so protected
		{Channel: "sms", Address: "=1+1"},
		{Channel: "webhook", Address: "https://h.example.com/", OwnerEmail: "-o@example.com"},
	}
	var buf bytes.Buffer
	if err := WriteSubscriberCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"channel", "address", "components", "owner_email"},
		{"email", "'=HYPERLINK(\"http://evil\")", "'-x", ""},
		{"email", "'+1+1", "all", "'@SUM(A1)"},
		{"email", "'-1", "'=a;b", ""},
		{"email", "'\tx", "all", ""},
		{"email", "'\rx", "all", ""},
		{"email", "''x", "all", ""},
		{"'=channel", "a@example.com", "all", ""},
		{"sms", "+27215550123", "all", ""},
		{"sms", "'+1+cmd", "all", ""},
		{"sms", "'=1+1", "all", ""},
		{"webhook", "https://h.example.com/", "all", "'-o@example.com"},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("cells:\n got %q\nwant %q", recs, want)
	}
	for _, rec := range recs {
		for col, c := range rec {
			if c == "" || (col == 1 && csvPhonePattern.MatchString(c)) {
				continue
			}
			if strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("cell %q starts a formula", c)
			}
		}
	}
}

// csvBigFile is a header and n valid, distinct email lines.
func csvBigFile(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 40)
	b.WriteString("channel,address,components,owner_email\n")
	for i := range n {
		fmt.Fprintf(&b, "email,user%d@example.com,api;database,\n", i)
	}
	return b.Bytes()
}

func TestParseSubscriberCSVHundredThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("large file")
	}
	in := csvBigFile(DefaultCSVMaxRows)
	start := time.Now()
	rows, report, err := ParseSubscriberCSV(bytes.NewReader(in), csvKnown(), 0)
	t.Logf("parsed %d lines (%d bytes) in %v", DefaultCSVMaxRows, len(in), time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != DefaultCSVMaxRows || report.Accepted != DefaultCSVMaxRows || len(report.Refused) != 0 || report.Channels["email"] != DefaultCSVMaxRows {
		t.Errorf("rows %d accepted %d refused %d channels %v", len(rows), report.Accepted, len(report.Refused), report.Channels)
	}

	var out bytes.Buffer
	start = time.Now()
	if err := WriteSubscriberCSV(&out, rows); err != nil {
		t.Fatal(err)
	}
	t.Logf("exported %d lines (%d bytes) in %v", len(rows), out.Len(), time.Since(start))

	in = csvBigFile(DefaultCSVMaxRows + 1)
	_, _, err = ParseSubscriberCSV(bytes.NewReader(in), csvKnown(), 0)
	want := fmt.Sprintf("subscriber csv: line %d: more than %d subscribers; split the file", DefaultCSVMaxRows+2, DefaultCSVMaxRows)
	if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Errorf("100,001 lines: err = %v, want %s", err, want)
	}
}

func BenchmarkParseSubscriberCSV(b *testing.B) {
	in := csvBigFile(10_000)
	known := csvKnown()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := ParseSubscriberCSV(bytes.NewReader(in), known, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseSubscriberCSV(f *testing.F) {
	var export bytes.Buffer
	if err := WriteSubscriberCSV(&export, csvRoundTripRows); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"",
		"\uFEFF",
		"channel,address,components,owner_email\n",
		"channel,address,components,owner_email\nemail,a@example.com,all,\nsms,+27 21 555 0123,api|database,\nwebhook,https://h.example.com/x,website,o@example.com\n",
		"Address,Channel\r\n+1234567,sms\r\n\r\nemail,A@B.C\r\n",
		"channel,address\nemail,\"a,b\"@example.com\nemail,\"multi\nline\"\n",
		"channel,address\nemail,a\"b\n",
		"channel,address\nemail,\"unclosed\n",
		"channel,address,components\nemail,'=x@example.com,'-api\nemail,a@example.com,all;api\n",
		"channel,address\nemail,a\xff@example.com\nwebhook,https://u:p@[::1]:99/%zz\n",
		"channel,address,,\nemail,a@example.com,x,y,z\n",
		export.String(),
	} {
		f.Add([]byte(seed))
	}
	known := map[string]bool{"api": true, "database": true, "website": true, "API": true}
	f.Fuzz(func(t *testing.T, in []byte) {
		rows, report, err := ParseSubscriberCSVLimits(bytes.NewReader(in), known, CSVLimits{MaxRows: 1000, MaxLineBytes: 1 << 10})
		if err != nil {
			if rows != nil || report.Rows != 0 {
				t.Fatalf("rows with an error: %v", err)
			}
			return
		}
		lines := bytes.Count(in, []byte("\n")) + 1
		if report.Accepted+len(report.Refused) != report.Rows || report.Rows > lines || len(rows) != report.Accepted {
			t.Fatalf("accepted %d + refused %d, rows %d, lines %d, returned %d", report.Accepted, len(report.Refused), report.Rows, lines, len(rows))
		}
		prev := 0
		for _, r := range report.Refused {
			if r.Line <= prev || r.Line > lines || r.Reason == "" || !utf8.ValidString(r.Address) || utf8.RuneCountInString(r.Address) > csvReportAddressRunes {
				t.Fatalf("bad refusal %+v after line %d", r, prev)
			}
			prev = r.Line
		}
		// What was accepted exports and imports back to itself.
		var out bytes.Buffer
		if err := WriteSubscriberCSV(&out, rows); err != nil {
			t.Fatal(err)
		}
		again, report2, err := ParseSubscriberCSVLimits(&out, known, CSVLimits{MaxRows: 1000, MaxLineBytes: 1 << 20})
		if err != nil || len(report2.Refused) > 0 {
			t.Fatalf("re-import: %v %+v", err, report2.Refused)
		}
		if len(rows) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, rows) {
			t.Fatalf("re-import:\n got %+v\nwant %+v", again, rows)
		}
	})
}
