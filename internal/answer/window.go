package answer

import (
	"unicode/utf8"
)

// channel is one stream of answer text (a choice's content, its reasoning,
// its tool arguments, ...). tail is the most recent already-checked text (at
// most Window bytes), kept so that text split across chunks is checked
// whole; pend is text not yet checked.
type channel struct {
	key  string
	tail []byte
	pend []byte
}

// window holds a stream's channels. Its memory is bounded by MaxChannels ×
// Window plus the pending text (at most Interval bytes plus one event).
type window struct {
	size     int // Options.Window
	max      int // Options.MaxChannels
	chans    []*channel
	pending  int // bytes in all pend
	scratch  []string
	segments []byte // reused to build one segment
}

func (w *window) add(key, text string) {
	if text == "" {
		return
	}
	var ch *channel
	for _, c := range w.chans {
		if c.key == key {
			ch = c
			break
		}
	}
	if ch == nil {
		if len(w.chans) < w.max {
			ch = &channel{key: key}
			w.chans = append(w.chans, ch)
		} else {
			// Bounded memory: an answer with more channels than allowed
			// shares the last one (at worst joining two texts).
			ch = w.chans[len(w.chans)-1]
		}
	}
	ch.pend = append(ch.pend, text...)
	w.pending += len(text)
}

// texts returns the texts to check now: for each channel with pending text,
// its tail followed by the pending text, cut into segments of at most
// 2×size bytes that overlap by size bytes, so that work stays linear in the
// new text even when one event carries megabytes. The slice is reused by
// the next call.
func (w *window) texts() []string {
	w.scratch = w.scratch[:0]
	for _, c := range w.chans {
		if len(c.pend) == 0 {
			continue
		}
		prev := c.tail
		rest := c.pend
		for len(rest) > 0 {
			n := min(len(rest), w.size)
			seg := append(append(w.segments[:0], prev...), rest[:n]...)
			w.scratch = append(w.scratch, string(seg))
			w.segments = seg
			prev = lastBytes(seg, w.size) // aliases segments; append copies it first (memmove)
			rest = rest[n:]
		}
	}
	return w.scratch
}

// done marks all pending text checked: each tail becomes the last size
// bytes of tail+pend.
func (w *window) done() {
	for _, c := range w.chans {
		if len(c.pend) == 0 {
			continue
		}
		if len(c.pend) >= w.size {
			c.tail = append(c.tail[:0], lastBytes(c.pend, w.size)...)
		} else {
			c.tail = append(c.tail, c.pend...)
			if len(c.tail) > w.size {
				keep := lastBytes(c.tail, w.size)
				c.tail = c.tail[:copy(c.tail, keep)]
			}
		}
		c.pend = c.pend[:0]
		if cap(c.pend) > 4*w.size {
			c.pend = nil // one huge event must not pin its size for the whole stream
		}
	}
	w.pending = 0
}

// reset forgets all text (the stream ended or was cut).
func (w *window) reset() {
	w.chans, w.scratch, w.segments, w.pending = nil, nil, nil, 0
}

// lastBytes returns at most n trailing bytes of b, starting at a rune
// boundary and, when one is near, after a space, so the window never begins
// with a broken character or (usually) half a word.
func lastBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[len(b)-n:]
	for i := 0; i < len(b) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(b[i]) {
			b = b[i:]
			break
		}
	}
	for i := 0; i < len(b) && i < 32; i++ {
		if b[i] == ' ' || b[i] == '\n' {
			return b[i+1:]
		}
	}
	return b
}
