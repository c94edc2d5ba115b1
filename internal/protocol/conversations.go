package protocol

import "strconv"

// Conversations are the private messages kept between two accounts
// (docs/protocol.md, "Conversations"). Their frames are rare: a page of one
// conversation, and the list of an account's conversations.

// EncodeConversationHistory encodes the History frame of a conversation: like
// a room's History, with "with" (the other account's name) in place of
// "room", and entries shaped as live PrivateMessage frames. msgs are oldest
// first.
func EncodeConversationHistory(ref, with string, msgs []Message, truncated bool) []byte {
	n := 64 + len(ref) + len(with)
	for i := range msgs {
		n += 128 + len(msgs[i].Content) + len(msgs[i].Username) + len(msgs[i].Recipient) + len(msgs[i].Nonce)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"type":"History"`...)
	if ref != "" {
		b = append(b, `,"ref":`...)
		b = appendJSONString(b, ref)
	}
	b = append(b, `,"with":`...)
	b = appendJSONString(b, with)
	b = append(b, `,"messages":[`...)
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, EncodePrivate(msgs[i])...)
	}
	b = append(b, `],"truncated":`...)
	b = strconv.AppendBool(b, truncated)
	return append(b, '}')
}

// Conversation is one entry of a Conversations frame: the other account,
// the last message between the two, and the account's read marker in the
// conversation ("" for none) with the unread count after it.
type Conversation struct {
	With   string
	Last   Message
	Read   string
	Unread int
}

// EncodeConversations encodes a Conversations frame: conversations newest
// first, each with its last message shaped as a live PrivateMessage frame,
// and its read marker and unread count.
func EncodeConversations(ref string, convs []Conversation, truncated bool) []byte {
	n := 64 + len(ref)
	for i := range convs {
		n += 160 + len(convs[i].With) + len(convs[i].Last.Content) + len(convs[i].Last.Username) + len(convs[i].Last.Recipient) + len(convs[i].Last.Nonce)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"type":"Conversations"`...)
	if ref != "" {
		b = append(b, `,"ref":`...)
		b = appendJSONString(b, ref)
	}
	b = append(b, `,"conversations":[`...)
	for i := range convs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"with":`...)
		b = appendJSONString(b, convs[i].With)
		b = append(b, `,"last":`...)
		b = append(b, EncodePrivate(convs[i].Last)...)
		b = append(b, `,"read":`...)
		b = appendJSONString(b, convs[i].Read)
		b = append(b, `,"unread":`...)
		b = strconv.AppendInt(b, int64(convs[i].Unread), 10)
		b = append(b, '}')
	}
	b = append(b, `],"truncated":`...)
	b = strconv.AppendBool(b, truncated)
	return append(b, '}')
}
