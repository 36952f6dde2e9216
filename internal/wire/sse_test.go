package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, r io.Reader) ([]Event, error) {
	t.Helper()
	er := NewEventReader(r)
	var evs []Event
	for {
		ev, err := er.Next()
		if err != nil {
			if err == io.EOF {
				return evs, nil
			}
			return evs, err
		}
		evs = append(evs, ev)
		if len(evs) > 10000 {
			t.Fatal("runaway")
		}
	}
}

func TestEventReader(t *testing.T) {
	stream := ": OPENROUTER PROCESSING\n\n" +
		"data: {\"a\":1}\n\n" +
		"\n\n" + // stray blank lines
		"data: line1\r\ndata: line2\r\n\r\n" +
		"event: content_block_delta\ndata: {}\n: mid comment\nid: 7\n\n" +
		"data\n\n" +
		"data:nospace\n\n" +
		"data: [DONE]" // no trailing blank line
	want := []struct {
		raw, data, typ   string
		comment, nilData bool
	}{
		{": OPENROUTER PROCESSING\n\n", "", "", true, true},
		{"data: {\"a\":1}\n\n", `{"a":1}`, "", false, false},
		{"data: line1\r\ndata: line2\r\n\r\n", "line1\nline2", "", false, false},
		{"event: content_block_delta\ndata: {}\n: mid comment\nid: 7\n\n", "{}", "content_block_delta", false, false},
		{"data\n\n", "", "", false, false},
		{"data:nospace\n\n", "nospace", "", false, false},
		{"data: [DONE]", "[DONE]", "", false, false},
	}
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(stream)) },
		"data err": func() io.Reader { return iotest.DataErrReader(strings.NewReader(stream)) },
	}
	for name, mk := range readers {
		evs, err := readAll(t, mk())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(evs) != len(want) {
			t.Fatalf("%s: %d events, want %d", name, len(evs), len(want))
		}
		for i, w := range want {
			ev := evs[i]
			if string(ev.Raw) != w.raw || string(ev.Data) != w.data || ev.Comment != w.comment ||
				(ev.Data == nil) != w.nilData || ev.Type != w.typ {
				t.Errorf("%s: event %d = raw %q data %q comment %v type %q, want %+v", name, i, ev.Raw, ev.Data, ev.Comment, ev.Type, w)
			}
		}
	}
}

func TestEventReaderLimits(t *testing.T) {
	long := "data: " + strings.Repeat("x", MaxLineBytes+10) + "\n\n"
	evs, err := readAll(t, strings.NewReader("data: ok\n\n"+long))
	if !errors.Is(err, ErrLineTooLong) || len(evs) != 1 {
		t.Fatalf("got %d events, err %v", len(evs), err)
	}
	// A line just under the limit is fine.
	ok := "data: " + strings.Repeat("y", MaxLineBytes-10) + "\n\n"
	evs, err = readAll(t, strings.NewReader(ok))
	if err != nil || len(evs) != 1 || len(evs[0].Data) != MaxLineBytes-10 {
		t.Fatalf("%v %d", err, len(evs))
	}
	// Many lines adding up beyond the event limit.
	line := "data: " + strings.Repeat("z", 1<<19) + "\n"
	_, err = readAll(t, strings.NewReader(strings.Repeat(line, 20)+"\n"))
	if !errors.Is(err, ErrEventTooLong) {
		t.Fatalf("err %v", err)
	}
	// An unending line without a newline errors rather than growing.
	_, err = readAll(t, io.LimitReader(neverNewline{}, 4<<20))
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err %v", err)
	}
}

type neverNewline struct{}

func (neverNewline) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestEventReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: partial"), iotest.ErrReader(boom))
	evs, err := readAll(t, r)
	if !errors.Is(err, boom) || len(evs) != 2 || string(evs[1].Data) != "partial" {
		t.Fatalf("%d %v", len(evs), err)
	}
}

func TestEventRawOwned(t *testing.T) {
	// Raw and Data must not alias the reader's buffer.
	er := NewEventReader(strings.NewReader("data: one\n\ndata: two\n\n"))
	a, _ := er.Next()
	_, _ = er.Next()
	if !bytes.Equal(a.Raw, []byte("data: one\n\n")) || string(a.Data) != "one" {
		t.Fatalf("first event changed: %q", a.Raw)
	}
}
