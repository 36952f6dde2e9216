package wire

import (
	"strings"
)

// ProviderRule is an app's constraint on which upstream providers may serve
// its requests (apps[].providers): Only, when non-empty, is the allow-list;
// Ignore is always excluded. A request may narrow it, never widen it: the
// provider.only sent is the intersection of the app's and the client's,
// provider.ignore the union.
type ProviderRule struct {
	Only   []string
	Ignore []string
}

func (p *ProviderRule) active() bool { return p != nil && (len(p.Only) > 0 || len(p.Ignore) > 0) }

// ErrProviderNotAllowed is Rewrite's refusal of a request whose provider.only
// shares no provider with the app's: sending an empty list would lift the
// constraint, sending the app's would ignore the client's own.
var ErrProviderNotAllowed = &RequestError{Reason: ReasonProviderNotAllowed,
	Message: "provider.only names no provider this app may use"}

// slugCovers reports whether provider slug a allows b: the same slug
// (letter case aside), or b a variant of a ("deepinfra" covers "deepinfra/turbo").
func slugCovers(a, b string) bool {
	return strings.EqualFold(a, b) || (len(b) > len(a) && b[len(a)] == '/' && strings.EqualFold(a, b[:len(a)]))
}

// intersectOnly keeps the client's entries the app allows, and the app's
// narrower variants of client entries; changed reports that a client entry
// was dropped.
func intersectOnly(app, client []string) (out []string, dropped bool) {
	add := func(s string) {
		for _, o := range out {
			if strings.EqualFold(o, s) {
				return
			}
		}
		out = append(out, s)
	}
	for _, c := range client {
		kept := false
		for _, a := range app {
			switch {
			case slugCovers(a, c):
				add(c)
				kept = true
			case slugCovers(c, a):
				add(a)
				kept = true
			}
		}
		if !kept {
			dropped = true
		}
	}
	return out, dropped
}

// unionIgnore is the client's ignore list with the app's entries it lacks
// appended; added reports whether any was.
func unionIgnore(app, client []string) (out []string, added bool) {
	out = append(out, client...)
	for _, a := range app {
		found := false
		for _, c := range client {
			if strings.EqualFold(a, c) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, a)
			added = true
		}
	}
	return out, added
}

// strings returns the elements of array node n when every one is a string.
func (d *doc) stringList(n int32) ([]string, bool) {
	if d.kind(n) != int(kArray) {
		return nil, false
	}
	var out []string
	for _, it := range d.items(n) {
		s, ok := d.strVal(it)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func appendStringList(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, s)
	}
	return append(b, ']')
}

// providerObject is the provider object sent when the client sent none (or
// one that is not an object): ZDR routing and the app's constraints.
func providerObject(zdr bool, rule *ProviderRule) []byte {
	b := []byte{'{'}
	if zdr {
		b = append(b, `"zdr":true,"data_collection":"deny"`...)
	}
	if rule != nil && len(rule.Only) > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendStringList(append(b, `"only":`...), rule.Only)
	}
	if rule != nil && len(rule.Ignore) > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendStringList(append(b, `"ignore":`...), rule.Ignore)
	}
	return append(b, '}')
}

// constrainProviders applies rule to the client's provider object p:
// only narrowed to the intersection, ignore widened to the union. It
// returns the overrides (client values replaced or dropped).
func (w *rewriter) constrainProviders(p int32, rule *ProviderRule) (overrides []string, err error) {
	d := w.d
	if len(rule.Only) > 0 {
		o := d.get(p, "only")
		switch list, ok := d.stringList(o); {
		case o < 0:
			w.insert(p, "only", appendStringList(nil, rule.Only))
		case d.kind(o) == int(kNull):
			w.replace(o, appendStringList(nil, rule.Only))
		case !ok:
			w.replace(o, appendStringList(nil, rule.Only))
			overrides = append(overrides, "provider.only")
		case len(list) == 0:
			// OpenRouter reads an empty list as no constraint.
			w.replace(o, appendStringList(nil, rule.Only))
		default:
			out, dropped := intersectOnly(rule.Only, list)
			if len(out) == 0 {
				return nil, ErrProviderNotAllowed
			}
			if dropped || len(out) != len(list) {
				w.replace(o, appendStringList(nil, out))
			}
			if dropped {
				overrides = append(overrides, "provider.only")
			}
		}
	}
	if len(rule.Ignore) > 0 {
		ig := d.get(p, "ignore")
		switch list, ok := d.stringList(ig); {
		case ig < 0:
			w.insert(p, "ignore", appendStringList(nil, rule.Ignore))
		case d.kind(ig) == int(kNull):
			w.replace(ig, appendStringList(nil, rule.Ignore))
		case !ok:
			w.replace(ig, appendStringList(nil, rule.Ignore))
			overrides = append(overrides, "provider.ignore")
		default:
			if out, added := unionIgnore(rule.Ignore, list); added {
				w.replace(ig, appendStringList(nil, out))
			}
		}
	}
	return overrides, nil
}
