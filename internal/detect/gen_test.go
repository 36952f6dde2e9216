package detect

import (
	"bufio"
	"os"
	"testing"
)

// TestGenSets scores DETECT_GEN_DIR/{harm,benign}.txt (one prompt a line);
// a tuning aid, skipped otherwise.
func TestGenSets(t *testing.T) {
	dir := os.Getenv("DETECT_GEN_DIR")
	if dir == "" {
		t.Skip("set DETECT_GEN_DIR")
	}
	d := bundled(t)
	for _, name := range []string{"harm", "benign"} {
		f, err := os.Open(dir + "/" + name + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n, caught := 0, 0
		for sc.Scan() {
			s := d.Scan([]string{sc.Text()})
			hit := false
			var why []string
			for c, cs := range s.Categories {
				if cs.Score >= 0.5 {
					hit = true
					why = append(why, c)
					why = append(why, cs.Rules...)
				}
			}
			n++
			if hit {
				caught++
			}
			if hit != (name == "harm") {
				t.Logf("%s %v %q %v", name, hit, sc.Text(), why)
			}
		}
		f.Close()
		t.Logf("%s: %d/%d caught", name, caught, n)
	}
}
