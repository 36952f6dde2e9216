package store

import (
	"context"
	"errors"
	"math"
	"sort"
	"testing"
	"time"
)

func TestDecay(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	cases := []struct {
		v    float64
		dt   time.Duration
		hl   time.Duration
		want float64
	}{
		{8, time.Hour, time.Hour, 4},
		{8, 3 * time.Hour, time.Hour, 1},
		{8, time.Hour, 0, 8},          // no decay
		{8, -time.Hour, time.Hour, 8}, // never grows
		{0, time.Hour, time.Hour, 0},
	}
	for _, c := range cases {
		if got := Decay(c.v, t0, t0.Add(c.dt), c.hl); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Decay(%v, %v, hl %v) = %v, want %v", c.v, c.dt, c.hl, got, c.want)
		}
	}
}

func TestEscalate(t *testing.T) {
	p := Policy{SuspendAt: 3, BanAt: 10}
	for _, c := range []struct {
		score float64
		rec   string
		want  Status
	}{{0, "", Active}, {2.99, "", Active}, {3, "", Suspended}, {10, "", Banned}, {0, "ban", Banned}, {0, "suspend", Suspended}, {11, "suspend", Banned}} {
		if got := Escalate(c.score, c.rec, p); got != c.want {
			t.Errorf("Escalate(%v, %q) = %s, want %s", c.score, c.rec, got, c.want)
		}
	}
	if Escalate(100, "", Policy{}) != Active {
		t.Error("zero thresholds escalate")
	}
}

func TestRiskKeyOrderIsTimeInvariant(t *testing.T) {
	hl := time.Hour
	t0 := time.Unix(1_700_000_000, 0)
	type u struct {
		s  float64
		at time.Time
	}
	us := []u{{5, t0}, {3, t0.Add(time.Hour)}, {1, t0.Add(3 * time.Hour)}, {0.2, t0.Add(5 * time.Hour)}}
	for _, later := range []time.Duration{5 * time.Hour, 50 * time.Hour} {
		now := t0.Add(later)
		byKey := append([]u(nil), us...)
		sort.Slice(byKey, func(i, j int) bool {
			return RiskKey(byKey[i].s, byKey[i].at, hl) > RiskKey(byKey[j].s, byKey[j].at, hl)
		})
		for i := 1; i < len(byKey); i++ {
			if Decay(byKey[i].s, byKey[i].at, now, hl) > Decay(byKey[i-1].s, byKey[i-1].at, now, hl) {
				t.Fatalf("key order differs from decayed order at %v", later)
			}
		}
	}
}

func TestGCRA(t *testing.T) {
	now := int64(1_000_000_000_000)
	tat, g, _ := GCRA(0, now, 60, 100)
	if g != 60 {
		t.Fatalf("burst %d", g)
	}
	_, g, retry := GCRA(tat, now, 60, 1)
	if g != 0 || retry != time.Second {
		t.Fatalf("empty: %d %v", g, retry)
	}
	tat, _, _ = GCRA(tat, now, 60, -2)
	if _, g, _ = GCRA(tat, now, 60, 5); g != 2 {
		t.Fatalf("after refund: %d", g)
	}
	if _, g, _ := GCRA(0, now, 0, 7); g != 7 {
		t.Fatal("unlimited")
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	a, b := NewID(t0), NewID(t0.Add(time.Millisecond))
	if len(a) != 26 || !(a < b) || NewID(t0) == a {
		t.Fatalf("ids %s %s", a, b)
	}
}

func TestQueueCursor(t *testing.T) {
	c := QueueCursor{Key: 1.25, Member: `["a","b"]`}
	got, err := DecodeQueueCursor(EncodeQueueCursor(c))
	if err != nil || got != c {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := DecodeQueueCursor("!!"); !errors.Is(err, ErrBadCursor) {
		t.Fatal(err)
	}
	if !c.After(1, "z") || !c.After(1.25, `["a","a"]`) || c.After(1.25, `["a","c"]`) || c.After(2, "a") {
		t.Fatal("After")
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	_, err := Open(context.Background(), "mongodb://user:hunter2@x")
	if !errors.Is(err, ErrUnsupported) {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), "no-scheme"); !errors.Is(err, ErrUnsupported) {
		t.Fatal(err)
	}
}

func TestStandingBlocks(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		s    Standing
		want bool
	}{
		{Standing{Status: Active}, false},
		{Standing{Status: Warned}, false},
		{Standing{Status: Banned}, true},
		{Standing{Status: Suspended, Until: now.Add(time.Minute)}, true},
		{Standing{Status: Suspended, Until: now.Add(-time.Minute)}, false},
	} {
		if c.s.Blocks(now) != c.want {
			t.Errorf("%+v", c.s)
		}
	}
}
