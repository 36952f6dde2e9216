package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// idlePhase runs a fresh gateway (so earlier load does not blur its RSS)
// and holds idle streams open through it.
func idlePhase(ctx context.Context, o *options, spec gatewaySpec, factory gatewayFactory, limit uint64, up server, sec *section, stderr io.Writer) error {
	n := o.idle
	res := &idleResult{}
	if c := idleCapacity(limit); n > c {
		res.note = fmt.Sprintf("capped from %d: the open-files limit (%d) allows ~%d streams per gateway process (2 sockets each)", n, limit, c)
		n = c
	}
	// This process holds the client end of each stream; with --inproc the
	// fake upstream (the other end of the gateway's upstream sockets) is
	// here too, and past the limit it moves to a child process.
	if pidOf(up) == 0 && uint64(2*n+512) > limit {
		ch, err := startChild(ctx, "upstream", nil)
		if err != nil {
			return err
		}
		defer ch.Close()
		spec.Upstream = ch.BaseURL()
	}
	progress(stderr, "store %s: opening %d idle streams through a fresh gateway", sec.store, n)
	gw, err := factory(ctx, spec)
	if err != nil {
		return err
	}
	r, err := idleStreams(ctx, gw, n, o.users)
	gw.Close()
	if err != nil {
		sec.idleErr = err.Error()
		return nil
	}
	if res.note != "" {
		r.note = strings.TrimPrefix(r.note+"; "+res.note, "; ")
	}
	r.asked = o.idle
	r.projected = r.after + int64(r.perStream*float64(o.idleBar-r.opened))
	sec.idle = &r
	if o.idleH2 && o.newGateway == nil {
		idleOverH2(ctx, o, spec, factory, limit, sec, stderr)
	}
	return nil
}

// idleOverH2 measures the idle streams again with the fake upstream served
// over TLS, which the gateway's transport reaches with HTTP/2, as it
// reaches OpenRouter: the streams share a few upstream connections, so the
// gateway holds one socket per stream and the whole count fits.
func idleOverH2(ctx context.Context, o *options, spec gatewaySpec, factory gatewayFactory, limit uint64, sec *section, stderr io.Writer) {
	fail := func(err error) { sec.idleH2Err = err.Error() }
	dir, err := os.MkdirTemp("", "aupload-tls-")
	if err != nil {
		fail(err)
		return
	}
	defer os.RemoveAll(dir)
	up, err := startChild(ctx, "upstream-tls "+dir, nil)
	if err != nil {
		fail(err)
		return
	}
	defer up.Close()
	n := o.idle
	if c := int(limit) - 512; n > c {
		n = c
	}
	spec.Upstream = up.BaseURL()
	spec.Env = []string{"SSL_CERT_FILE=" + filepath.Join(dir, tlsCAFile)}
	progress(stderr, "store %s: opening %d idle streams through a fresh gateway, upstream over HTTP/2", sec.store, n)
	gw, err := factory(ctx, spec)
	if err != nil {
		fail(err)
		return
	}
	defer gw.Close()
	r, err := idleStreams(ctx, gw, n, o.users)
	if err != nil {
		fail(err)
		return
	}
	r.asked = o.idle
	r.projected = r.after + int64(r.perStream*float64(o.idleBar-r.opened))
	sec.idleH2 = &r
}
