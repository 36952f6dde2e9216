package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAppProviders(t *testing.T) {
	c, err := load([]byte(`apps:
  - name: eu
    key: eu-app-key-1
    providers: {only: [azure, deepinfra/turbo], ignore: [together]}
  - {name: any, key: any-app-key-2}
`), "t.yaml", env(map[string]string{"OPENROUTER_API_KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Apps[0].Providers; !slices.Equal(p.Only, []string{"azure", "deepinfra/turbo"}) || !slices.Equal(p.Ignore, []string{"together"}) {
		t.Fatalf("providers = %+v", p)
	}
	if p := c.Apps[1].Providers; p.Only != nil || p.Ignore != nil {
		t.Fatalf("unconstrained app: %+v", p)
	}
	for bad, want := range map[string]string{
		`{only: ["a b"]}`:                  `providers.only[0] "a b" is not a provider slug`,
		`{only: [""]}`:                     `providers.only[0] "" is not a provider slug`,
		`{ignore: [x/y/z]}`:                `providers.ignore[0] "x/y/z" is not a provider slug`,
		`{only: [azure, Azure]}`:           `providers.only[1] "Azure" is listed twice`,
		`{only: [azure], ignore: [azure]}`: `"azure" is in both only and ignore`,
		`{except: [azure]}`:                `except`,
	} {
		_, err := load([]byte("apps:\n  - {name: web, key: web-app-key-1, providers: "+bad+"}\n"), "t.yaml", env(map[string]string{"OPENROUTER_API_KEY": "k"}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("providers: %s → %v, want an error with %q", bad, err, want)
		}
	}
}
