package server

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/aupguard/aupguard/internal/config"
)

// There is no Docker engine on CI machines, so the compose file is checked
// by reading it: the services, their ports, and the config it mounts.
func TestDockerCompose(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var dc struct {
		Services map[string]struct {
			Build *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   map[string]any    `yaml:"depends_on"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &dc); err != nil {
		t.Fatal(err)
	}
	gw, ok := dc.Services["aupguard"]
	if !ok {
		t.Fatal("no aupguard service")
	}
	rd, ok := dc.Services["redis"]
	if !ok || !strings.HasPrefix(rd.Image, "redis:") {
		t.Fatalf("no redis service: %+v", rd)
	}
	if gw.Build == nil {
		t.Fatal("aupguard is not built from the repo")
	}
	df, err := os.ReadFile(filepath.Join(root, gw.Build.Context, gw.Build.Dockerfile))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532", "./cmd/aupguard", "deploy/container.yaml"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if _, ok := gw.DependsOn["redis"]; !ok {
		t.Error("aupguard does not depend on redis")
	}

	// The config the service is told to read must be the one mounted.
	cfgPath := ""
	for i, a := range gw.Command {
		if a == "--config" && i+1 < len(gw.Command) {
			cfgPath = gw.Command[i+1]
		}
	}
	host := ""
	for _, v := range gw.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == cfgPath {
			host = parts[0]
		}
	}
	if cfgPath == "" || host == "" {
		t.Fatalf("config %q not mounted (volumes %v)", cfgPath, gw.Volumes)
	}
	// Load it as the container would, with the compose environment.
	for k := range gw.Environment {
		t.Setenv(k, "compose-test-value-"+strings.ToLower(k))
	}
	cfg, err := config.Load(filepath.Join(root, host))
	if err != nil {
		t.Fatalf("mounted config does not load: %v", err)
	}
	u, err := url.Parse(cfg.Store)
	if err != nil || u.Hostname() != "redis" {
		t.Errorf("store %q does not point at the redis service", cfg.Store)
	}
	if len(cfg.Apps) == 0 {
		t.Error("mounted config has no app")
	}
	// Published ports reach the listeners.
	_, lp, _ := net.SplitHostPort(cfg.Listen)
	_, ap, _ := net.SplitHostPort(cfg.AdminListen)
	lh, _, _ := net.SplitHostPort(cfg.Listen)
	if lh != "0.0.0.0" {
		t.Errorf("listen %q is not reachable from outside the container", cfg.Listen)
	}
	published := map[string]bool{}
	for _, p := range gw.Ports {
		parts := strings.Split(p, ":")
		published[parts[len(parts)-1]] = true
	}
	if !published[lp] || !published[ap] {
		t.Errorf("ports %v do not publish %s and %s", gw.Ports, lp, ap)
	}

	// The image's own default config loads too (with only the upstream key).
	t.Setenv("OPENROUTER_API_KEY", "sk-or-x")
	if _, err := config.Load(filepath.Join(root, "deploy", "container.yaml")); err != nil {
		t.Fatalf("deploy/container.yaml: %v", err)
	}
}
