package main

import (
	"bytes"
	"strconv"
	"time"
)

// The bench's one clock: nanoseconds as Unix time, but read from the
// monotonic clock, so that a wall-clock step during a run cannot bend a
// latency. Every send time and every receive time comes from here.
var (
	epoch     = time.Now()
	epochUnix = epoch.UnixNano()
)

func nowNano() int64 { return epochUnix + int64(time.Since(epoch)) }

// sleepUntil sleeps until the bench clock reads t (returns at once if past).
func sleepUntil(t int64) {
	if d := t - nowNano(); d > 0 {
		time.Sleep(time.Duration(d))
	}
}

// A message's content identifies it and carries its scheduled send time:
//
//	<phase>:<sender>:<seq>:<sendUnixNano>:xxxx...
//
// padded with 'x' to the payload size. phase numbers a ramp step (0 for a
// plain fanout), sender is the sender's global index, seq counts its
// messages within the phase from 0. The send time is the scheduled one, not
// the moment the write happened: a late send is charged to the latency
// (no coordinated omission).
type msgID struct {
	phase, sender, seq int
	sent               int64
}

// appendContent appends the content of id, padded to size bytes (longer if
// the header alone is longer).
func appendContent(b []byte, id msgID, size int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, int64(id.phase), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(id.sender), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(id.seq), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, id.sent, 10)
	b = append(b, ':')
	for len(b)-start < size {
		b = append(b, 'x')
	}
	return b
}

// parseContent reads what appendContent wrote. It does not allocate.
func parseContent(c []byte) (id msgID, ok bool) {
	var v [4]int64
	i := 0
	for k := range v {
		start := i
		var n int64
		for i < len(c) && c[i] >= '0' && c[i] <= '9' {
			n = n*10 + int64(c[i]-'0')
			i++
		}
		if i == start || i >= len(c) || c[i] != ':' || i-start > 19 {
			return id, false
		}
		i++
		v[k] = n
	}
	return msgID{phase: int(v[0]), sender: int(v[1]), seq: int(v[2]), sent: v[3]}, true
}

// Refs tie a send to its Ack. A data ref has its top bit set, then 7 bits of
// phase and 24 of sequence; setup requests use small refs. They fit a
// uint32, which is what Centrifugo's command ids are.
const (
	refData     = 1 << 31
	refSeqBits  = 24
	refMaxSeq   = 1<<refSeqBits - 1
	refMaxPhase = 1<<7 - 1
)

func dataRef(phase, seq int) uint32 {
	return refData | uint32(phase&refMaxPhase)<<refSeqBits | uint32(seq&refMaxSeq)
}

func splitRef(ref uint32) (phase, seq int, data bool) {
	if ref&refData == 0 {
		return 0, 0, false
	}
	return int(ref>>refSeqBits) & refMaxPhase, int(ref & refMaxSeq), true
}

// bitset records which sequence numbers were seen.
type bitset []uint64

// testAndSet sets bit i and reports whether it was already set.
func (b *bitset) testAndSet(i int) bool {
	w := i >> 6
	if w >= len(*b) {
		n := max(w+1, 2*len(*b), 4)
		grown := make(bitset, n)
		copy(grown, *b)
		*b = grown
	}
	m := uint64(1) << (i & 63)
	old := (*b)[w]&m != 0
	(*b)[w] |= m
	return old
}

func (b bitset) has(i int) bool {
	w := i >> 6
	return w < len(b) && b[w]&(1<<(i&63)) != 0
}

// missing counts the bits in [0, n) that are set in neither b nor skip.
func (b bitset) missing(n int, skip bitset) int64 {
	var lost int64
	for i := 0; i < n; {
		w := i >> 6
		var have uint64
		if w < len(b) {
			have = b[w]
		}
		if w < len(skip) {
			have |= skip[w]
		}
		if i&63 == 0 && i+64 <= n {
			lost += int64(64 - popcount(have))
			i += 64
			continue
		}
		if have&(1<<(i&63)) == 0 {
			lost++
		}
		i++
	}
	return lost
}

func popcount(x uint64) int {
	n := 0
	for x != 0 {
		x &= x - 1
		n++
	}
	return n
}

// Scanning server frames. The bench reads hundreds of thousands of JSON
// messages per second on one core, so it does not decode them: it finds the
// few fields it needs by their key. A key found this way is a real key as
// long as the message is valid JSON, because a quote inside a string value is
// escaped.

// lines calls f for each "\n"-separated JSON message of a frame (a batch
// frame holds several; a plain frame one).
func lines(frame []byte, f func(line []byte)) {
	for len(frame) > 0 {
		i := bytes.IndexByte(frame, '\n')
		if i < 0 {
			f(frame)
			return
		}
		if i > 0 {
			f(frame[:i])
		}
		frame = frame[i+1:]
	}
}

// stringField returns the raw (still escaped) value of the string field
// whose quoted key, colon and opening quote are given, e.g. `"type":"`.
func stringField(line []byte, keyQuote string) ([]byte, bool) {
	i := bytes.Index(line, []byte(keyQuote))
	if i < 0 {
		return nil, false
	}
	v := line[i+len(keyQuote):]
	for j := 0; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			return v[:j], true
		}
	}
	return nil, false
}

// uintField returns the unsigned integer value of the field with the quoted
// key and colon given, e.g. `"id":`.
func uintField(line []byte, keyColon string) (uint64, bool) {
	i := bytes.Index(line, []byte(keyColon))
	if i < 0 {
		return 0, false
	}
	v := line[i+len(keyColon):]
	for len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	var n uint64
	j := 0
	for j < len(v) && v[j] >= '0' && v[j] <= '9' {
		n = n*10 + uint64(v[j]-'0')
		j++
	}
	return n, j > 0
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	return strconv.AppendQuote(b, s) // room names, user names and our contents are ASCII
}
