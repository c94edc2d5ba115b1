package protocol

import "time"

// Edits and deletions of private messages (docs/protocol.md, "Editing and
// deleting"): the frames of a room's, with With (the other side of the
// conversation, from the reader's side) in place of Room. Each side gets
// its own frame, so they are encoded per side.

type privateEditedFrame struct {
	Type     string `json:"type"`
	With     string `json:"with"`
	ID       string `json:"id"`
	Content  string `json:"content"`
	EditedAt string `json:"edited_at"`
}

// EncodePrivateEdited encodes a MessageEdited frame of a private message:
// message id of the reader's conversation with with now reads content,
// since at.
func EncodePrivateEdited(with, id, content string, at time.Time) []byte {
	return mustJSON(privateEditedFrame{Type: "MessageEdited", With: with, ID: id, Content: content, EditedAt: FormatTimestamp(at)})
}

type privateDeletedFrame struct {
	Type     string `json:"type"`
	With     string `json:"with"`
	ID       string `json:"id"`
	EditedAt string `json:"edited_at"`
}

// EncodePrivateDeleted encodes a MessageDeleted frame of a private
// message: message id of the reader's conversation with with was taken
// back at at.
func EncodePrivateDeleted(with, id string, at time.Time) []byte {
	return mustJSON(privateDeletedFrame{Type: "MessageDeleted", With: with, ID: id, EditedAt: FormatTimestamp(at)})
}
