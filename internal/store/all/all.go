// Package all registers both store implementations with store.Open:
// import it (for its side effect) wherever a store is opened from a URL.
package all

import (
	_ "github.com/aupguard/aupguard/internal/store/embedded"
	_ "github.com/aupguard/aupguard/internal/store/redisstore"
)
