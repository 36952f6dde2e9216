package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Retention says how long aupguard keeps abuse records (personal data
// about end users) and which records are on legal hold from the start.
// Periods are durations with a day unit allowed: "365d", "90d", "720h";
// "0" (or "forever") keeps for ever.
//
//	retention:
//	  default: 365d
//	  categories: {child_sexual_exploitation: forever, fraud: 730d}
//	  apps: {kids-app: 90d}
//	  actions: 730d
//	  hold_categories: [child_sexual_exploitation]
type Retention struct {
	// Default applies to reports without a category or app rule (default 365d).
	Default string `yaml:"default"`
	// Categories: a report is kept for the longest period of its
	// categories that have a rule; this wins over Apps and Default.
	Categories map[string]string `yaml:"categories"`
	// Apps: the period for an app's reports without a category rule.
	Apps map[string]string `yaml:"apps"`
	// Actions is how long reviewer and automatic actions (the audit log)
	// are kept (default 730d). Hold, release and erasure records stay.
	Actions string `yaml:"actions"`
	// HoldCategories are placed on legal hold at start, once: an admin
	// who releases one with a reason is not overruled at the next start
	// (default [child_sexual_exploitation]).
	HoldCategories []string `yaml:"hold_categories"`
	// SweepInterval is the pause between retention sweeps (default 1h);
	// SweepBatch the records one sweep step reads (default 500).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	SweepBatch    int           `yaml:"sweep_batch"`
}

// DefaultRetention is the retention section of Default.
func DefaultRetention() Retention {
	return Retention{
		Default:        "365d",
		Actions:        "730d",
		HoldCategories: []string{"child_sexual_exploitation"},
		SweepInterval:  time.Hour,
		SweepBatch:     500,
	}
}

// ParsePeriod reads a retention period: a Go duration, or N followed by
// "d" for days; "0", "forever" and "" mean keep for ever (0).
func ParsePeriod(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "0", "forever":
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%q is not a period like 365d, 720h or forever", s)
		}
		// More days would overflow a Duration and wrap round to a short
		// period: a retention that deletes what it should keep.
		if d > MaxPeriodDays {
			return 0, fmt.Errorf("%q: at most %dd (or forever)", s, MaxPeriodDays)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a period like 365d, 720h or forever", s)
	}
	return d, nil
}

// MaxPeriodDays bounds a period in days: a century.
const MaxPeriodDays = 36500

// Periods is Retention with every period parsed.
type Periods struct {
	Default    time.Duration
	Categories map[string]time.Duration
	Apps       map[string]time.Duration
	Actions    time.Duration
}

// Periods parses the section (Validate has checked it).
func (r Retention) Periods() (Periods, error) {
	var p Periods
	var err error
	if p.Default, err = ParsePeriod(r.Default); err != nil {
		return p, fmt.Errorf("retention.default: %w", err)
	}
	if p.Actions, err = ParsePeriod(r.Actions); err != nil {
		return p, fmt.Errorf("retention.actions: %w", err)
	}
	parseMap := func(name string, m map[string]string) (map[string]time.Duration, error) {
		out := map[string]time.Duration{}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys) // stable error order
		for _, k := range keys {
			d, err := ParsePeriod(m[k])
			if err != nil {
				return nil, fmt.Errorf("retention.%s.%s: %w", name, k, err)
			}
			out[k] = d
		}
		return out, nil
	}
	if p.Categories, err = parseMap("categories", r.Categories); err != nil {
		return p, err
	}
	p.Apps, err = parseMap("apps", r.Apps)
	return p, err
}

func (r Retention) problems() []string {
	var ps []string
	if _, err := r.Periods(); err != nil {
		ps = append(ps, err.Error())
	}
	if r.SweepInterval <= 0 {
		ps = append(ps, "retention.sweep_interval must be positive (e.g. 1h)")
	}
	if r.SweepBatch <= 0 || r.SweepBatch > 10000 {
		ps = append(ps, fmt.Sprintf("retention.sweep_batch must be between 1 and 10000 (got %d)", r.SweepBatch))
	}
	for _, c := range r.HoldCategories {
		if strings.TrimSpace(c) == "" {
			ps = append(ps, "retention.hold_categories has an empty entry")
		}
	}
	return ps
}
