package herald

import (
	"strings"
	"testing"
)

func TestApprovalActionID(t *testing.T) {
	for key, want := range map[string]string{
		"inc1/action/act9/approval/slack/vp@kredete.com": "act9",
		"inc1/action/act9/execute/slack/dba@kredete.com": "",
		"inc1/public/update/1700000000":                  "",
		"inc1/action//approval/x":                        "",
	} {
		got, ok := ApprovalActionID(key)
		if got != want || ok != (want != "") {
			t.Errorf("ApprovalActionID(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

func TestParseIncidentCommand(t *testing.T) {
	for _, tt := range []struct {
		text string
		want IncidentCommand
		err  string
	}{
		{"", IncidentCommand{Verb: VerbHelp}, ""},
		{"  HELP ", IncidentCommand{Verb: VerbHelp}, ""},
		{"declare Card payments  failing", IncidentCommand{Verb: VerbDeclare, Title: "Card payments  failing"}, ""},
		{"declare", IncidentCommand{Verb: VerbDeclare}, ""},
		{"update", IncidentCommand{Verb: VerbUpdate}, ""},
		{"status #abc123def", IncidentCommand{Verb: VerbStatus, IncidentID: "abc123def"}, ""},
		{"resolve ABC123DEF", IncidentCommand{Verb: VerbResolve, IncidentID: "abc123def"}, ""},
		{"commander <@U123ABC|ada> abc123def", IncidentCommand{Verb: VerbCommander, UserID: "U123ABC", IncidentID: "abc123def"}, ""},
		{"commander <@W99>", IncidentCommand{Verb: VerbCommander, UserID: "W99"}, ""},
		{"list", IncidentCommand{Verb: VerbList}, ""},
		{"commander", IncidentCommand{}, "name the new commander"},
		{"commander ada", IncidentCommand{}, "is not a Slack member"},
		{"status a b", IncidentCommand{}, "at most an incident id"},
		{"status x!", IncidentCommand{}, "is not an incident id"},
		{"list all", IncidentCommand{}, "takes nothing more"},
		{"frobnicate", IncidentCommand{}, "unknown command"},
		{"declare " + strings.Repeat("x", MaxNameLen+1), IncidentCommand{}, "longer than"},
	} {
		got, err := ParseIncidentCommand(tt.text)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v; want %q", tt.text, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q = %+v, %v; want %+v", tt.text, got, err, tt.want)
		}
	}
}
