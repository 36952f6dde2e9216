package wire

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// shape builds a chat body of about size bytes around one adversarial
// pattern repeated.
func shapeBody(name string, size int) []byte {
	var b bytes.Buffer
	head := `{"model":"m","messages":[{"role":"user","content":"hi"}],`
	b.WriteString(head)
	switch name {
	case "numbers":
		b.WriteString(`"x":[0`)
		for b.Len() < size-2 {
			b.WriteString(",0")
		}
		b.WriteString("]}")
	case "tiny-strings-unknown":
		b.WriteString(`"x":["a"`)
		for b.Len() < size-2 {
			b.WriteString(`,"a"`)
		}
		b.WriteString("]}")
	case "tiny-parts":
		b.Reset()
		b.WriteString(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}`)
		for b.Len() < size-4 {
			b.WriteString(`,{"type":"text","text":"a"}`)
		}
		b.WriteString("]}]}")
	case "empty-arrays":
		b.WriteString(`"x":[[]`)
		for b.Len() < size-2 {
			b.WriteString(`,[]`)
		}
		b.WriteString("]}")
	case "empty-objects":
		b.WriteString(`"x":[{}`)
		for b.Len() < size-2 {
			b.WriteString(`,{}`)
		}
		b.WriteString("]}")
	case "deep":
		b.WriteString(`"x":[`)
		unit := strings.Repeat(`{"a":`, 60) + "0" + strings.Repeat("}", 60)
		b.WriteString(unit)
		for b.Len() < size-len(unit)-2 {
			b.WriteString("," + unit)
		}
		b.WriteString("]}")
	case "many-keys":
		b.WriteString(`"x":{"k0":0`)
		for i := 1; b.Len() < size-2; i++ {
			b.WriteString(`,"k` + itoa36(i) + `":0`)
		}
		b.WriteString("}}")
	case "one-string":
		b.WriteString(`"x":"` + strings.Repeat("a", size-b.Len()-8) + `"}`)
	}
	return b.Bytes()
}

func itoa36(i int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var out []byte
	for ; i > 0; i /= 36 {
		out = append(out, digits[i%36])
	}
	return string(out)
}

var memShapes = []string{"numbers", "tiny-strings-unknown", "tiny-parts", "empty-arrays", "empty-objects", "deep", "many-keys", "one-string"}

// parseCost is the heap a parsed request holds (live after a GC) and the
// bytes allocated while parsing, per body byte.
func parseCost(t testing.TB, body []byte) (live, alloc float64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, err := ParseRequest(EndpointChat, body, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	total := after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(req)
	return float64(held) / float64(len(body)), float64(total) / float64(len(body))
}

// The parser's memory is a fixed number of bytes per value whatever the
// shape: for every adversarial shape what ParseRequest allocates stays
// within ParseCost, and ParseCost within MaxParseFactor × the body.
func TestParseMemoryBoundedForEveryShape(t *testing.T) {
	for _, s := range memShapes {
		body := shapeBody(s, 1<<20)
		live, alloc := parseCost(t, body)
		cost := ParseCost(body, 0)
		t.Logf("%-22s %8d bytes: live %.1fx, allocated %.1fx, ParseCost %.1fx", s, len(body), live, alloc, float64(cost)/float64(len(body)))
		if alloc*float64(len(body)) > float64(cost)+64<<10 {
			t.Errorf("%s: allocated %.0f bytes, over ParseCost %d", s, alloc*float64(len(body)), cost)
		}
		if cost > MaxParseFactor*int64(len(body))+4096 {
			t.Errorf("%s: ParseCost %d is over %d × the body", s, cost, MaxParseFactor)
		}
	}
}
