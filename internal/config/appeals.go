package config

import (
	"fmt"
	"time"
)

// Appeals configures the internal complaint-handling system
// (docs/compliance.md): how long the desk has to decide an appeal, and
// how much an end user may write.
//
//	appeals:
//	  deadline: 14d
//	  max_text_bytes: 4096
type Appeals struct {
	// Deadline is the time from filing by which an appeal should be
	// decided (a period: "14d", "72h"; default 14d). The desk shows each
	// open appeal's age and deadline.
	Deadline string `yaml:"deadline"`
	// MaxTextBytes bounds an appeal's text (default 4096, at most 65536).
	MaxTextBytes int `yaml:"max_text_bytes"`
}

// DefaultAppeals is the appeals section of Default.
func DefaultAppeals() Appeals { return Appeals{Deadline: "14d", MaxTextBytes: 4096} }

// DeadlinePeriod is Deadline parsed (Validate has checked it).
func (a Appeals) DeadlinePeriod() time.Duration {
	d, _ := ParsePeriod(a.Deadline)
	return d
}

func (a Appeals) problems() []string {
	var ps []string
	if d, err := ParsePeriod(a.Deadline); err != nil || d <= 0 {
		ps = append(ps, fmt.Sprintf("appeals.deadline: %q is not a positive period like 14d or 72h", a.Deadline))
	}
	if a.MaxTextBytes <= 0 || a.MaxTextBytes > 65536 {
		ps = append(ps, fmt.Sprintf("appeals.max_text_bytes must be between 1 and 65536 (got %d)", a.MaxTextBytes))
	}
	return ps
}
