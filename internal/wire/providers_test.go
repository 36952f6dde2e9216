package wire

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func rewriteProvider(t *testing.T, body string, rw Rewrite) (map[string]any, []string, error) {
	t.Helper()
	req, err := ParseRequest(EndpointChat, []byte(body), ParseOptions{})
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	rw.Pseudonym = "aup_x"
	out, ov, err := req.Rewrite(rw)
	if err != nil {
		return nil, ov, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("rewritten body is not JSON: %s", out)
	}
	p, _ := m["provider"].(map[string]any)
	return p, ov, nil
}

func list(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

const chatHead = `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]`

func TestProviderRuleNarrowNeverWiden(t *testing.T) {
	rule := &ProviderRule{Only: []string{"azure", "deepinfra"}, Ignore: []string{"together"}}
	cases := []struct {
		name       string
		provider   string // the client's provider member, "" for none
		only, ign  []string
		overridden []string
	}{
		{"none", ``, []string{"azure", "deepinfra"}, []string{"together"}, nil},
		{"null", `,"provider":null`, []string{"azure", "deepinfra"}, []string{"together"}, nil},
		{"narrower", `,"provider":{"only":["Azure"]}`, []string{"Azure"}, []string{"together"}, nil},
		{"variant", `,"provider":{"only":["deepinfra/turbo"]}`, []string{"deepinfra/turbo"}, []string{"together"}, nil},
		{"widen only", `,"provider":{"only":["azure","openai"],"sort":"price"}`, []string{"azure"}, []string{"together"}, []string{"provider.only"}},
		{"empty only", `,"provider":{"only":[]}`, []string{"azure", "deepinfra"}, []string{"together"}, nil},
		{"only not a list", `,"provider":{"only":"openai"}`, []string{"azure", "deepinfra"}, []string{"together"}, []string{"provider.only"}},
		{"client ignore kept", `,"provider":{"ignore":["azure"]}`, []string{"azure", "deepinfra"}, []string{"azure", "together"}, nil},
		{"client ignore has it", `,"provider":{"ignore":["Together"]}`, []string{"azure", "deepinfra"}, []string{"Together"}, nil},
		{"ignore not a list", `,"provider":{"ignore":7}`, []string{"azure", "deepinfra"}, []string{"together"}, []string{"provider.ignore"}},
		{"provider not an object", `,"provider":"openai"`, []string{"azure", "deepinfra"}, []string{"together"}, []string{"provider"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, ov, err := rewriteProvider(t, chatHead+tc.provider+`}`, Rewrite{Providers: rule})
			if err != nil {
				t.Fatal(err)
			}
			if got := list(p["only"]); !slices.Equal(got, tc.only) {
				t.Errorf("only = %v, want %v", got, tc.only)
			}
			if got := list(p["ignore"]); !slices.Equal(got, tc.ign) {
				t.Errorf("ignore = %v, want %v", got, tc.ign)
			}
			if !slices.Equal(ov, tc.overridden) {
				t.Errorf("overrides = %v, want %v", ov, tc.overridden)
			}
			if _, ok := p["zdr"]; ok {
				t.Errorf("zdr set without ZDR: %v", p)
			}
		})
	}
}

func TestProviderRuleWithZDR(t *testing.T) {
	rule := &ProviderRule{Only: []string{"azure"}}
	for _, body := range []string{chatHead + `}`, chatHead + `,"provider":{"zdr":false,"only":["azure","openai"]}}`, chatHead + `,"provider":[1]}`} {
		p, ov, err := rewriteProvider(t, body, Rewrite{ZDR: true, Providers: rule})
		if err != nil {
			t.Fatal(err)
		}
		if p["zdr"] != true || p["data_collection"] != "deny" || !slices.Equal(list(p["only"]), []string{"azure"}) {
			t.Errorf("%s → provider %v (overrides %v)", body, p, ov)
		}
	}
}

func TestProviderRuleRefusesDisjointOnly(t *testing.T) {
	_, _, err := rewriteProvider(t, chatHead+`,"provider":{"only":["openai","anthropic"]}}`, Rewrite{Providers: &ProviderRule{Only: []string{"azure"}}})
	var re *RequestError
	if !errors.As(err, &re) || re.Reason != ReasonProviderNotAllowed || re.Reason.Status() != 403 {
		t.Fatalf("err = %v, want provider_not_allowed (403)", err)
	}
}

func TestProviderRuleKeepsBytesWhenNarrow(t *testing.T) {
	body := chatHead + `,"provider":{"only":["azure"],"ignore":["together"],"max_price":{"prompt":1.50}}}`
	req, _ := ParseRequest(EndpointChat, []byte(body), ParseOptions{})
	out, ov, err := req.Rewrite(Rewrite{Pseudonym: "aup_x", Providers: &ProviderRule{Only: []string{"azure", "openai"}, Ignore: []string{"together"}}})
	if err != nil || len(ov) != 0 || !strings.Contains(string(out), `"provider":{"only":["azure"],"ignore":["together"],"max_price":{"prompt":1.50}}`) {
		t.Fatalf("out %s, overrides %v, err %v", out, ov, err)
	}
}

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

func served(t *testing.T, body string, chunk int) (provider, model string, calls int) {
	t.Helper()
	r := NewServedReader(nopCloser{strings.NewReader(body)}, func(p, m string) { provider, model = p, m; calls++ })
	var got []byte
	buf := make([]byte, chunk)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	r.Close()
	if string(got) != body {
		t.Fatalf("body changed in passing")
	}
	return
}

func TestServedReader(t *testing.T) {
	cases := []struct{ name, body, provider, model string }{
		{"plain", `{"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o","choices":[{"message":{"content":"{\"provider\":\"fake\"}"}}]}`, "OpenAI", "openai/gpt-4o"},
		{"content first", `{"choices":[{"message":{"content":"\"provider\":\"fake\", model"}}],"model":"m","provider":"Azure"}`, "Azure", "m"},
		{"nested only", `{"usage":{"provider":"x"},"model":"m"}`, "", "m"},
		{"stream", ": OPENROUTER PROCESSING\n\ndata: {\"id\":\"g\",\"provider\":\"Google\",\"model\":\"google/gemini\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n", "Google", "google/gemini"},
		{"escaped name", `{"provider":"A\"B","model":"m"}`, `A\"B`, "m"},
		{"none", `{"error":{"code":502,"message":"x"}}`, "", ""},
	}
	for _, tc := range cases {
		for _, chunk := range []int{1, 3, 4096} {
			p, m, calls := served(t, tc.body, chunk)
			if p != tc.provider || m != tc.model || calls != 1 {
				t.Errorf("%s (chunks of %d): provider %q model %q calls %d, want %q %q 1", tc.name, chunk, p, m, calls, tc.provider, tc.model)
			}
		}
	}
}

func TestServedReaderStopsScanning(t *testing.T) {
	body := `{"choices":[{"message":{"content":"` + strings.Repeat("a", 2*MaxServedScan) + `"}}],"provider":"late"}`
	p, _, calls := served(t, body, 4096)
	if p != "" || calls != 1 {
		t.Fatalf("provider %q after the scan bound (calls %d)", p, calls)
	}
}

// FuzzProviderRule: whatever provider object the client sends, the one
// forwarded never widens the app's rule. Every provider it allows is one
// the app's only covers, and its ignore keeps every provider the app's
// ignore names; or the request is refused as disjoint.
func FuzzProviderRule(f *testing.F) {
	for _, p := range []string{``, `,"provider":null`, `,"provider":{"only":["azure","openai"]}`, `,"provider":{"only":"x","ignore":7}`,
		`,"provider":{"ignore":["Together"],"zdr":false}`, `,"provider":{"only":["deepinfra/turbo"],"order":["a"]}`, `,"provider":[1]`} {
		f.Add(p, "azure,deepinfra", "together", false)
	}
	f.Fuzz(func(t *testing.T, provider, only, ignore string, zdr bool) {
		split := func(s string) []string {
			var out []string
			for _, x := range strings.Split(s, ",") {
				if x = strings.TrimSpace(x); x != "" {
					out = append(out, x)
				}
			}
			return out
		}
		rule := &ProviderRule{Only: split(only), Ignore: split(ignore)}
		req, err := ParseRequest(EndpointChat, []byte(chatHead+provider+`}`), ParseOptions{})
		if err != nil {
			return // not a request the gateway forwards
		}
		out, _, err := req.Rewrite(Rewrite{Pseudonym: "aup_x", Providers: rule, ZDR: zdr})
		if errors.Is(err, ErrProviderNotAllowed) {
			return
		}
		if err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("rewritten body is not JSON: %s", out)
		}
		// A field the app does not constrain passes through as the client
		// sent it, whatever its shape (upstream judges it), so each one
		// is decoded on its own and only where the app has a rule.
		var m struct {
			Provider map[string]json.RawMessage `json:"provider"`
		}
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("rewritten body has no provider object: %s", out)
		}
		var p struct {
			Only   []string
			Ignore []string
			ZDR    *bool
		}
		for key, dst := range map[string]any{"only": &p.Only, "ignore": &p.Ignore, "zdr": &p.ZDR} {
			raw, ok := m.Provider[key]
			if !ok {
				continue
			}
			constrained := key == "only" && len(rule.Only) > 0 || key == "ignore" && len(rule.Ignore) > 0 || key == "zdr" && zdr
			if err := json.Unmarshal(raw, dst); err != nil && constrained {
				t.Fatalf("provider.%s the app constrains is not the expected shape: %s", key, out)
			}
		}
		if len(rule.Only) > 0 {
			if len(p.Only) == 0 {
				t.Fatalf("app only %v lifted: %s", rule.Only, out)
			}
			for _, got := range p.Only {
				if !slices.ContainsFunc(rule.Only, func(a string) bool { return slugCovers(a, got) }) {
					t.Fatalf("only %q is not allowed by the app's %v: %s", got, rule.Only, out)
				}
			}
		}
		for _, want := range rule.Ignore {
			if !slices.ContainsFunc(p.Ignore, func(g string) bool { return strings.EqualFold(g, want) }) {
				t.Fatalf("app ignore %q dropped: %s", want, out)
			}
		}
		if zdr && (p.ZDR == nil || !*p.ZDR) {
			t.Fatalf("ZDR routing lost: %s", out)
		}
	})
}
