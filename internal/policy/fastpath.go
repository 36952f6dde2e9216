package policy

import (
	"context"
	"fmt"
	"reflect"
	"sort"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/aupguard/aupguard/internal/detect"
)

// The fast path. Most requests carry no signal at all: no category scored,
// no PII, no classifier verdict. The bundled policy only looks at categories
// and PII kinds named in the input, so for such input it always allows with
// nothing to report, whoever asks. Evaluating Rego for that costs tens of
// microseconds; fastAllow returns the same decision in nanoseconds.
//
// Equality is checked, not assumed:
//   - at every load, probeFastPath evaluates both entrypoints on signal-free
//     input for a spread of subjects (every app with overrides in data,
//     every standing, strikes, endpoints, ZDR, non-text parts) and enables
//     the fast path only if every result equals fastAllow field by field; an
//     operator's policy that decides signal-free input otherwise is simply
//     always evaluated in Rego;
//   - TestFastPathEqualsPolicy compares both over many random subjects.

// fastAllow is the decision of the policy for signal-free input.
func fastAllow() Decision {
	return Decision{Action: Allow, Categories: []string{}, Reasons: []string{}, Rules: []string{}}
}

// probeSubjects spreads over every field of Subject and every app named in
// data.aup.apps.
func probeSubjects(apps []string) []Subject {
	apps = append([]string{"", "web", "unknown-app"}, apps...)
	standings := []string{"", "active", "warned", "suspended", "banned"}
	var out []Subject
	for i, app := range apps {
		for j, st := range standings {
			s := Subject{App: app, EndUser: fmt.Sprintf("u%d", j), Standing: st, Endpoint: "chat", Model: "openai/gpt-4o"}
			if (i+j)%2 == 1 {
				s.Strikes, s.Reports, s.ZDR = 42.5, 7, true
				s.Endpoint, s.Model = "responses", "anthropic/claude"
				s.NonText = map[string]int{"image_url": 2}
			}
			out = append(out, s)
		}
	}
	return out
}

func probeSignals() []detect.Signals {
	return []detect.Signals{
		{},
		{Categories: map[string]detect.CategorySignal{}, PII: map[string]int{}, Length: 2048},
		{SafeContext: []string{"fiction", "history"}, Length: 10},
	}
}

// probeFastPath reports whether fastAllow equals both entrypoints on
// signal-free input. An undefined or malformed result is an error: the
// bundle cannot decide a plain request.
func probeFastPath(ctx context.Context, st *state, apps []string) (bool, error) {
	want := fastAllow()
	same := true
	for _, s := range probeSubjects(apps) {
		for _, sig := range probeSignals() {
			for _, pq := range []struct {
				name string
				q    *rego.PreparedEvalQuery
			}{{RequestQuery, &st.req}, {OutputQuery, &st.out}} {
				got, err := evalDecision(ctx, pq.q, inputValue(s, sig, nil))
				if err != nil {
					return false, fmt.Errorf("%s on a plain request: %w", pq.name, err)
				}
				if !reflect.DeepEqual(got, want) {
					same = false
				}
			}
		}
	}
	return same, nil
}

// appNames lists the apps with overrides in data.aup.apps.
func appNames(data map[string]any) []string {
	aup, _ := data["aup"].(map[string]any)
	apps, _ := aup["apps"].(map[string]any)
	names := make([]string, 0, len(apps))
	for n := range apps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
