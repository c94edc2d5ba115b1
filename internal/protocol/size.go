package protocol

import "unicode/utf8"

// FieldLimits are the longest values a legal request's fields may hold, as
// the chat core checks them.
type FieldLimits struct {
	Content  int // characters (runes) of a message
	Username int // characters of a username: SetUsername's, and a PrivateMessage's to, a conversation's with
	Room     int // characters of a room name
	Ref      int // bytes of a ref and of a nonce
}

// idLen is the length of a message id (a ULID): since, before and id.
const idLen = 26

// intLen is the longest legal limit: an int64 with its sign.
const intLen = 20

// memberSpace is the whitespace allowed around each member of the object
// (a pretty-printer's newline and indent, the space after the colon).
const memberSpace = 8

// requestTypes are the values of type, for the longest one.
var requestTypes = []string{
	TypeSetUsername, TypeJoinRoom, TypeLeaveRoom, TypeSendMessage, TypePrivateMessage,
	TypeListRooms, TypeHistory, TypeConversations, TypeMarkRead, TypeEditMessage, TypeDeleteMessage, TypeReact, TypeTyping,
}

// MaxRequestBytes is the size of the largest legal request in its longest
// legal encoding, rounded up to a whole KiB: the frame limit that refuses
// no legal request (docs/protocol.md, "Limits and close codes").
//
// Largest: every key Decode knows, once each, each value at its longest
// (an unknown key is legal JSON but no part of a legal request). Longest
// encoding: every character of every key and value written as a JSON
// escape: 6 bytes ("\u0041") for a character of the ASCII fields and for
// each byte of a ref or nonce, 12 bytes ("\ud83d\ude00", a surrogate pair)
// for a character of a message; plus memberSpace bytes of whitespace per
// member. With the default limits (4000 characters, 64-byte refs) that is
// 50 KiB, of which the message's 48,000 bytes are nearly all.
func MaxRequestBytes(l FieldLimits) int64 {
	const esc = 6 // bytes of "\uXXXX"
	str := func(chars, perChar int) int { return 2 + chars*perChar }
	longestType := 0
	for _, t := range requestTypes {
		longestType = max(longestType, utf8.RuneCountInString(t))
	}
	values := map[string]int{
		"type":     str(longestType, esc),
		"ref":      str(l.Ref, esc),
		"username": str(l.Username, esc),
		"room":     str(l.Room, esc),
		"content":  str(l.Content, 2*esc),
		"to":       str(l.Username, esc),
		"since":    str(idLen, esc),
		"before":   str(idLen, esc),
		"nonce":    str(l.Ref, esc),
		"limit":    intLen,
		"with":     str(l.Username, esc),
		"id":       str(idLen, esc),
		"emoji":    str(EmojiMax, esc), // each byte escaped at worst (a surrogate pair is 12 bytes for 4)
		"on":       len("false"),
	}
	n := 2 // the braces
	for key, v := range values {
		n += str(len(key), esc) + 1 + v + 1 + memberSpace // key, colon, value, comma, whitespace
	}
	return int64((n + 1023) &^ 1023)
}
