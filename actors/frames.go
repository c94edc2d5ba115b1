package actors

import "parley/internal/protocol"

// wire is m as the protocol's encoders take it. The copy stays on the
// caller's stack: a broadcast still allocates only its frame.
func (m *StoredMessage) wire() protocol.Message {
	return protocol.Message{
		ID:        m.ID,
		Room:      m.Room,
		Username:  m.Username,
		Recipient: m.Recipient,
		Content:   m.Content,
		Timestamp: m.Timestamp,
		Nonce:     m.Nonce,
		EditedAt:  m.EditedAt,
		Deleted:   m.Deleted,
		Mentions:  m.Mentions,
		Reactions: m.Reactions,
	}
}

// historyFrame encodes a History frame of msgs, oldest first.
func historyFrame(ref, room string, msgs []StoredMessage, truncated bool) []byte {
	var page []protocol.Message
	if len(msgs) > 0 {
		page = make([]protocol.Message, len(msgs))
		for i := range msgs {
			page[i] = msgs[i].wire()
		}
	}
	return protocol.EncodeHistory(ref, room, page, truncated)
}
