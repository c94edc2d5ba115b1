package cluster

import (
	"encoding/binary"
	"encoding/hex"
	"strings"

	"github.com/oklog/ulid/v2"
)

// A message's id is a ULID whose time part is the stream's creation time
// (the cluster's epoch) and whose entropy is the message's stream position.
// Every node makes the same id from the same position without asking
// anyone, ids sort as the stream orders the messages, and they sort after
// every id from before the cluster (a single node's ids carry the time they
// were made, which was before the stream was). An id's position is also
// where History finds the message in the stream (history.go).

// id returns the id of the message at pos.
func (c *Cluster) id(pos uint64) string {
	var u ulid.ULID
	_ = u.SetTime(c.epoch)
	binary.BigEndian.PutUint64(u[8:], pos)
	return u.String()
}

// pos returns the stream position an id was made from, or 0 for an id the
// cluster did not make (one from before it, or not an id).
func (c *Cluster) pos(id string) uint64 {
	u, err := ulid.ParseStrict(id)
	if err != nil || u.Time() != c.epoch || u[6] != 0 || u[7] != 0 {
		return 0
	}
	return binary.BigEndian.Uint64(u[8:])
}

// subject is the stream subject of a room: its name in hex, since room
// names may hold characters a subject may not.
func subject(room string) string { return subjectPrefix + hex.EncodeToString([]byte(room)) }

// roomOf is the room of a stream subject; ok is false for a subject that is
// not a room's.
func roomOf(subj string) (string, bool) {
	rest, ok := strings.CutPrefix(subj, subjectPrefix)
	if !ok {
		return "", false
	}
	b, err := hex.DecodeString(rest)
	if err != nil {
		return "", false
	}
	return string(b), true
}
