package wire

import (
	"errors"
	"slices"
)

// edit replaces src[start:end] with repl (start == end inserts).
type edit struct {
	start, end int32
	repl       []byte
}

// objInsert gathers members to add to one object, written before its '}'.
type objInsert struct {
	obj int32
	buf []byte
}

type rewriter struct {
	d       *doc
	edits   []edit
	inserts []objInsert
}

func (w *rewriter) replace(n int32, repl []byte) {
	nd := w.d.nodes[n]
	w.edits = append(w.edits, edit{nd.start, nd.end, repl})
}

func (w *rewriter) insert(obj int32, key string, val []byte) {
	for i := range w.inserts {
		if w.inserts[i].obj == obj {
			w.inserts[i].buf = w.member(w.inserts[i].buf, true, key, val)
			return
		}
	}
	w.inserts = append(w.inserts, objInsert{obj, w.member(nil, false, key, val)})
}

func (w *rewriter) member(b []byte, comma bool, key string, val []byte) []byte {
	if comma {
		b = append(b, ',')
	}
	b = appendQuoted(b, key)
	b = append(b, ':')
	return append(b, val...)
}

// member returns the key node index of key in object o, or -1.
func (d *doc) memberAt(o int32, key string) int {
	nd := d.nodes[o]
	for k := nd.first; k < nd.first+nd.n; k += 2 {
		if d.keyIs(d.kids[k], key) {
			return int(k - nd.first)
		}
	}
	return -1
}

// remove deletes member key of object o with its comma. The caller
// guarantees another member remains, so inserts into o stay well-formed.
func (w *rewriter) remove(o int32, key string) {
	d := w.d
	m := d.memberAt(o, key)
	if m < 0 {
		return
	}
	nd := d.nodes[o]
	kids := d.kids[nd.first : nd.first+nd.n]
	kstart := d.nodes[kids[m]].start
	vend := d.nodes[kids[m+1]].end
	switch {
	case m+2 < len(kids): // up to the next key
		w.edits = append(w.edits, edit{kstart, d.nodes[kids[m+2]].start, nil})
	case m > 0: // from the previous value
		w.edits = append(w.edits, edit{d.nodes[kids[m-1]].end, vend, nil})
	default:
		w.edits = append(w.edits, edit{kstart, vend, nil})
	}
}

// rename replaces member key of o with newKey:val in place.
func (w *rewriter) rename(o int32, key, newKey string, val []byte) {
	d := w.d
	m := d.memberAt(o, key)
	nd := d.nodes[o]
	kids := d.kids[nd.first : nd.first+nd.n]
	w.edits = append(w.edits, edit{d.nodes[kids[m]].start, d.nodes[kids[m+1]].end, w.member(nil, false, newKey, val)})
}

var (
	jsonTrue      = []byte("true")
	jsonDeny      = []byte(`"deny"`)
	errPseudonym  = errors.New("wire: Rewrite needs a pseudonym")
	errEditsClash = errors.New("wire: overlapping rewrite edits")
)

// Rewrite returns the body to send upstream, built by splicing changes into
// the original bytes (see json.go), so numbers, key order and unknown fields
// survive exactly. overrides names the client provider values that ZDR
// overrode ("provider.zdr", "provider.data_collection", or "provider" when
// the client's provider was not an object).
//
// End user: every end-user field present (user, safety_identifier,
// metadata.user_id) gets the pseudonym, and the endpoint's canonical field is
// set: "user" for chat, completions and embeddings; "safety_identifier" for
// responses, where any "user" is dropped (renamed in place when it was the
// only one); "metadata.user_id" for messages.
//
// ZDR: provider.zdr=true and provider.data_collection="deny" are merged into
// the client's own provider object, keeping its other keys.
//
// Providers: the app's constraint is merged the same way (ProviderRule);
// overrides then may name "provider.only" and "provider.ignore", and a
// provider.only that leaves no allowed provider is ErrProviderNotAllowed.
//
// Redact, when non-nil, is applied to every extracted text in place; the
// Request's Texts keep the original text.
func (r *Request) Rewrite(rw Rewrite) (body []byte, overrides []string, err error) {
	if r == nil || r.doc == nil {
		return nil, nil, errNoDoc
	}
	if rw.Pseudonym == "" {
		return nil, nil, errPseudonym
	}
	d := r.doc
	w := &rewriter{d: d}
	pseudo := appendQuoted(nil, rw.Pseudonym)
	root := int32(0)

	user := d.get(root, "user")
	sid := d.get(root, "safety_identifier")
	md := d.get(root, "metadata")
	uid := int32(-1)
	if d.kind(md) == int(kObject) {
		uid = d.get(md, "user_id")
	}
	switch r.Endpoint {
	case EndpointResponses:
		switch {
		case sid >= 0:
			w.replace(sid, pseudo)
			if user >= 0 {
				w.remove(root, "user")
			}
		case user >= 0:
			w.rename(root, "user", "safety_identifier", pseudo)
		default:
			w.insert(root, "safety_identifier", pseudo)
		}
		if uid >= 0 {
			w.replace(uid, pseudo)
		}
	case EndpointMessages:
		switch {
		case uid >= 0:
			w.replace(uid, pseudo)
		case d.kind(md) == int(kObject):
			w.insert(md, "user_id", pseudo)
		case md >= 0:
			w.replace(md, w.member([]byte{'{'}, false, "user_id", append(pseudo, '}')))
		default:
			w.insert(root, "metadata", w.member([]byte{'{'}, false, "user_id", append(pseudo, '}')))
		}
		if user >= 0 {
			w.replace(user, pseudo)
		}
		if sid >= 0 {
			w.replace(sid, pseudo)
		}
	default:
		if user >= 0 {
			w.replace(user, pseudo)
		} else {
			w.insert(root, "user", pseudo)
		}
		if sid >= 0 {
			w.replace(sid, pseudo)
		}
		if uid >= 0 {
			w.replace(uid, pseudo)
		}
	}

	if rw.ZDR || rw.Providers.active() {
		p := d.get(root, "provider")
		switch d.kind(p) {
		case -1:
			w.insert(root, "provider", providerObject(rw.ZDR, rw.Providers))
		case int(kNull):
			w.replace(p, providerObject(rw.ZDR, rw.Providers))
		case int(kObject):
			if rw.Providers.active() {
				o, err := w.constrainProviders(p, rw.Providers)
				if err != nil {
					return nil, nil, err
				}
				overrides = append(overrides, o...)
			}
			if !rw.ZDR {
				break
			}
			switch z := d.get(p, "zdr"); d.kind(z) {
			case -1:
				w.insert(p, "zdr", jsonTrue)
			case int(kTrue):
			case int(kNull):
				w.replace(z, jsonTrue)
			default:
				w.replace(z, jsonTrue)
				overrides = append(overrides, "provider.zdr")
			}
			dc := d.get(p, "data_collection")
			switch s, isStr := d.strVal(dc); {
			case dc < 0:
				w.insert(p, "data_collection", jsonDeny)
			case isStr && s == "deny":
			case d.kind(dc) == int(kNull):
				w.replace(dc, jsonDeny)
			default:
				w.replace(dc, jsonDeny)
				overrides = append(overrides, "provider.data_collection")
			}
		default:
			w.replace(p, providerObject(rw.ZDR, rw.Providers))
			overrides = append(overrides, "provider")
		}
	}

	if rw.Redact != nil {
		for i, t := range r.Texts {
			if s := rw.Redact(t.Text); s != t.Text {
				w.replace(r.spans[i], appendQuoted(nil, s))
			}
		}
	}

	for _, in := range w.inserts {
		nd := d.nodes[in.obj]
		repl := in.buf
		if nd.n > 0 {
			repl = append([]byte{','}, repl...)
		}
		w.edits = append(w.edits, edit{nd.end - 1, nd.end - 1, repl})
	}
	slices.SortStableFunc(w.edits, func(a, b edit) int { return int(a.start - b.start) })
	size := len(d.src)
	for i, e := range w.edits {
		if i > 0 && e.start < w.edits[i-1].end {
			return nil, nil, errEditsClash
		}
		size += len(e.repl) - int(e.end-e.start)
	}
	out := make([]byte, 0, size)
	pos := int32(0)
	for _, e := range w.edits {
		out = append(out, d.src[pos:e.start]...)
		out = append(out, e.repl...)
		pos = e.end
	}
	out = append(out, d.src[pos:]...)
	return out, overrides, nil
}
