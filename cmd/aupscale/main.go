// Command aupscale measures both stores as the record grows: it loads
// reports straight into a private Redis (a redis-server it starts) and an
// embedded file in a temp dir, in steps, and prints per step the bytes
// per report and per user, desk page latency, write, export and verify
// throughput, export memory, retention sweep and erasure time
// (internal/scale). docs/benchmarks.md, "Scale of the record", has the
// figures and the command.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/scale"
)

func main() {
	kind := flag.String("store", "both", "redis, embedded or both")
	reports := flag.Int("reports", 10_000_000, "reports at the last step")
	users := flag.Int("users", 0, "end users at the last step (default reports/10)")
	steps := flag.String("steps", "0.1,0.3,1", "step sizes as fractions of --reports")
	writers := flag.Int("writers", 8, "concurrent writers")
	writeFor := flag.Duration("write-for", 5*time.Second, "how long the AddReport throughput runs per step")
	erasures := flag.Int("erasures", 3, "users erased per step")
	out := flag.String("out", "", "also write the tables to this file")
	nodeBytes := flag.Int("redis-stream-node-bytes", 0, "Redis stream-node-max-bytes (0: Redis's default, 4096)")
	tmp := flag.String("tmp", "", "directory for the store file, Redis's dir and bundles (default the system temp dir)")
	flag.Parse()

	if err := run(*kind, *reports, *users, *steps, *writers, *writeFor, *erasures, *nodeBytes, *out, *tmp); err != nil {
		fmt.Fprintln(os.Stderr, "aupscale:", err)
		os.Exit(1)
	}
}

func run(kind string, reports, users int, steps string, writers int, writeFor time.Duration, erasures, nodeBytes int, out, tmp string) error {
	if users <= 0 {
		users = max(reports/10, 1)
	}
	var sizes []int
	for _, s := range strings.Split(steps, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f <= 0 || f > 1 {
			return fmt.Errorf("--steps: %q is not a fraction in (0, 1]", s)
		}
		sizes = append(sizes, max(int(f*float64(reports)), 1))
	}
	kinds := []string{kind}
	if kind == "both" {
		kinds = []string{"redis", "embedded"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var rows []scale.Row
	for _, k := range kinds {
		r, err := scale.Run(ctx, scale.Config{Store: k, Steps: sizes, Users: users, Writers: writers,
			WriteFor: writeFor, Erasures: erasures, StreamNodeBytes: nodeBytes, TempDir: tmp, Log: os.Stderr})
		rows = append(rows, r...)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "aupscale --store %s --reports %d --users %d --steps %s --writers %d --redis-stream-node-bytes %d\n\n", kind, reports, users, steps, writers, nodeBytes)
	scale.Markdown(&b, rows, writers)
	fmt.Print(b.String())
	if out != "" {
		return os.WriteFile(out, []byte(b.String()), 0o644)
	}
	return nil
}
