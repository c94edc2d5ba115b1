package protocol

import (
	"strconv"
	"unicode/utf8"
)

// Reactions, typing and mentions (docs/protocol.md, "Reactions, typing and
// mentions"). A Reactions frame is broadcast to a room, so it is encoded
// once; its counts keep the order the store gives (first reacted first),
// which encoding/json's sorted maps would lose, so it is appended by hand.

// The request types of this file.
const (
	// TypeReact adds (on) or takes back (!on) one's reaction to a room message.
	TypeReact = "React"
	// TypeTyping tells a room, or a private partner, that one is typing.
	TypeTyping = "Typing"
)

// CodeTooManyReactions refuses a React that would give a message more
// distinct emoji than the server allows.
const CodeTooManyReactions ErrorCode = "too_many_reactions"

// EmojiMax bounds an emoji's bytes (UTF-8): the longest standard ZWJ
// sequences (families, flags of subdivisions with their tags) take 28.
const EmojiMax = 40

// ReactionCount is one emoji's count on a message; Mine says the reader is
// one of those who reacted with it (only where the frame is the reader's
// own: History, and catch-up; never in a broadcast).
type ReactionCount struct {
	Emoji string
	Count int
	Mine  bool
}

// ReactionChange is what a broadcast Reactions frame says happened: By
// (a name, as displayed) reacted with Emoji (On) or took it back.
type ReactionChange struct {
	By    string
	Emoji string
	On    bool
}

// EncodeReactions encodes a Reactions frame: the counts of message id of
// room as they stand now, and, for a broadcast, the change that made them
// (ch non-nil), or, for one reader (catch-up), which of them are its own.
func EncodeReactions(room, id string, counts []ReactionCount, ch *ReactionChange) []byte {
	b := make([]byte, 0, 96+len(room)+24*len(counts))
	b = append(b, `{"type":"Reactions","room":`...)
	b = appendJSONString(b, room)
	b = append(b, `,"id":"`...)
	b = append(b, id...)
	b = append(b, '"')
	b = appendReactions(b, counts, ch == nil)
	if ch != nil {
		b = append(b, `,"by":`...)
		b = appendJSONString(b, ch.By)
		b = append(b, `,"emoji":`...)
		b = appendJSONString(b, ch.Emoji)
		b = append(b, `,"on":`...)
		b = strconv.AppendBool(b, ch.On)
	}
	return append(b, '}')
}

// appendReactions appends `,"counts":{...}` and, with mine, `,"reacted":[...]`
// (the emoji the reader reacted with; omitted when none).
func appendReactions(b []byte, counts []ReactionCount, mine bool) []byte {
	return appendCounts(b, `,"counts":{`, counts, mine)
}

func appendCounts(b []byte, key string, counts []ReactionCount, mine bool) []byte {
	b = append(b, key...)
	for i := range counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, counts[i].Emoji)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(counts[i].Count), 10)
	}
	b = append(b, '}')
	if !mine {
		return b
	}
	first := true
	for i := range counts {
		if !counts[i].Mine {
			continue
		}
		if first {
			b = append(b, `,"reacted":[`...)
			first = false
		} else {
			b = append(b, ',')
		}
		b = appendJSONString(b, counts[i].Emoji)
	}
	if !first {
		b = append(b, ']')
	}
	return b
}

// appendExtras appends what a room message carries beyond its body: the
// names it mentions, and (History only) its reactions.
func appendExtras(b []byte, m *Message) []byte {
	if len(m.Mentions) > 0 {
		b = append(b, `,"mentions":[`...)
		for i, n := range m.Mentions {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, n)
		}
		b = append(b, ']')
	}
	if len(m.Reactions) > 0 {
		b = appendCounts(b, `,"reactions":{`, m.Reactions, true)
	}
	return b
}

type userTypingFrame struct {
	Type     string `json:"type"`
	Room     string `json:"room,omitempty"`
	With     string `json:"with,omitempty"`
	Username string `json:"username"`
}

// EncodeUserTyping encodes a UserTyping frame: username is typing in room,
// or (room "") to the reader in their private conversation.
func EncodeUserTyping(room, username string) []byte {
	f := userTypingFrame{Type: "UserTyping", Room: room, Username: username}
	if room == "" {
		f.With = username
	}
	return mustJSON(f)
}

// ValidEmoji reports whether s is one emoji: one grapheme cluster of emoji
// code points, at most EmojiMax bytes. Accepted: a pictographic code point
// with an optional variation selector (U+FE0F), skin tone (U+1F3FB-1F3FF)
// and tag sequence (subdivision flags); a pair of regional indicators (a
// flag); a keycap ([0-9#*] U+FE0F? U+20E3); and up to 8 pictographic
// elements joined by ZWJ (U+200D). Text, spaces, controls and two emoji
// side by side are not.
func ValidEmoji(s string) bool {
	if s == "" || len(s) > EmojiMax || !utf8.ValidString(s) {
		return false
	}
	rs := []rune(s)
	// A flag: exactly two regional indicators.
	if regional(rs[0]) {
		return len(rs) == 2 && regional(rs[1])
	}
	// A keycap.
	if rs[0] == '#' || rs[0] == '*' || (rs[0] >= '0' && rs[0] <= '9') {
		rest := rs[1:]
		if len(rest) > 0 && rest[0] == 0xFE0F {
			rest = rest[1:]
		}
		return len(rest) == 1 && rest[0] == 0x20E3
	}
	elements := 0
	for i := 0; i < len(rs); {
		if !pictographic(rs[i]) {
			return false
		}
		elements++
		i++
		if i < len(rs) && rs[i] == 0xFE0F {
			i++
		}
		if i < len(rs) && rs[i] >= 0x1F3FB && rs[i] <= 0x1F3FF {
			i++
		}
		if i < len(rs) && rs[i] >= 0xE0020 && rs[i] <= 0xE007E { // tags, then the cancel tag
			for i < len(rs) && rs[i] >= 0xE0020 && rs[i] <= 0xE007E {
				i++
			}
			if i >= len(rs) || rs[i] != 0xE007F {
				return false
			}
			i++
		}
		if i == len(rs) {
			break
		}
		if rs[i] != 0x200D || i+1 == len(rs) || elements == 8 {
			return false // another emoji beside this one, not joined to it
		}
		i++
	}
	return elements > 0
}

func regional(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// pictographic reports whether r is an emoji base: the Extended
// Pictographic ranges of Unicode's emoji data, to the block.
func pictographic(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF:
		return !regional(r) && !(r >= 0x1F3FB && r <= 0x1F3FF)
	case r >= 0x2600 && r <= 0x27BF, r >= 0x2190 && r <= 0x21FF, r >= 0x2300 && r <= 0x23FF,
		r >= 0x2B05 && r <= 0x2B55, r >= 0x2934 && r <= 0x2935, r >= 0x25A0 && r <= 0x25FF:
		return true
	}
	switch r {
	case 0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299:
		return true
	}
	return false
}
