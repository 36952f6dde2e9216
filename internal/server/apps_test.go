package server

import (
	"fmt"
	"testing"

	"github.com/aupguard/aupguard/internal/config"
)

func TestAppsCarryOperatorRoles(t *testing.T) {
	t.Setenv("TEST_UPSTREAM_KEY", "sk-or-test")
	c, err := config.Parse([]byte(`
upstream: {api_key: "${TEST_UPSTREAM_KEY}"}
apps:
  - {name: web, key: web-app-key-1}
  - {name: playground, key: playground-key-2, operator_roles: []}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	apps := Apps(c)
	if fmt.Sprint(apps[0].OperatorRoles) != "[system developer]" || apps[1].OperatorRoles == nil || len(apps[1].OperatorRoles) != 0 {
		t.Fatalf("operator roles: %q %q (nil %v)", apps[0].OperatorRoles, apps[1].OperatorRoles, apps[1].OperatorRoles == nil)
	}
}
