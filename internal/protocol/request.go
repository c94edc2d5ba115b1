package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Request is one client->server message, decoded from a frame by Decode.
// Type selects the fields that matter; the rest are ignored.
type Request struct {
	Type     string `json:"type"`
	Ref      string `json:"ref"`
	Username string `json:"username"`
	Room     string `json:"room"`
	Content  string `json:"content"`
	To       string `json:"to"`
	Since    string `json:"since"`
	Before   string `json:"before"`
	Limit    int    `json:"limit"`
	Nonce    string `json:"nonce"`
	With     string `json:"with"`   // History or MarkRead of a conversation: the other account's name
	ID       string `json:"id"`     // MarkRead: the last message read; EditMessage, DeleteMessage: the message
	Prefix   string `json:"prefix"` // ListRooms: only rooms whose names start with it
	Emoji    string `json:"emoji"`  // React: the reaction
	On       bool   `json:"on"`     // React: add it (true) or take it back (false)
	Query    string `json:"query"`  // Search: the words to look for
}

// The request types a client may send.
const (
	TypeSetUsername    = "SetUsername"
	TypeJoinRoom       = "JoinRoom"
	TypeLeaveRoom      = "LeaveRoom"
	TypeSendMessage    = "SendMessage"
	TypePrivateMessage = "PrivateMessage"
	TypeListRooms      = "ListRooms"
	TypeHistory        = "History"
	// TypeConversations lists an account's conversations (private
	// messages kept between accounts), newest first.
	TypeConversations = "Conversations"
	// TypeMarkRead stores how far an account has read a room or a
	// conversation.
	TypeMarkRead = "MarkRead"
	// TypeEditMessage replaces the content of one's own room message;
	// TypeDeleteMessage takes one back (an admin's: anyone's).
	TypeEditMessage   = "EditMessage"
	TypeDeleteMessage = "DeleteMessage"
)

var (
	errNotObject = errors.New("frame is not a JSON object")
	errTrailing  = errors.New("frame holds more than one JSON value")
	errWrongType = errors.New("has the wrong type")
)

// Decode decodes one client frame: a single JSON object.
//
// Keys match exactly and each may appear once. encoding/json would also take
// "Type" or "CONTENT" for "type" and "content", and let the last of two
// "type" keys win: either way a frame could carry one value for a proxy or a
// log that reads it and another for the server. Here a case variant is an
// unknown key, ignored like any other, and a key that appears twice (after
// JSON unescaping, known or not) makes the frame an error.
//
// On error the request holds the fields read so far (the first of a
// duplicate), so the reply can carry the request's ref.
func Decode(b []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return req, errNotObject
	}
	var (
		firstErr error
		seen     uint16              // known keys read, by bit
		others   map[string]struct{} // unknown keys read; made on the first
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, errNotObject
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return req, errNotObject
		}
		bit, dst, known := field(&req, key)
		var ferr error
		switch {
		case known && seen&bit != 0:
			ferr = fmt.Errorf("field %s appears twice", key)
		case known:
			seen |= bit
			if key == "on" {
				ferr = decodeBool(raw, &req.On)
			} else if dst != nil {
				ferr = decodeString(raw, dst)
			} else {
				ferr = decodeInt(raw, &req.Limit)
			}
			if ferr != nil {
				ferr = fmt.Errorf("field %s %w", key, ferr)
			}
		default:
			if _, dup := others[key]; dup {
				ferr = fmt.Errorf("field %s appears twice", quoteShort(key))
			} else {
				if others == nil {
					others = make(map[string]struct{})
				}
				others[key] = struct{}{}
			}
		}
		if ferr != nil && firstErr == nil {
			firstErr = ferr
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return req, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, errTrailing
	}
	return req, firstErr
}

// field returns the bit that stands for key among the known keys and where
// its value goes: a string field, or nil for limit. known is false for a key
// the contract does not define.
func field(req *Request, key string) (bit uint16, dst *string, known bool) {
	switch key {
	case "type":
		return 1 << 0, &req.Type, true
	case "ref":
		return 1 << 1, &req.Ref, true
	case "username":
		return 1 << 2, &req.Username, true
	case "room":
		return 1 << 3, &req.Room, true
	case "content":
		return 1 << 4, &req.Content, true
	case "to":
		return 1 << 5, &req.To, true
	case "since":
		return 1 << 6, &req.Since, true
	case "before":
		return 1 << 7, &req.Before, true
	case "nonce":
		return 1 << 8, &req.Nonce, true
	case "limit":
		return 1 << 9, nil, true
	case "with":
		return 1 << 10, &req.With, true
	case "id":
		return 1 << 11, &req.ID, true
	case "prefix":
		return 1 << 12, &req.Prefix, true
	case "emoji":
		return 1 << 13, &req.Emoji, true
	case "on":
		return 1 << 14, nil, true
	case "query":
		return 1 << 15, &req.Query, true
	}
	return 0, nil, false
}

// decodeString sets *dst from a JSON string; null leaves it empty.
func decodeString(raw json.RawMessage, dst *string) error {
	if string(raw) == "null" {
		return nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return errWrongType
	}
	return json.Unmarshal(raw, dst)
}

// decodeBool sets *dst from a JSON boolean; null leaves it false.
func decodeBool(raw json.RawMessage, dst *bool) error {
	switch string(raw) {
	case "null", "false":
		*dst = false
	case "true":
		*dst = true
	default:
		return errWrongType
	}
	return nil
}

// decodeInt sets *dst from a JSON integer; null leaves it zero.
func decodeInt(raw json.RawMessage, dst *int) error {
	if string(raw) == "null" {
		return nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return errors.New("is not a whole number")
	}
	*dst = n
	return nil
}

// quoteShort quotes a client-chosen key for an error message, cut to a
// length that keeps the reply small.
func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return strconv.Quote(s)
}
