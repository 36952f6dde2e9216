package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/aupguard/aupguard/internal/config"
)

// The TLS override of the compose file sets variables the config reads,
// and they turn TLS on for both listeners.
func TestComposeTLSOverride(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "compose.tls.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var dc struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &dc); err != nil {
		t.Fatal(err)
	}
	svc, ok := dc.Services["aupguard"]
	if !ok || len(svc.Volumes) != 1 || !strings.HasSuffix(svc.Volumes[0], ":/etc/aupguard/tls:ro") {
		t.Fatalf("service: %+v", svc)
	}
	for _, key := range []string{"tls.cert_file", "tls.key_file", "admin_tls.cert_file", "admin_tls.key_file"} {
		v, ok := svc.Environment[config.EnvName(key)]
		if !ok || !strings.HasPrefix(v, "/etc/aupguard/tls/") {
			t.Errorf("%s (%s): %q", key, config.EnvName(key), v)
		}
		t.Setenv(config.EnvName(key), v)
	}
	t.Setenv("OPENROUTER_API_KEY", "k")
	cfg, err := config.Parse(nil, "compose")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS.Enabled() || !cfg.AdminTLS.Enabled() || cfg.TLS.KeyFile != "/etc/aupguard/tls/key.pem" {
		t.Fatalf("TLS from the environment: %+v %+v", cfg.TLS, cfg.AdminTLS)
	}
}
