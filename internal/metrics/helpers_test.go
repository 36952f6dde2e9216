package metrics

import (
	"fmt"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// hasSample reports whether a family holds a sample with exactly labels
// (`k="v",…` in label order as written) and value want.
func hasSample(mfs []*dto.MetricFamily, name, labels string, want float64) bool {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			wantLs := strings.Split(labels, ",")
			if labels == "" {
				wantLs = nil
			}
			sort.Strings(ls)
			sort.Strings(wantLs)
			if strings.Join(ls, ",") != strings.Join(wantLs, ",") {
				continue
			}
			var v float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			}
			return v == want
		}
	}
	return false
}
