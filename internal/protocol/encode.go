package protocol

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// The outbound frames are encoded once, where they are produced, and the same
// immutable bytes go to every recipient. Hot frames (Message, PrivateMessage,
// the Ack of a message) are appended by hand so that a broadcast costs one
// allocation; rare ones go through encoding/json.

// Message is a chat message as the wire shows it: in a Message frame (room
// messages, also the entries of History) or a PrivateMessage frame.
type Message struct {
	ID        string // a ULID: safe to write without escaping
	Room      string // room messages only
	Username  string // the sender
	Recipient string // private messages only
	Content   string
	Timestamp time.Time
	Nonce     string    // optional; omitted when empty
	EditedAt  time.Time // room messages: when last edited or deleted; omitted when zero
	Deleted   bool      // room messages: taken back by its author (Content is ""); omitted when false
	Mentions  []string  // room messages: the names it mentions (@name); omitted when none
	// Reactions are a room message's reaction counts, in History only
	// (omitted when none), with the reader's own marked (reactions.go).
	Reactions []ReactionCount
}

// EncodeMessage encodes a Message frame for a room message.
func EncodeMessage(m Message) []byte {
	b := make([]byte, 0, 128+len(m.Content)+len(m.Username)+len(m.Room)+len(m.Nonce))
	return appendMessage(b, &m)
}

func appendMessage(b []byte, m *Message) []byte {
	b = append(b, `{"type":"Message","id":"`...)
	b = append(b, m.ID...)
	b = append(b, `","room":`...)
	b = appendJSONString(b, m.Room)
	b = append(b, `,"username":`...)
	b = appendJSONString(b, m.Username)
	return appendBody(b, m)
}

// EncodePrivate encodes a PrivateMessage frame: from m.Username to
// m.Recipient.
func EncodePrivate(m Message) []byte {
	b := make([]byte, 0, 128+len(m.Content)+len(m.Username)+len(m.Recipient)+len(m.Nonce))
	b = append(b, `{"type":"PrivateMessage","id":"`...)
	b = append(b, m.ID...)
	b = append(b, `","from":`...)
	b = appendJSONString(b, m.Username)
	b = append(b, `,"to":`...)
	b = appendJSONString(b, m.Recipient)
	return appendBody(b, &m)
}

// appendBody appends what a room message and a private message share after
// their addressing: content, timestamp, the nonce if any, and the closing brace.
func appendBody(b []byte, m *Message) []byte {
	b = append(b, `,"content":`...)
	b = appendJSONString(b, m.Content)
	b = append(b, `,"timestamp":"`...)
	b = appendTimestamp(b, m.Timestamp)
	b = append(b, '"')
	if m.Nonce != "" {
		b = append(b, `,"nonce":`...)
		b = appendJSONString(b, m.Nonce)
	}
	if !m.EditedAt.IsZero() {
		b = append(b, `,"edited_at":"`...)
		b = appendTimestamp(b, m.EditedAt)
		b = append(b, '"')
	}
	if m.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	b = appendExtras(b, m)
	return append(b, '}')
}

// EncodeAckMessage encodes the Ack of a stored message: its id and timestamp.
func EncodeAckMessage(ref, id string, ts time.Time) []byte {
	b := make([]byte, 0, 96+len(ref))
	b = append(b, `{"type":"Ack","ref":`...)
	b = appendJSONString(b, ref)
	b = append(b, `,"id":"`...)
	b = append(b, id...)
	b = append(b, `","timestamp":"`...)
	b = appendTimestamp(b, ts)
	return append(b, `"}`...)
}

// EncodeHistory encodes a History frame by hand, with appendMessage, so that
// an entry has exactly the shape of a live Message. msgs are oldest first.
func EncodeHistory(ref, room string, msgs []Message, truncated bool) []byte {
	n := 64 + len(ref) + len(room)
	for i := range msgs {
		n += 128 + len(msgs[i].Content) + len(msgs[i].Username) + len(msgs[i].Room) + len(msgs[i].Nonce) + 24*len(msgs[i].Reactions)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"type":"History"`...)
	if ref != "" {
		b = append(b, `,"ref":`...)
		b = appendJSONString(b, ref)
	}
	b = append(b, `,"room":`...)
	b = appendJSONString(b, room)
	b = append(b, `,"messages":[`...)
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, &msgs[i])
	}
	b = append(b, `],"truncated":`...)
	b = strconv.AppendBool(b, truncated)
	return append(b, '}')
}

// Rare frames, encoded with encoding/json.

type ackFrame struct {
	Type     string `json:"type"`
	Ref      string `json:"ref"`
	Username string `json:"username,omitempty"`
	Room     string `json:"room,omitempty"`
}

type errorFrame struct {
	Type    string    `json:"type"`
	Ref     string    `json:"ref,omitempty"`
	Code    ErrorCode `json:"code"`
	Message string    `json:"message"`
}

type systemFrame struct {
	Type    string `json:"type"`
	Room    string `json:"room,omitempty"`
	Content string `json:"content"`
}

type presenceFrame struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	Room     string `json:"room"`
}

type membersFrame struct {
	Type      string   `json:"type"`
	Room      string   `json:"room"`
	Usernames []string `json:"usernames"`
}

type welcomeFrame struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	Account  bool   `json:"account"`
}

// RoomInfo is one entry of a RoomList.
type RoomInfo struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
}

type roomListFrame struct {
	Type      string     `json:"type"`
	Ref       string     `json:"ref,omitempty"`
	Rooms     []RoomInfo `json:"rooms"`
	Total     int        `json:"total"`
	Truncated bool       `json:"truncated"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings, ints and slices reach here.
		panic("protocol: encode frame: " + err.Error())
	}
	return b
}

// EncodeError encodes an Error frame; ref is left out when empty.
func EncodeError(ref string, code ErrorCode, msg string) []byte {
	return mustJSON(errorFrame{Type: "Error", Ref: ref, Code: code, Message: msg})
}

// EncodeAck encodes the Ack of a request other than a send: with the name
// set by SetUsername, or the room of JoinRoom and LeaveRoom.
func EncodeAck(ref, username, room string) []byte {
	return mustJSON(ackFrame{Type: "Ack", Ref: ref, Username: username, Room: room})
}

// EncodeSystem encodes a SystemMessage frame; room is left out when empty.
func EncodeSystem(room, content string) []byte {
	return mustJSON(systemFrame{Type: "SystemMessage", Room: room, Content: content})
}

// EncodeUserJoined encodes the UserJoined frame of username joining room.
func EncodeUserJoined(username, room string) []byte {
	return mustJSON(presenceFrame{Type: "UserJoined", Username: username, Room: room})
}

// EncodeUserLeft encodes the UserLeft frame of username leaving room.
func EncodeUserLeft(username, room string) []byte {
	return mustJSON(presenceFrame{Type: "UserLeft", Username: username, Room: room})
}

type renamedFrame struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// EncodeUserRenamed encodes the UserRenamed frame of a member of room
// renamed from old to new.
func EncodeUserRenamed(room, old, new string) []byte {
	return mustJSON(renamedFrame{Type: "UserRenamed", Room: room, Old: old, New: new})
}

// EncodeMembers encodes a Members frame; nil names is an empty list.
func EncodeMembers(room string, names []string) []byte {
	if names == nil {
		names = []string{}
	}
	return mustJSON(membersFrame{Type: "Members", Room: room, Usernames: names})
}

// EncodeWelcome encodes the Welcome frame that opens every connection:
// the name the connection speaks under, and whether it is an account's
// (signed in; the name is fixed) or a guest's (given; it may be changed).
func EncodeWelcome(username string, account bool) []byte {
	return mustJSON(welcomeFrame{Type: "Welcome", Username: username, Account: account})
}

// EncodeRoomList encodes a RoomList frame: rooms of the total that matched
// the request, truncated when some were left out; nil rooms is an empty
// list.
func EncodeRoomList(ref string, rooms []RoomInfo, total int, truncated bool) []byte {
	if rooms == nil {
		rooms = []RoomInfo{}
	}
	return mustJSON(roomListFrame{Type: "RoomList", Ref: ref, Rooms: rooms, Total: total, Truncated: truncated})
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// (it cannot reach here from a client: frames are checked at the edge), and
// <, >, & and the JS line separators are escaped like encoding/json does, so
// the bytes are safe to embed anywhere.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// messageEditedFrame and messageDeletedFrame are a room's (Room set) or a
// private message's (With set: privateedits.go).
type messageEditedFrame struct {
	Type     string `json:"type"`
	Room     string `json:"room,omitempty"`
	With     string `json:"with,omitempty"`
	ID       string `json:"id"`
	Content  string `json:"content"`
	EditedAt string `json:"edited_at"`
}

// EncodeMessageEdited encodes a MessageEdited frame: message id of room now
// reads content, since at.
func EncodeMessageEdited(room, id, content string, at time.Time) []byte {
	return mustJSON(messageEditedFrame{Type: "MessageEdited", Room: room, ID: id, Content: content, EditedAt: FormatTimestamp(at)})
}

type messageDeletedFrame struct {
	Type     string `json:"type"`
	Room     string `json:"room,omitempty"`
	With     string `json:"with,omitempty"`
	ID       string `json:"id"`
	EditedAt string `json:"edited_at"`
}

// EncodeMessageDeleted encodes a MessageDeleted frame: message id of room
// was taken back at at.
func EncodeMessageDeleted(room, id string, at time.Time) []byte {
	return mustJSON(messageDeletedFrame{Type: "MessageDeleted", Room: room, ID: id, EditedAt: FormatTimestamp(at)})
}
