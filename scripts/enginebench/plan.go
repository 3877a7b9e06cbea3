package main

import (
	"bytes"
	"strconv"
	"text/template"
	"time"
)

// planTemplate is Kredete's plan (config/default.yaml) with the cadences
// and reminder times as parameters and the executives' recipients filled
// in. The script writes it to a file for HERALD_CONFIG and reads it back
// with config.ParsePlan, so a schema change fails here first.
var planTemplate = template.Must(template.New("plan").Parse(`# enginebench plan: {{.Name}}
page:
  id: kredete
  name: Kredete
  url: https://status.kredete.com
  time_zone: UTC
objectives:
  rto: 4h
  rpo: 1h
  availability: 99.99%
components:
  - key: api-platform
    name: API Platform
  - key: credit-origination
    name: Credit Origination
  - key: partner-integrations
    name: Partner Integrations
  - key: customer-portal
    name: Customer Portal
  - key: admin-dashboard
    name: Admin Dashboard
audiences:
  - key: engineering
    name: Engineering Team
    channels: [slack]
    description: "Slack #incident-response"
    cadence: real_time
    recipients:
      slack_channel: "#incident-response"
  - key: executives
    name: Executive Team
    channels: [email, sms]
    description: Email + SMS
    cadence: every {{.Executives}}
    recipients:
      emails: [ceo@kredete.example, cfo@kredete.example]
      phones: ["+27820000001", "+27820000002"]
    reminders:
      before: [{{.ExecutivesBefore}}]
      whom: [commander, deputy]
      channels: [slack, sms]
    on_due: holding_update
    by_impact:
      minor: "off"
      none: "off"
  - key: public
    name: Partners and clients
    channels: [status_page]
    description: Status page
    cadence: every {{.Public}}
    reminders:
      before: [{{.PublicBefore}}]
      every: {{.PublicEvery}}
      whom: [commander, deputy, communications_lead]
      escalate_after: {{.PublicEvery}}
      channels: [slack, sms]
    on_due: escalate
  - key: regulators
    name: Regulators
    channels: [phone]
    description: Direct call (if required)
    cadence: within {{.RegulatorsInitial}}
    conditional: true
    recipients:
      contacts:
        - name: Compliance desk
          email: compliance@kredete.example
    reminders:
      before: [{{.RegulatorsBefore}}]
      every: {{.RegulatorsEvery}}
      whom: [commander]
      channels: [slack, sms, email]
    on_due: remind
    regulatory:
      initial_after_classification: {{.RegulatorsInitial}}
      initial_after_awareness: 24h
      intermediate_after_initial: 72h
      final_after_intermediate: 720h
`))

// planParams are one plan's cadences.
type planParams struct {
	Name                               string
	Executives, ExecutivesBefore       time.Duration
	Public, PublicBefore, PublicEvery  time.Duration
	RegulatorsInitial, RegulatorsEvery time.Duration
	RegulatorsBefore                   string // a YAML list's items
}

// defaultPlan is config/default.yaml's cadences: after a declaration the
// first step (the public page's reminder) is 10 minutes away.
var defaultPlan = planParams{Name: "default cadences",
	Executives: 30 * time.Minute, ExecutivesBefore: 5 * time.Minute,
	Public: 15 * time.Minute, PublicBefore: 5 * time.Minute, PublicEvery: 5 * time.Minute,
	RegulatorsInitial: 4 * time.Hour, RegulatorsBefore: "60m, 30m", RegulatorsEvery: 15 * time.Minute}

// shortPlan compresses the clocks so that the steps of 1,000 incidents
// declared over a few minutes fall due within minutes: per incident
// declared at C, the public page's reminder at C+4m, its due at C+6m and
// the escalation at C+8m; the executives' reminder at C+6m and their
// automatic holding update at C+8m. The regulators' clock (DORA, 80m)
// stays out of the window.
var shortPlan = planParams{Name: "shortened cadences",
	Executives: 8 * time.Minute, ExecutivesBefore: 2 * time.Minute,
	Public: 6 * time.Minute, PublicBefore: 2 * time.Minute, PublicEvery: 2 * time.Minute,
	RegulatorsInitial: 80 * time.Minute, RegulatorsBefore: "20m, 10m", RegulatorsEvery: 5 * time.Minute}

func (p planParams) yaml() []byte {
	var b bytes.Buffer
	type text struct {
		Name                                                            string
		Executives, ExecutivesBefore, Public, PublicBefore, PublicEvery string
		RegulatorsInitial, RegulatorsEvery, RegulatorsBefore            string
	}
	if err := planTemplate.Execute(&b, text{Name: p.Name, Executives: dur(p.Executives), ExecutivesBefore: dur(p.ExecutivesBefore),
		Public: dur(p.Public), PublicBefore: dur(p.PublicBefore), PublicEvery: dur(p.PublicEvery),
		RegulatorsInitial: dur(p.RegulatorsInitial), RegulatorsEvery: dur(p.RegulatorsEvery),
		RegulatorsBefore: p.RegulatorsBefore}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// dur writes a duration as the plan does: 30m, 4h, 90s.
func dur(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}
