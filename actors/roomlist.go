package actors

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"

	"parley/internal/protocol"
)

// ListRooms is bounded: a server may know tens of thousands of rooms, and
// a 40-byte request must not return them all. It answers with the rooms
// whose names start with the request's prefix (all, without one): every
// one of them when there are at most limit (100 by default, at most
// RoomListMax), else the limit busiest; either way sorted by name, with
// the total that matched and truncated set when some were left out. Member
// counts are read live; the sorted names are kept between requests and
// made again after a room is created or forgotten.

// RoomListMax is the most rooms one RoomList holds.
const RoomListMax = 500

// roomListDefault is how many rooms a ListRooms without limit gets.
const roomListDefault = 100

// roomNames is the catalog's names, sorted, as of a version of the
// catalog: read by every ListRooms while the catalog is at that version,
// made again by the first after it changed.
type roomNames struct {
	version uint64
	names   []string
}

// namesChanged marks the sorted names stale after a room was created or
// forgotten (after the catalog changed: a list made from before is stale).
func (h *Hub) namesChanged() { h.namesVersion.Add(1) }

func (h *Hub) sortedRoomNames() []string {
	// The version is read before the catalog: a change during the walk
	// leaves this list marked older than the catalog, so it is made again.
	v := h.namesVersion.Load()
	if n := h.sortedNames.Load(); n != nil && n.version == v {
		return n.names
	}
	names := make([]string, 0, h.catalog.Size())
	h.catalog.Range(func(name string, _ time.Time) bool {
		names = append(names, name)
		return true
	})
	slices.Sort(names)
	h.sortedNames.Store(&roomNames{version: v, names: names})
	return names
}

// listRooms answers ListRooms.
func (s *Session) listRooms(req protocol.Request) {
	limit := req.Limit
	if limit <= 0 {
		limit = roomListDefault
	}
	limit = min(limit, RoomListMax)
	prefix := strings.ToLower(req.Prefix)
	names := s.hub.sortedRoomNames()
	lo := sort.SearchStrings(names, prefix)
	hi := lo + sort.Search(len(names)-lo, func(i int) bool { return !strings.HasPrefix(names[lo+i], prefix) })
	match := names[lo:hi]
	rooms := make([]protocol.RoomInfo, len(match))
	for i, name := range match {
		rooms[i] = protocol.RoomInfo{Name: name, Members: s.hub.members(name)}
	}
	truncated := len(rooms) > limit
	if truncated {
		// The busiest, then by name; shown by name.
		slices.SortStableFunc(rooms, func(a, b protocol.RoomInfo) int { return cmp.Compare(b.Members, a.Members) })
		rooms = rooms[:limit]
		slices.SortFunc(rooms, func(a, b protocol.RoomInfo) int { return strings.Compare(a.Name, b.Name) })
	}
	s.reply(protocol.EncodeRoomList(req.Ref, rooms, len(match), truncated))
}

// members is how many people are in the room name now (0 if it is not
// running).
func (h *Hub) members(name string) int {
	if r, ok := h.rooms.Load(name); ok {
		return r.Members()
	}
	return 0
}
