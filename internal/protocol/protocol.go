// Package protocol is parley's wire contract (docs/protocol.md) in one place:
// the requests a client sends and their decoder, the frames the server sends
// and their encoders, the error codes of Error frames, the WebSocket close
// codes, and the timestamp layout that the wire and the database share.
//
// It holds no state and imports nothing of parley's: the actors encode their
// frames with it, the transport decodes requests and closes connections with
// it, and persistence stores timestamps in its layout.
package protocol

// ErrorCode is the machine-readable code of an Error frame.
type ErrorCode string

// The error codes of the wire contract.
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
	// CodeNotAllowed refuses what this connection may not do, whatever it
	// asks: an account's connection changing its name.
	CodeNotAllowed ErrorCode = "not_allowed"
	// CodeNoSuchMessage: an EditMessage or DeleteMessage names no room
	// message (none with that id in a room one is in, or one deleted), nor
	// a private message of one's own conversations.
	CodeNoSuchMessage ErrorCode = "no_such_message"
)

// CloseCode is the WebSocket close status a connection ends with.
type CloseCode int

// The close codes parley uses (RFC 6455 section 7.4.1).
const (
	CloseNormal        CloseCode = 1000
	CloseGoingAway     CloseCode = 1001 // server shutting down
	CloseProtocolError CloseCode = 1002 // a frame that breaks RFC 6455
	CloseUnsupported   CloseCode = 1003 // binary frame
	CloseInvalidData   CloseCode = 1007 // text frame or close reason that is not UTF-8
	ClosePolicy        CloseCode = 1008 // slow consumer, sustained abuse, a message not completed in time
	CloseTooBig        CloseCode = 1009 // message over the read limit
	CloseInternalError CloseCode = 1011
	CloseTryAgainLater CloseCode = 1013 // connection caps
)
