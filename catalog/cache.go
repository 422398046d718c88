package catalog

import "sync"

// maxCached bounds a cache: drafts submitted through the API may bring new rules and forms
// without end, so a full cache starts again rather than grow.
const maxCached = 2048

// cache keeps compiled forms and expressions by their source.
type cache[T any] struct {
	mu sync.RWMutex
	m  map[string]T
}

func newCache[T any]() *cache[T] { return &cache[T]{m: map[string]T{}} }

func (c *cache[T]) get(key string) (T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *cache[T]) put(key string, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCached {
		c.m = map[string]T{}
	}
	c.m[key] = v
}
