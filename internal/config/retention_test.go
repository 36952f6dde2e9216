package config

import (
	"strings"
	"testing"
	"time"
)

func TestRetentionDefaults(t *testing.T) {
	c, err := parseWith("", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Retention.Periods()
	if err != nil {
		t.Fatal(err)
	}
	if p.Default != 365*24*time.Hour || p.Actions != 730*24*time.Hour || len(c.Retention.HoldCategories) != 1 ||
		c.Retention.HoldCategories[0] != "child_sexual_exploitation" || c.Retention.SweepInterval != time.Hour {
		t.Fatalf("defaults: %+v %+v", c.Retention, p)
	}
}

func TestRetentionParsed(t *testing.T) {
	c, err := parseWith(`
retention:
  default: 90d
  categories: {child_sexual_exploitation: forever, fraud: 720h}
  apps: {kids: 7d}
  hold_categories: []
`, map[string]string{"AUPGUARD_RETENTION_SWEEP_INTERVAL": "10m"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Retention.Periods()
	if p.Default != 90*24*time.Hour || p.Categories["child_sexual_exploitation"] != 0 || p.Categories["fraud"] != 30*24*time.Hour ||
		p.Apps["kids"] != 7*24*time.Hour || len(c.Retention.HoldCategories) != 0 || c.Retention.SweepInterval != 10*time.Minute {
		t.Fatalf("parsed: %+v %+v", c.Retention, p)
	}
}

func TestRetentionInvalid(t *testing.T) {
	_, err := parseWith(`
retention:
  default: a year
  apps: {kids: -3d}
  sweep_batch: -1
`, nil)
	if err == nil {
		t.Fatal("bad retention accepted")
	}
	for _, want := range []string{"retention.default", "retention.sweep_batch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "forever": 0, "0": 0, "1d": 24 * time.Hour, "36h": 36 * time.Hour} {
		if got, err := ParsePeriod(in); err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"1y", "-1d", "d", "soon"} {
		if _, err := ParsePeriod(in); err == nil {
			t.Errorf("ParsePeriod(%q) accepted", in)
		}
	}
}

func parseWith(yaml string, vars map[string]string) (*Config, error) {
	m := map[string]string{"OPENROUTER_API_KEY": "k"}
	for k, v := range vars {
		m[k] = v
	}
	return load([]byte(yaml), "test", env(m))
}

// A day count too large for a Duration is refused, never wrapped round to
// a short retention.
func TestParsePeriodRefusesOverflow(t *testing.T) {
	for _, s := range []string{"36501d", "200000d", "999999999999d"} {
		if d, err := ParsePeriod(s); err == nil {
			t.Errorf("ParsePeriod(%q) = %v, want an error", s, d)
		}
	}
	if d, err := ParsePeriod("36500d"); err != nil || d != 36500*24*time.Hour {
		t.Errorf("ParsePeriod(36500d) = %v, %v", d, err)
	}
}
