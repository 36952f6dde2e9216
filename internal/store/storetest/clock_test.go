package storetest

import (
	"testing"
	"time"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	c := NewClock()
	t0 := c.Now()
	if !c.Now().Equal(t0) {
		t.Fatal("clock moved by itself")
	}
	c.Advance(time.Hour)
	if got := c.Now().Sub(t0); got != time.Hour {
		t.Fatalf("advanced %v", got)
	}
	if t0.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatal("clock is not millisecond aligned")
	}
}
