package slacktest

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Limits of modals and of the input blocks and elements they hold
// (https://docs.slack.dev/reference/views/modal-views,
// https://docs.slack.dev/reference/block-kit/blocks/input-block and the
// element references), as views.open enforces them.
const (
	maxViewBlocks      = 100
	maxViewTitle       = 24 // title, submit and close
	maxCallbackID      = 255
	maxPrivateMetadata = 3000
	maxExternalID      = 255
	maxViewJSON        = 250 * 1000 // "view_too_large" past 250 kB
	maxLabel           = 2000       // an input's label and hint
	maxPlaceholder     = 150
	maxInputLength     = 3000 // plain_text_input's initial_value, min_length and max_length
	maxSelectOptions   = 100  // static_select, multi_static_select (and option groups)
	maxCheckboxes      = 10
	maxOptionText      = 75
	maxOptionValue     = 150
	maxOptionDesc      = 75
)

// modalBlockTypes are the block types a modal accepts.
var modalBlockTypes = map[string]bool{
	"actions": true, "context": true, "divider": true, "header": true, "image": true,
	"input": true, "section": true, "rich_text": true, "video": true, "markdown": true,
}

// inputElementTypes are the elements an input block accepts. The five Herald
// uses are checked in depth; the others pass.
var inputElementTypes = map[string]bool{
	"plain_text_input": true, "static_select": true, "multi_static_select": true, "checkboxes": true,
	"users_select": true, "multi_users_select": true, "external_select": true, "multi_external_select": true,
	"conversations_select": true, "multi_conversations_select": true, "channels_select": true,
	"multi_channels_select": true, "radio_buttons": true, "datepicker": true, "timepicker": true,
	"datetimepicker": true, "email_text_input": true, "url_text_input": true, "number_input": true,
	"rich_text_input": true, "file_input": true,
}

// CheckView validates a modal view (views.open's view argument) as Slack
// would and returns its complaints in Slack's "[ERROR] ...
// [json-pointer:/view/...]" form, none when Slack would open it.
func CheckView(viewJSON string) []string {
	if len(viewJSON) > maxViewJSON {
		return []string{"[ERROR] view too large [json-pointer:/view]"}
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(viewJSON), &v); err != nil || v == nil {
		return []string{"[ERROR] must be a JSON object [json-pointer:/view]"}
	}
	var errs []string
	add := pointerAdder(&errs, "/view")
	switch t := str(v["type"]); t {
	case "":
		add("/type", "missing required field: type")
	case "modal":
	default:
		add("/type", "must be one of modal (views.open opens modals)")
	}
	checkText(add, "/title", v["title"], maxViewTitle, true)
	for _, k := range []string{"submit", "close"} {
		if raw, ok := v[k]; ok && string(raw) != "null" {
			checkText(add, "/"+k, raw, maxViewTitle, true)
		}
	}
	if n := utf8.RuneCountInString(str(v["callback_id"])); n > maxCallbackID {
		add("/callback_id", "must be less than %d characters", maxCallbackID+1)
	}
	if n := utf8.RuneCountInString(str(v["private_metadata"])); n > maxPrivateMetadata {
		add("/private_metadata", "must be less than %d characters", maxPrivateMetadata+1)
	}
	if n := utf8.RuneCountInString(str(v["external_id"])); n > maxExternalID {
		add("/external_id", "must be less than %d characters", maxExternalID+1)
	}
	raw, ok := v["blocks"]
	if !ok {
		add("/blocks", "missing required field: blocks")
		return errs
	}
	var blocks []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		add("/blocks", "must be an array of objects")
		return errs
	}
	checkBlockList(pointerAdder(&errs, "/view/blocks"), blocks, maxViewBlocks, modalBlockTypes)
	hasInput := false
	for _, b := range blocks {
		hasInput = hasInput || str(b["type"]) == "input"
	}
	if sub, ok := v["submit"]; hasInput && (!ok || string(sub) == "null") {
		add("/submit", "submit is required when the view has input blocks")
	}
	return errs
}

// checkInput validates an input block.
func checkInput(add adder, p string, b map[string]json.RawMessage) {
	checkText(add, p+"/label", b["label"], maxLabel, true)
	if h, ok := b["hint"]; ok {
		checkText(add, p+"/hint", h, maxLabel, true)
	}
	if o, ok := b["optional"]; ok && string(o) != "true" && string(o) != "false" {
		add(p+"/optional", "must be a boolean")
	}
	raw, ok := b["element"]
	if !ok {
		add(p+"/element", "missing required field: element")
		return
	}
	var e map[string]json.RawMessage
	if json.Unmarshal(raw, &e) != nil || e == nil {
		add(p+"/element", "must be an object")
		return
	}
	if t := str(e["type"]); !inputElementTypes[t] {
		add(p+"/element/type", "%q is not an input element", t)
		return
	}
	checkElement(add, p+"/element", raw)
}

// checkInputElement validates the interactive elements Herald's modals use
// (the action_id is checked by checkElement).
func checkInputElement(add adder, p string, e map[string]json.RawMessage) {
	placeholder := func() {
		if ph, ok := e["placeholder"]; ok {
			checkText(add, p+"/placeholder", ph, maxPlaceholder, true)
		}
	}
	switch str(e["type"]) {
	case "plain_text_input":
		placeholder()
		initial := str(e["initial_value"])
		n := utf8.RuneCountInString(initial)
		if n > maxInputLength {
			add(p+"/initial_value", "must be less than %d characters", maxInputLength+1)
		}
		minLen, hasMin := number(e["min_length"])
		maxLen, hasMax := number(e["max_length"])
		if hasMin && (minLen < 0 || minLen > maxInputLength) {
			add(p+"/min_length", "must be between 0 and %d", maxInputLength)
		}
		if hasMax && (maxLen < 1 || maxLen > maxInputLength) {
			add(p+"/max_length", "must be between 1 and %d", maxInputLength)
		}
		if hasMin && hasMax && minLen > maxLen {
			add(p+"/min_length", "must not be more than max_length")
		}
		if hasMax && n > maxLen {
			add(p+"/initial_value", "must not be longer than max_length (%d)", maxLen)
		}
	case "static_select", "multi_static_select":
		placeholder()
		opts := checkOptions(add, p, e, maxSelectOptions, true)
		if raw, ok := e["initial_option"]; ok && str(e["type"]) == "static_select" {
			checkInitial(add, p+"/initial_option", raw, opts)
		}
		if str(e["type"]) == "multi_static_select" {
			for j, raw := range objects(e["initial_options"]) {
				checkInitial(add, fmt.Sprintf("%s/initial_options/%d", p, j), raw, opts)
			}
			if n, ok := number(e["max_selected_items"]); ok && n < 1 {
				add(p+"/max_selected_items", "must be at least 1")
			}
		}
	case "checkboxes":
		opts := checkOptions(add, p, e, maxCheckboxes, false)
		for j, raw := range objects(e["initial_options"]) {
			checkInitial(add, fmt.Sprintf("%s/initial_options/%d", p, j), raw, opts)
		}
	case "users_select":
		placeholder()
		if raw, ok := e["initial_user"]; ok && str(raw) == "" {
			add(p+"/initial_user", "must be a user id")
		}
	}
}

// checkOptions validates an element's options (or, for a select, its
// option groups) and returns them, as JSON text, for initial options to be
// matched against. plainOnly: a select's options take plain_text only.
func checkOptions(add adder, p string, e map[string]json.RawMessage, limit int, plainOnly bool) []string {
	var all []string
	checkList := func(lp string, opts []json.RawMessage) {
		if len(opts) == 0 || len(opts) > limit {
			add(lp, "must have between 1 and %d items", limit)
		}
		values := map[string]bool{}
		for j, raw := range opts {
			op := fmt.Sprintf("%s/%d", lp, j)
			var o map[string]json.RawMessage
			if json.Unmarshal(raw, &o) != nil || o == nil {
				add(op, "must be an option object")
				continue
			}
			checkText(add, op+"/text", o["text"], maxOptionText, plainOnly)
			v := str(o["value"])
			switch n := utf8.RuneCountInString(v); {
			case n == 0:
				add(op+"/value", "must be more than 0 characters")
			case n > maxOptionValue:
				add(op+"/value", "must be less than %d characters", maxOptionValue+1)
			}
			if values[v] {
				add(op+"/value", "duplicate option value %q", v)
			}
			values[v] = true
			if d, ok := o["description"]; ok {
				checkText(add, op+"/description", d, maxOptionDesc, plainOnly)
			}
			all = append(all, canonical(raw))
		}
	}
	_, hasOpts := e["options"]
	groups := objects(e["option_groups"])
	switch {
	case hasOpts && len(groups) > 0:
		add(p, "must provide either options or option_groups, not both")
	case len(groups) > 0:
		if len(groups) > maxSelectOptions {
			add(p+"/option_groups", "no more than %d items allowed", maxSelectOptions)
		}
		for j, g := range groups {
			var grp map[string]json.RawMessage
			_ = json.Unmarshal(g, &grp)
			gp := fmt.Sprintf("%s/option_groups/%d", p, j)
			checkText(add, gp+"/label", grp["label"], maxOptionText, true)
			checkList(gp+"/options", objects(grp["options"]))
		}
	default:
		checkList(p+"/options", objects(e["options"]))
	}
	return all
}

// checkInitial requires an initial option to be exactly one of the options,
// as Slack does.
func checkInitial(add adder, p string, raw json.RawMessage, opts []string) {
	c := canonical(raw)
	for _, o := range opts {
		if o == c {
			return
		}
	}
	add(p, "must exactly match one of the provided options")
}

// canonical is a JSON value re-encoded with sorted keys, for comparison.
func canonical(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func number(raw json.RawMessage) (int, bool) {
	if raw == nil {
		return 0, false
	}
	var n int
	if json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	return n, true
}
