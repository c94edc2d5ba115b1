package protocol

import "time"

// Edits and deletions of private messages (docs/protocol.md, "Editing and
// deleting"): the frames of a room's (encode.go), with With (the other
// side of the conversation, from the reader's side) in place of Room. Each
// side gets its own frame, so they are encoded per side.

// EncodePrivateEdited encodes a MessageEdited frame of a private message:
// message id of the reader's conversation with with now reads content,
// since at.
func EncodePrivateEdited(with, id, content string, at time.Time) []byte {
	return mustJSON(messageEditedFrame{Type: "MessageEdited", With: with, ID: id, Content: content, EditedAt: FormatTimestamp(at)})
}

// EncodePrivateDeleted encodes a MessageDeleted frame of a private
// message: message id of the reader's conversation with with was taken
// back at at.
func EncodePrivateDeleted(with, id string, at time.Time) []byte {
	return mustJSON(messageDeletedFrame{Type: "MessageDeleted", With: with, ID: id, EditedAt: FormatTimestamp(at)})
}
