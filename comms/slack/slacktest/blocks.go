package slacktest

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Block Kit limits Slack enforces with invalid_blocks. Only the block and
// element types Herald sends are checked in depth; other types pass.
const (
	maxBlocks         = 50
	maxBlockID        = 255
	maxHeaderText     = 150
	maxText           = 3000
	maxFields         = 10
	maxFieldText      = 2000
	maxContextElems   = 10
	maxActionElems    = 25
	maxButtonText     = 75
	maxURL            = 3000
	maxActionID       = 255
	maxButtonValue    = 2000
	maxBlocksJSONSize = 1 << 20 // not Slack's figure; a guard against runaway input
)

// CheckBlocks validates a blocks JSON array as Slack would and returns its
// complaints in Slack's "[ERROR] ... [json-pointer:...]" form, none when the
// blocks are acceptable.
func CheckBlocks(blocksJSON string) []string {
	if len(blocksJSON) > maxBlocksJSONSize {
		return []string{"[ERROR] blocks too large"}
	}
	var blocks []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		return []string{"[ERROR] blocks must be a JSON array of objects: " + err.Error()}
	}
	var errs []string
	checkBlockList(pointerAdder(&errs, "/blocks"), blocks, maxBlocks, nil)
	return errs
}

// pointerAdder returns an adder that writes Slack's "[ERROR] ...
// [json-pointer:prefix/ptr]" lines to errs.
func pointerAdder(errs *[]string, prefix string) adder {
	return func(ptr, format string, args ...any) {
		*errs = append(*errs, fmt.Sprintf("[ERROR] %s [json-pointer:%s%s]", fmt.Sprintf(format, args...), prefix, ptr))
	}
}

// checkBlockList validates a surface's blocks: at most limit of them, block
// ids unique, each block's content. allowed, when not nil, is the set of
// block types the surface accepts (a modal's); nil lets unknown types pass.
func checkBlockList(add adder, blocks []map[string]json.RawMessage, limit int, allowed map[string]bool) {
	if len(blocks) > limit {
		add("", "no more than %d items allowed", limit)
	}
	ids := map[string]int{}
	for i, b := range blocks {
		p := fmt.Sprintf("/%d", i)
		typ := str(b["type"])
		if typ == "" {
			add(p+"/type", "missing required field: type")
			continue
		}
		if allowed != nil && !allowed[typ] {
			add(p+"/type", "%q is not a valid block type here", typ)
			continue
		}
		if id := str(b["block_id"]); id != "" {
			if utf8.RuneCountInString(id) > maxBlockID {
				add(p+"/block_id", "must be less than %d characters", maxBlockID+1)
			}
			if j, dup := ids[id]; dup {
				add(p+"/block_id", "duplicate block_id %q (also at /%d)", id, j)
			}
			ids[id] = i
		}
		switch typ {
		case "header":
			checkText(add, p+"/text", b["text"], maxHeaderText, true)
		case "section":
			_, hasText := b["text"]
			fields := objects(b["fields"])
			if !hasText && len(fields) == 0 {
				add(p, "must provide either text or fields")
			}
			if hasText {
				checkText(add, p+"/text", b["text"], maxText, false)
			}
			if len(fields) > maxFields {
				add(p+"/fields", "no more than %d items allowed", maxFields)
			}
			for j, f := range fields {
				checkText(add, fmt.Sprintf("%s/fields/%d", p, j), f, maxFieldText, false)
			}
			if acc, ok := b["accessory"]; ok {
				checkElement(add, p+"/accessory", acc)
			}
		case "context":
			elems := objects(b["elements"])
			if len(elems) == 0 || len(elems) > maxContextElems {
				add(p+"/elements", "must have between 1 and %d items", maxContextElems)
			}
			for j, e := range elems {
				ep := fmt.Sprintf("%s/elements/%d", p, j)
				var t struct{ Type string }
				_ = json.Unmarshal(e, &t)
				if t.Type == "plain_text" || t.Type == "mrkdwn" {
					checkText(add, ep, e, maxText, false)
				} else if t.Type != "image" {
					add(ep+"/type", "must be one of image, plain_text, mrkdwn")
				}
			}
		case "actions":
			elems := objects(b["elements"])
			if len(elems) == 0 || len(elems) > maxActionElems {
				add(p+"/elements", "must have between 1 and %d items", maxActionElems)
			}
			for j, e := range elems {
				checkElement(add, fmt.Sprintf("%s/elements/%d", p, j), e)
			}
		case "input":
			checkInput(add, p, b)
		}
	}
}

type adder func(ptr, format string, args ...any)

func checkElement(add adder, p string, raw json.RawMessage) {
	var e map[string]json.RawMessage
	if json.Unmarshal(raw, &e) != nil {
		add(p, "must be an object")
		return
	}
	if n := utf8.RuneCountInString(str(e["action_id"])); n > maxActionID {
		add(p+"/action_id", "must be less than %d characters", maxActionID+1)
	}
	if str(e["type"]) != "button" {
		checkInputElement(add, p, e)
		return
	}
	checkText(add, p+"/text", e["text"], maxButtonText, true)
	if n := utf8.RuneCountInString(str(e["url"])); n > maxURL {
		add(p+"/url", "must be less than %d characters", maxURL+1)
	}
	if n := utf8.RuneCountInString(str(e["value"])); n > maxButtonValue {
		add(p+"/value", "must be less than %d characters", maxButtonValue+1)
	}
	if s := str(e["style"]); s != "" && s != "primary" && s != "danger" {
		add(p+"/style", "must be one of primary, danger")
	}
}

// checkText validates a composition text object.
func checkText(add adder, p string, raw json.RawMessage, limit int, plainOnly bool) {
	if raw == nil {
		add(p, "missing required field: text")
		return
	}
	var t struct {
		Type  string `json:"type"`
		Text  string `json:"text"`
		Emoji *bool  `json:"emoji"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		add(p, "must be a text object")
		return
	}
	switch {
	case t.Type != "plain_text" && t.Type != "mrkdwn":
		add(p+"/type", "must be one of plain_text, mrkdwn")
	case plainOnly && t.Type != "plain_text":
		add(p+"/type", "must be plain_text")
	case t.Type == "mrkdwn" && t.Emoji != nil:
		add(p+"/emoji", "emoji is only allowed on plain_text")
	}
	n := utf8.RuneCountInString(t.Text)
	if n == 0 {
		add(p+"/text", "must be more than 0 characters")
	}
	if n > limit {
		add(p+"/text", "must be less than %d characters", limit+1)
	}
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func objects(raw json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	_ = json.Unmarshal(raw, &out)
	return out
}
