package protocol

// An account's rooms and read markers (docs/protocol.md, "An account's
// rooms and read markers"). These frames are rare, one per join, leave or
// marker, so encoding/json encodes them.

type joinedFrame struct {
	Type  string   `json:"type"`
	Rooms []string `json:"rooms"`
}

type leftFrame struct {
	Type string `json:"type"`
	Room string `json:"room"`
}

// ReadState is an account's read marker in a room or a conversation (one
// of Room and With is set) and the count of unread messages after it.
type ReadState struct {
	Room   string `json:"room,omitempty"`
	With   string `json:"with,omitempty"`
	Read   string `json:"read"`
	Unread int    `json:"unread"`
	// Mentions counts the unread messages that mention the account (room
	// markers only; at most the unread count).
	Mentions int `json:"mentions,omitempty"`
}

type unreadFrame struct {
	Type          string      `json:"type"`
	Rooms         []ReadState `json:"rooms"`
	Conversations []ReadState `json:"conversations"`
}

type readMarkerFrame struct {
	Type     string `json:"type"`
	Room     string `json:"room,omitempty"`
	With     string `json:"with,omitempty"`
	ID       string `json:"id"`
	Unread   int    `json:"unread"`
	Mentions int    `json:"mentions,omitempty"`
}

// EncodeJoined encodes a Joined frame: the rooms an account's connection
// is now in, without having asked (nil is an empty list).
func EncodeJoined(rooms []string) []byte {
	if rooms == nil {
		rooms = []string{}
	}
	return mustJSON(joinedFrame{Type: "Joined", Rooms: rooms})
}

// EncodeLeft encodes a Left frame: a room an account's connection left
// because another connection of the account did.
func EncodeLeft(room string) []byte {
	return mustJSON(leftFrame{Type: "Left", Room: room})
}

// EncodeUnread encodes the Unread frame an account's connection gets once
// its rooms are joined (nil lists are empty).
func EncodeUnread(rooms, conversations []ReadState) []byte {
	if rooms == nil {
		rooms = []ReadState{}
	}
	if conversations == nil {
		conversations = []ReadState{}
	}
	return mustJSON(unreadFrame{Type: "Unread", Rooms: rooms, Conversations: conversations})
}

// EncodeReadMarker encodes a ReadMarker frame: st.Read is the marker as
// stored, st.Unread the count after it.
func EncodeReadMarker(st ReadState) []byte {
	return mustJSON(readMarkerFrame{Type: "ReadMarker", Room: st.Room, With: st.With, ID: st.Read, Unread: st.Unread, Mentions: st.Mentions})
}
