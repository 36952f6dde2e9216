package policy

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule.
type TestResult struct {
	Package  string // e.g. data.aup_test
	Name     string // e.g. test_empty_input_allows
	Location string // file:line
	Pass     bool
	Skip     bool
	Err      string // evaluation error, if any
	Duration time.Duration

	file string
	row  int
}

// RunTests runs the Rego unit tests (*_test.rego) of a policy directory
// ("" = the embedded bundle) with OPA's tester, compiled with the same
// strict checks and data as the engine uses. Results are sorted by
// location. An error means the bundle did not compile or has no tests.
func RunTests(ctx context.Context, dir string) ([]TestResult, error) {
	b, err := readBundle(dir)
	if err != nil {
		return nil, err
	}
	if len(b.tests) == 0 {
		return nil, fmt.Errorf("policy: no *_test.rego in %s", describeDir(dir))
	}
	mods, err := b.modules(true)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	data, err := b.data()
	if err != nil {
		return nil, err
	}
	comp := ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithEnablePrintStatements(true)
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))
	ch, err := tester.NewRunner().
		SetCompiler(comp).
		SetStore(store).
		SetModules(mods).
		SetDefaultRegoVersion(ast.RegoV1).
		RaiseBuiltinErrors(true).
		SetTimeout(30*time.Second).
		RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{
			Package:  r.Package,
			Name:     r.Name,
			Pass:     r.Pass(),
			Skip:     r.Skip,
			Duration: r.Duration,
		}
		if r.Location != nil {
			tr.file, tr.row = r.Location.File, r.Location.Row
			tr.Location = fmt.Sprintf("%s:%d", tr.file, tr.row)
		}
		if r.Error != nil {
			tr.Err = r.Error.Error()
			tr.Pass = false
		}
		out = append(out, tr)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("policy: no test rules in %s", describeDir(dir))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].file != out[j].file {
			return out[i].file < out[j].file
		}
		if out[i].row != out[j].row {
			return out[i].row < out[j].row
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
