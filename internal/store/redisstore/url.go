package redisstore

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/store"
)

// URL formats (all take go-redis's query options, e.g. dial_timeout=2s,
// read_timeout=2s, max_retries=1, pool_size=50, plus prefix=NAME for the
// key prefix, default "aup"):
//
//	redis://[user:password@]host:port[/db]          one server
//	rediss://[user:password@]host:port[/db]         one server over TLS
//	unix://[user:password@]/path/redis.sock[?db=N]  one server on a Unix socket
//	redis+sentinel://[user:password@]host:port,host2:port/mastername[/db]
//	                                                Sentinel: the addresses are sentinels; user:password
//	                                                authenticates to the master (sentinel_password=... for the sentinels)
//	rediss+sentinel://...                           the same over TLS
//	redis+cluster://[user:password@]host:port,host2:port
//	                                                Cluster: seed nodes
//	rediss+cluster://...                            the same over TLS
func parse(raw string) (redis.UniversalClient, string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, "", fmt.Errorf("%w: %s", store.ErrUnsupported, store.Redact(raw))
	}
	scheme = strings.ToLower(scheme)
	// Take out our own parameters; go-redis rejects unknown ones.
	prefix := "aup"
	var sentinelPassword string
	if base, q, found := strings.Cut(rest, "?"); found {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return nil, "", fmt.Errorf("%w: redis URL query: %v", store.ErrInvalid, err)
		}
		if p := vals.Get("prefix"); p != "" {
			prefix = p
		}
		sentinelPassword = vals.Get("sentinel_password")
		vals.Del("prefix")
		vals.Del("sentinel_password")
		rest = base
		if enc := vals.Encode(); enc != "" {
			rest += "?" + enc
		}
	}
	bad := func(err error) (redis.UniversalClient, string, error) {
		return nil, "", fmt.Errorf("%w: %s: %v", store.ErrInvalid, store.Redact(raw), err)
	}
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := redis.ParseURL(scheme + "://" + rest)
		if err != nil {
			return bad(err)
		}
		defaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
		return redis.NewClient(o), prefix, nil
	case "redis+sentinel", "rediss+sentinel":
		u, err := url.Parse("redis://" + rest)
		if err != nil {
			return bad(err)
		}
		path := strings.Trim(u.Path, "/")
		master, db, _ := strings.Cut(path, "/")
		if master == "" {
			return bad(fmt.Errorf("sentinel URL needs /mastername"))
		}
		q := u.Query()
		q.Set("master_name", master)
		if db != "" {
			q.Set("db", db)
		}
		hosts := strings.Split(u.Host, ",")
		for _, h := range hosts[1:] {
			q.Add("addr", h)
		}
		o, err := redis.ParseFailoverURL("redis://" + hosts[0] + "/?" + q.Encode())
		if err != nil {
			return bad(err)
		}
		if u.User != nil {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
		o.SentinelPassword = sentinelPassword
		if strings.HasPrefix(scheme, "rediss") {
			o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		defaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
		return redis.NewFailoverClient(o), prefix, nil
	case "redis+cluster", "rediss+cluster":
		u, err := url.Parse("redis://" + rest)
		if err != nil {
			return bad(err)
		}
		q := u.Query()
		hosts := strings.Split(u.Host, ",")
		for _, h := range hosts[1:] {
			q.Add("addr", h)
		}
		base := "redis"
		if strings.HasPrefix(scheme, "rediss") {
			base = "rediss"
		}
		userinfo := ""
		if u.User != nil {
			userinfo = u.User.String() + "@"
		}
		o, err := redis.ParseClusterURL(base + "://" + userinfo + hosts[0] + "?" + q.Encode())
		if err != nil {
			return bad(err)
		}
		defaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
		return redis.NewClusterClient(o), prefix, nil
	}
	return nil, "", fmt.Errorf("%w: scheme %q", store.ErrUnsupported, scheme)
}

// defaults keeps a dead Redis from stalling callers for go-redis's longer
// defaults: the enforcer spools instead of waiting.
func defaults(dial, read, write *time.Duration) {
	if *dial == 0 {
		*dial = 2 * time.Second
	}
	if *read == 0 {
		*read = 2 * time.Second
	}
	if *write == 0 {
		*write = 2 * time.Second
	}
}
