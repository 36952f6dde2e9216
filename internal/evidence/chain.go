package evidence

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// chainWriter appends records to a spool file as chained JSON lines,
// hashing the file as it goes.
type chainWriter struct {
	f     *os.File
	bw    *bufio.Writer
	file  hash.Hash // SHA-256 of the whole file
	prev  string    // hex SHA-256 of the last line
	lines int
	size  int64
	buf   bytes.Buffer
	line  []byte
	enc   *json.Encoder
}

func newChainWriter(dir, pattern string) (*chainWriter, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	cw := &chainWriter{f: f, file: sha256.New(), prev: Genesis}
	cw.bw = bufio.NewWriterSize(io.MultiWriter(f, cw.file), 64<<10)
	cw.enc = json.NewEncoder(&cw.buf)
	return cw, nil
}

// add writes one line: v's JSON object with "prev" inserted first.
func (cw *chainWriter) add(v any) error {
	cw.buf.Reset()
	if err := cw.enc.Encode(v); err != nil {
		return err
	}
	rec := bytes.TrimRight(cw.buf.Bytes(), "\n")
	if len(rec) < 2 || rec[0] != '{' {
		return fmt.Errorf("record does not encode as a JSON object")
	}
	// {"prev":"<64 hex>"} or {"prev":"<64 hex>",...}
	line := append(cw.line[:0], `{"prev":"`...)
	line = append(line, cw.prev...)
	line = append(line, '"')
	if len(rec) > 2 {
		line = append(line, ',')
	}
	line = append(line, rec[1:]...)
	cw.line = line
	sum := sha256.Sum256(line)
	cw.prev = hex.EncodeToString(sum[:])
	cw.lines++
	cw.size += int64(len(line)) + 1
	if _, err := cw.bw.Write(line); err != nil {
		return err
	}
	return cw.bw.WriteByte('\n')
}

// finish flushes and rewinds the spool for reading.
func (cw *chainWriter) finish() error {
	if err := cw.bw.Flush(); err != nil {
		return err
	}
	_, err := cw.f.Seek(0, io.SeekStart)
	return err
}

func (cw *chainWriter) sha256() string { return hex.EncodeToString(cw.file.Sum(nil)) }

func (cw *chainWriter) close() {
	cw.f.Close()
	os.Remove(cw.f.Name())
}

// maxLine bounds one JSON line when reading, so a hostile bundle cannot
// make the verifier hold an unbounded line in memory.
const maxLine = 4 << 20

var errLineTooLong = errors.New("line too long")

// lineReader yields lines without their newline. A final line without a
// newline is returned with noNewline set.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

func (lr *lineReader) next() (line []byte, noNewline bool, err error) {
	lr.buf = lr.buf[:0]
	for {
		frag, err := lr.r.ReadSlice('\n')
		if len(lr.buf)+len(frag) > maxLine {
			return nil, false, errLineTooLong
		}
		switch {
		case err == nil:
			if len(lr.buf) == 0 {
				return frag[:len(frag)-1], false, nil
			}
			lr.buf = append(lr.buf, frag[:len(frag)-1]...)
			return lr.buf, false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			lr.buf = append(lr.buf, frag...)
		case errors.Is(err, io.EOF):
			lr.buf = append(lr.buf, frag...)
			if len(lr.buf) == 0 {
				return nil, false, io.EOF
			}
			return lr.buf, true, nil
		default:
			return nil, false, err
		}
	}
}

// linePrev returns the prev field of one chained line.
func linePrev(line []byte) (string, bool) {
	// Fast path: the writer puts prev first.
	const pre = `{"prev":"`
	// pre, 64 hex digits, the closing quote and one byte more (',' or '}')
	if len(line) >= len(pre)+66 && string(line[:len(pre)]) == pre && line[len(pre)+64] == '"' &&
		(line[len(pre)+65] == ',' || line[len(pre)+65] == '}') {
		p := string(line[len(pre) : len(pre)+64])
		if isHex64(p) && json.Valid(line) {
			return p, true
		}
	}
	var v struct {
		Prev *string `json:"prev"`
	}
	if json.Unmarshal(line, &v) != nil || v.Prev == nil || !isHex64(*v.Prev) {
		return "", false
	}
	return *v.Prev, true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// chainCheck follows one chain line by line and remembers its first break.
// It keeps a small window of recent line hashes (and looks a few lines
// ahead after a break) to tell reordered lines from an altered or missing one.
type chainCheck struct {
	lines     int
	head      string
	recent    []string // hashes of the last window lines, oldest first
	brk       string   // description of the first failure, "" while intact
	brkLine   int
	brkPrev   string // the prev the breaking line carries
	lookahead int    // lines still to hash for reorder detection
}

const chainWindow = 64

func newChainCheck() *chainCheck { return &chainCheck{head: Genesis} }

// line feeds the next line (without newline).
func (c *chainCheck) line(line []byte) {
	c.lines++
	n := c.lines
	sum := sha256.Sum256(line)
	h := hex.EncodeToString(sum[:])
	if c.brk != "" {
		if c.lookahead > 0 {
			c.lookahead--
			if h == c.brkPrev {
				c.brk = fmt.Sprintf("chain break at line %d (lines reordered: line %d belongs after line %d)", c.brkLine, c.brkLine, n)
				c.lookahead = 0
			}
		}
	} else {
		prev, ok := linePrev(line)
		switch {
		case !ok:
			c.brk = fmt.Sprintf("line %d is not a JSON object with a hex \"prev\"", n)
		case prev != c.head:
			c.brkLine, c.brkPrev, c.lookahead = n, prev, chainWindow
			c.brk = c.describeBreak(n, prev)
		}
	}
	c.head = h
	if len(c.recent) == chainWindow {
		copy(c.recent, c.recent[1:])
		c.recent = c.recent[:chainWindow-1]
	}
	c.recent = append(c.recent, h)
}

func (c *chainCheck) describeBreak(n int, prev string) string {
	if n == 1 {
		return "chain break at line 1 (prev is not the genesis value: a line is missing before it)"
	}
	// recent[len-1] is line n-1; an earlier match means a line repeats or moved back.
	for i := len(c.recent) - 2; i >= 0; i-- {
		if c.recent[i] == prev {
			at := n - (len(c.recent) - i)
			return fmt.Sprintf("chain break at line %d (lines reordered or repeated: line %d follows line %d)", n, n, at)
		}
	}
	return fmt.Sprintf("chain break at line %d (line %d altered, or a line missing between them)", n, n-1)
}
