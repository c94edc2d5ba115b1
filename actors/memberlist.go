package actors

import "slices"

// memberList is a room's member names, kept sorted as people come and go,
// so that a join's Members costs the room a copy at most, not a sort: in a
// reconnect storm every join changes the list and every joiner is sent it,
// and sorting it afresh each time was a tenth of the storm's CPU. The slice
// list returns is shared and read-only (the joiner's session encodes it);
// a change after it was handed out copies first.
type memberList struct {
	names  []string
	shared bool // names was handed out: the next change makes a new slice
}

// add inserts name (a name in twice is listed twice, as people were).
func (l *memberList) add(name string) {
	i, _ := slices.BinarySearch(l.names, name)
	if l.shared {
		// One allocation with room for a few more joins, which then need
		// no copy until the list is handed out again.
		names := make([]string, 0, len(l.names)+1+len(l.names)/8)
		names = append(append(append(names, l.names[:i]...), name), l.names[i:]...)
		l.names, l.shared = names, false
		return
	}
	l.names = slices.Insert(l.names, i, name)
}

// remove takes out one occurrence of name, if it is there.
func (l *memberList) remove(name string) {
	i, ok := slices.BinarySearch(l.names, name)
	if !ok {
		return
	}
	if l.shared {
		l.names, l.shared = slices.Concat(l.names[:i], l.names[i+1:]), false
		return
	}
	l.names = slices.Delete(l.names, i, i+1)
}

// list returns the names, sorted. The caller must not change the slice.
func (l *memberList) list() []string {
	l.shared = true
	return l.names
}
