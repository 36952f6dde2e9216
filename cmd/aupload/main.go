// Command aupload is aupguard's load harness. In one run it measures, against
// the same fake OpenRouter upstream (internal/fakeupstream), three targets
// side by side:
//
//   - direct:  clients call the fake upstream itself;
//   - floor:   a bare httputil.ReverseProxy with no logic in front of it
//     (what any extra hop costs);
//   - gateway: the real `aupguard serve`, run as a subprocess with a config
//     file written here (bundled policy, rate limits on, the embedded store
//     or a private redis-server), awaited on its admin /readyz.
//
// The fake upstream and the floor run in child processes (this binary again,
// see child.go), like the gateway: the load generator's work and garbage
// collection land on no target, and floor and gateway are measured alike.
// --inproc serves both in the harness process instead. Every process it
// starts dies with it (procs.go).
//
// Concurrent clients send ~2 KB chat requests (plain and stream:true) for
// end users spread over 10,000 ids, in rounds that alternate the targets so
// machine noise hits all alike. It reports p50/p99 latency, throughput and
// errors per target, the gateway's added latency over the floor, time to
// first streamed token, CPU per request, and the gateway's memory per open
// idle stream; it checks the quality bars of docs/architecture.md and
// writes the table into docs/benchmarks.md (and to stdout).
//
// The bars are the design's, judged in its layout: every process sharing
// all CPUs, the default, written between the aupload:shared markers.
// --pin gives the proxies CPUs of their own (pin.go); that run is a second
// table, between the aupload markers, whose bars are info only.
//
//	go run ./cmd/aupload                    # both stores, -c 1,8, -d 10s per target and mode
//	go run ./cmd/aupload --pin              # the pinned layout: a second table, not the bar
//	go run ./cmd/aupload --quick            # a short smoke run
//	go run ./cmd/aupload --store redis --idle 10000 --strict
//	go run ./cmd/aupload --store redis -c 1 --profile /tmp/prof   # then go tool pprof
//	go run ./cmd/aupload --replicas 2 -c 1,8,32 [--cluster]        # scale-out (scaleout.go)
//
// It exits 0 even when a bar fails, unless --strict (3; never for a --pin
// run, whose bars are info); 1 when it cannot run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(serveChild(spec))
	}
	os.Exit(mainRun())
}

// mainRun is main without os.Exit, so that its deferred killAll runs, on a
// panic too. SIGINT and SIGTERM cancel the run, which stops its processes.
func mainRun() int {
	defer killAll()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// options are the command's flags.
type options struct {
	concs      []int         // client counts, each measured in turn
	dur        time.Duration // measured time per target and mode, split over rounds
	warmup     time.Duration // per target and mode, before the first round
	rounds     int
	stream     bool
	plain      bool
	stores     []string
	idle       int
	idleBar    int  // the stream count the memory bar is about
	idleH2     bool // measure the idle streams again with the upstream over TLS and HTTP/2
	users      int
	gatewayBin string
	out        string
	strict     bool
	quick      bool
	logLevel   string
	inproc     bool     // the fake upstream and the floor in this process, not in children
	pin        bool     // proxies on CPUs of their own (pin.go): a second table, not the bar
	profile    string   // directory for the gateway's CPU and allocation profiles ("": none)
	replicas   int      // > 0: the scale-out run (scaleout.go) instead of the stores'
	cluster    bool     // scale-out over a 3-node Redis Cluster
	gomaxprocs int      // scale-out: each replica's GOMAXPROCS (0: Go's default)
	userRate   int      // scale-out: the replicas' end_user_per_minute (0: 100000)
	args       []string // the command line, for the report

	// newGateway starts the gateway target; nil: the aupguard subprocess.
	// Tests plug an in-process stand-in here.
	newGateway gatewayFactory
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: args}
	fs := flag.NewFlagSet("aupload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conc := fs.String("c", "1,8", "concurrent clients: a comma-separated list, each level measured in turn (the fewest judge latency, what a request pays; the most throughput and CPU per request)")
	fs.DurationVar(&o.dur, "d", 10*time.Second, "measured time per target and mode (plain, stream), split over the rounds")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up per target and mode before measuring")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds alternating the targets")
	fs.BoolVar(&o.stream, "stream", true, "also measure streamed requests (stream:true, time to first token)")
	store := fs.String("store", "both", "gateway store: bolt, redis or both (one after the other, each beside its own direct and floor runs)")
	fs.IntVar(&o.idle, "idle", 2000, "open idle streams through the gateway to measure memory per stream (0: skip); the 1 GiB bar is projected to 10,000 when fewer")
	fs.BoolVar(&o.idleH2, "idle-h2", true, "measure the idle streams a second time with the fake upstream over TLS, which the gateway reaches with HTTP/2 as it reaches OpenRouter (one socket per stream, so 10,000 fit)")
	fs.IntVar(&o.users, "users", 10000, "distinct end users (X-AUP-End-User)")
	fs.StringVar(&o.gatewayBin, "gateway-bin", "", "aupguard binary to run (default: go build ./cmd/aupguard into a temp dir)")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file whose aupload section is rewritten (\"-\": stdout only)")
	fs.BoolVar(&o.strict, "strict", false, "exit 3 when a bar fails (a --pin run's bars are info and never fail)")
	fs.BoolVar(&o.quick, "quick", false, "a short run for smoke tests (-d 1s, 200ms warm-up, 2 rounds, --idle 200 unless given)")
	fs.BoolVar(&o.inproc, "inproc", false, "serve the fake upstream and the floor inside the harness process instead of child processes")
	fs.BoolVar(&o.pin, "pin", false, "give the proxies (floor and gateway) the upper half of the CPUs and the clients, the fake upstream and redis-server the lower half (needs 2+ CPUs and taskset): a second table, its own doc section, bars info only; default: all processes share all CPUs, the layout the bars are judged in")
	fs.StringVar(&o.profile, "profile", "", "write the gateway's CPU profile and allocation profile per section into this directory (turns on its log.pprof)")
	fs.IntVar(&o.replicas, "replicas", 0, "scale-out run: this many gateway replicas (2-8) share one private redis-server, and the clients spread over the first 1, 2, …, N of them round robin, beside the floor; all CPUs shared; writes the Scale-out section")
	fs.BoolVar(&o.cluster, "cluster", false, "with --replicas: the replicas share a private 3-node Redis Cluster instead")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "with --replicas: each replica's GOMAXPROCS (0: Go's default, every CPU)")
	fs.IntVar(&o.userRate, "user-limit", 0, "with --replicas: the replicas' rate limit per end user and minute (0: 100000); a low limit means small rate-limit leases, so more of them fetched from Redis")
	fs.StringVar(&o.logLevel, "log-level", "warn", "the gateway's log.level (info writes an access log line per request)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("d", func() { o.dur = time.Second })
		def("warmup", func() { o.warmup = 200 * time.Millisecond })
		def("rounds", func() { o.rounds = 2 })
		def("idle", func() { o.idle = 200 })
	}
	o.plain = true
	o.idleBar = 10000
	switch *store {
	case "both":
		o.stores = []string{"bolt", "redis"}
	case "bolt", "redis":
		o.stores = []string{*store}
	default:
		return nil, fmt.Errorf("--store: %q is not bolt, redis or both", *store)
	}
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("-c: %q is not a client count from 1 to 4096", f)
		}
		o.concs = append(o.concs, n)
	}
	switch {
	case o.rounds < 1:
		return nil, errors.New("--rounds must be at least 1")
	case o.dur < time.Duration(o.rounds)*10*time.Millisecond:
		return nil, errors.New("-d is too short for the rounds")
	case o.users < 1:
		return nil, errors.New("--users must be at least 1")
	case o.idle < 0:
		return nil, errors.New("--idle must not be negative")
	}
	if o.replicas != 0 || o.cluster || o.gomaxprocs != 0 || o.userRate != 0 {
		if err := scaleFlags(o, set); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// scaleFlags checks the flags of a scale-out run: one that does not apply
// is refused rather than silently ignored.
func scaleFlags(o *options, set map[string]bool) error {
	switch {
	case o.replicas < 2 || o.replicas > 8:
		return errors.New("--replicas: from 2 to 8 (--cluster, --gomaxprocs and --user-limit need it too)")
	case o.gomaxprocs < 0 || o.userRate < 0:
		return errors.New("--gomaxprocs and --user-limit must not be negative")
	case set["store"] || set["pin"] || set["profile"] || set["idle"] || set["idle-h2"] || set["inproc"] || set["strict"]:
		return errors.New("--replicas: --store, --pin, --profile, --idle, --idle-h2, --inproc and --strict do not apply (the replicas share Redis and all CPUs)")
	}
	o.pin, o.idle = false, 0
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "aupload:", err)
		return 2
	}
	return runWith(ctx, o, stdout, stderr)
}

func runWith(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	if o.replicas > 0 {
		return runScaleOut(ctx, o, stdout, stderr)
	}
	rep, err := measure(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "aupload:", err)
		return 1
	}
	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if o.out != "-" && o.out != "" {
		sec := sharedSection
		if o.pin {
			sec = pinnedSection
		}
		if err := writeSection(o.out, md, sec); err != nil {
			fmt.Fprintln(stderr, "aupload:", err)
			return 1
		}
		fmt.Fprintf(stderr, "aupload: wrote %s\n", o.out)
	}
	if o.strict && !rep.passed() {
		return 3
	}
	return 0
}

// progress prints what the harness is doing, for people watching a long run.
func progress(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "aupload: "+format+"\n", args...)
}

// commandLine renders the flags as typed, for the report.
func commandLine(args []string) string {
	s := "go run ./cmd/aupload"
	if len(args) > 0 {
		s += " " + strings.Join(args, " ")
	}
	return s
}
