package actors

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Request is one client->server message, decoded by the transport from a
// frame. Type selects the fields that matter; the rest are ignored.
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
}

// Client->server request types (the seed's, plus LeaveRoom and History).
const (
	TypeSetUsername    = "SetUsername"
	TypeJoinRoom       = "JoinRoom"
	TypeLeaveRoom      = "LeaveRoom"
	TypeSendMessage    = "SendMessage"
	TypePrivateMessage = "PrivateMessage"
	TypeListRooms      = "ListRooms"
	TypeHistory        = "History"
)

// ErrorCode is the machine-readable code of an Error frame.
type ErrorCode string

// The error codes of the wire contract (docs/protocol.md).
const (
	CodeBadRequest      ErrorCode = "bad_request"
	CodeUnknownType     ErrorCode = "unknown_type"
	CodeInvalidUsername ErrorCode = "invalid_username"
	CodeUsernameTaken   ErrorCode = "username_taken"
	CodeInvalidRoom     ErrorCode = "invalid_room"
	CodeNotInRoom       ErrorCode = "not_in_room"
	CodeNoSuchUser      ErrorCode = "no_such_user"
	CodeEmptyMessage    ErrorCode = "empty_message"
	CodeTooLarge        ErrorCode = "too_large"
	CodeRateLimited     ErrorCode = "rate_limited"
	CodeServerBusy      ErrorCode = "server_busy"
)

// CloseCode is a WebSocket close status the actors ask the transport to use.
type CloseCode int

// The close codes parley uses (RFC 6455 section 7.4.1).
const (
	CloseNormal        CloseCode = 1000
	CloseGoingAway     CloseCode = 1001 // server shutting down
	CloseUnsupported   CloseCode = 1003 // binary frame
	CloseInvalidData   CloseCode = 1007 // text frame that is not UTF-8
	ClosePolicy        CloseCode = 1008 // slow consumer, sustained abuse
	CloseTooBig        CloseCode = 1009 // frame over the read limit
	CloseInternalError CloseCode = 1011
	CloseTryAgainLater CloseCode = 1013 // connection caps
)

// The outbound frames below are encoded once, where they are produced, and
// the same immutable bytes go to every recipient. Hot frames (Message,
// PrivateMessage, Ack) are appended by hand so that a broadcast costs one
// allocation; rare ones go through encoding/json.

// timestampLayout is RFC 3339 UTC with milliseconds, fixed width so that
// timestamps sort as strings.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTimestamp renders t the way the wire and the database carry it.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(timestampLayout) }

func appendTimestamp(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, timestampLayout)
}

// encodeMessage encodes a Message frame for a stored room message.
func encodeMessage(m *StoredMessage) []byte {
	b := make([]byte, 0, 128+len(m.Content)+len(m.Username)+len(m.Room)+len(m.Nonce))
	return appendMessage(b, m)
}

func appendMessage(b []byte, m *StoredMessage) []byte {
	b = append(b, `{"type":"Message","id":"`...)
	b = append(b, m.ID...)
	b = append(b, `","room":`...)
	b = appendJSONString(b, m.Room)
	b = append(b, `,"username":`...)
	b = appendJSONString(b, m.Username)
	b = append(b, `,"content":`...)
	b = appendJSONString(b, m.Content)
	b = append(b, `,"timestamp":"`...)
	b = appendTimestamp(b, m.Timestamp)
	b = append(b, '"')
	if m.Nonce != "" {
		b = append(b, `,"nonce":`...)
		b = appendJSONString(b, m.Nonce)
	}
	return append(b, '}')
}

// encodePrivate encodes a PrivateMessage frame; to is the recipient's name.
func encodePrivate(m *StoredMessage) []byte {
	b := make([]byte, 0, 128+len(m.Content)+len(m.Username)+len(m.Recipient)+len(m.Nonce))
	b = append(b, `{"type":"PrivateMessage","id":"`...)
	b = append(b, m.ID...)
	b = append(b, `","from":`...)
	b = appendJSONString(b, m.Username)
	b = append(b, `,"to":`...)
	b = appendJSONString(b, m.Recipient)
	b = append(b, `,"content":`...)
	b = appendJSONString(b, m.Content)
	b = append(b, `,"timestamp":"`...)
	b = appendTimestamp(b, m.Timestamp)
	b = append(b, '"')
	if m.Nonce != "" {
		b = append(b, `,"nonce":`...)
		b = appendJSONString(b, m.Nonce)
	}
	return append(b, '}')
}

// encodeAckMessage encodes the Ack of a stored message.
func encodeAckMessage(ref, id string, ts time.Time) []byte {
	b := make([]byte, 0, 96+len(ref))
	b = append(b, `{"type":"Ack","ref":`...)
	b = appendJSONString(b, ref)
	b = append(b, `,"id":"`...)
	b = append(b, id...)
	b = append(b, `","timestamp":"`...)
	b = appendTimestamp(b, ts)
	return append(b, `"}`...)
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
}

// RoomInfo is one entry of a RoomList.
type RoomInfo struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
}

type roomListFrame struct {
	Type  string     `json:"type"`
	Ref   string     `json:"ref,omitempty"`
	Rooms []RoomInfo `json:"rooms"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings, ints and slices reach here.
		panic("actors: encode frame: " + err.Error())
	}
	return b
}

// EncodeError encodes an Error frame. The transport uses it for frames it
// cannot decode.
func EncodeError(ref string, code ErrorCode, msg string) []byte {
	return mustJSON(errorFrame{Type: "Error", Ref: ref, Code: code, Message: msg})
}

func encodeAck(ref, username, room string) []byte {
	return mustJSON(ackFrame{Type: "Ack", Ref: ref, Username: username, Room: room})
}

func encodeSystem(room, content string) []byte {
	return mustJSON(systemFrame{Type: "SystemMessage", Room: room, Content: content})
}

func encodePresence(typ, username, room string) []byte {
	return mustJSON(presenceFrame{Type: typ, Username: username, Room: room})
}

func encodeMembers(room string, names []string) []byte {
	if names == nil {
		names = []string{}
	}
	return mustJSON(membersFrame{Type: "Members", Room: room, Usernames: names})
}

func encodeWelcome(username string) []byte {
	return mustJSON(welcomeFrame{Type: "Welcome", Username: username})
}

func encodeRoomList(ref string, rooms []RoomInfo) []byte {
	if rooms == nil {
		rooms = []RoomInfo{}
	}
	return mustJSON(roomListFrame{Type: "RoomList", Ref: ref, Rooms: rooms})
}

// encodeHistory encodes a History frame by hand, reusing appendMessage so a
// history entry has exactly the shape of a live Message.
func encodeHistory(ref, room string, msgs []StoredMessage, truncated bool) []byte {
	n := 64 + len(ref) + len(room)
	for i := range msgs {
		n += 128 + len(msgs[i].Content) + len(msgs[i].Username) + len(msgs[i].Room) + len(msgs[i].Nonce)
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
