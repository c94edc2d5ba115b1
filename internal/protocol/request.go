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
)

var (
	errNotObject = errors.New("frame is not a JSON object")
	errTrailing  = errors.New("frame holds more than one JSON value")
	errWrongType = errors.New("has the wrong type")
)

// Decode decodes one client frame: a single JSON object. Field names match
// exactly (encoding/json would also take "Type" or "CONTENT" for "type" and
// "content", letting a client smuggle a second value past a proxy or log
// that reads the real one); unknown fields are skipped. On error the request
// holds the fields read so far, so the reply can carry the request's ref.
func Decode(b []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return req, errNotObject
	}
	var firstErr error
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, errNotObject
		}
		key, _ := tok.(string)
		var dst *string
		switch key {
		case "type":
			dst = &req.Type
		case "ref":
			dst = &req.Ref
		case "username":
			dst = &req.Username
		case "room":
			dst = &req.Room
		case "content":
			dst = &req.Content
		case "to":
			dst = &req.To
		case "since":
			dst = &req.Since
		case "before":
			dst = &req.Before
		case "nonce":
			dst = &req.Nonce
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return req, errNotObject
		}
		var ferr error
		switch {
		case dst != nil:
			ferr = decodeString(raw, dst)
		case key == "limit":
			ferr = decodeInt(raw, &req.Limit)
		}
		if ferr != nil && firstErr == nil {
			firstErr = fmt.Errorf("field %s %w", key, ferr)
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
