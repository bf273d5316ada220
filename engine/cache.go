package engine

import (
	"hash/maphash"
	"sync"
)

const cacheShards = 16

// MaxCachedText is the longest statement text the cache keeps, so that its
// memory is bounded by entries × MaxCachedText (16 MiB at the default
// size): longer texts, mostly with literals inlined, are classified each
// time, which costs about as much as copying them into the cache would.
const MaxCachedText = 2048

// Cache maps statement text to its Class. A hit costs a hash and a map
// lookup under a shard's read lock and allocates nothing: the key is looked
// up as string(b), which Go does not copy. A shard that reaches its bound is
// emptied (statements with literals inlined would otherwise grow it
// forever; the hot parametrised ones come back at once).
type Cache struct {
	seed   maphash.Seed
	max    int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]Class
	_  [40]byte // keep shards on separate cache lines
}

// NewCache returns a cache of at most size entries.
func NewCache(size int) *Cache {
	if size < cacheShards {
		size = cacheShards
	}
	c := &Cache{seed: maphash.MakeSeed(), max: size / cacheShards}
	for i := range c.shards {
		c.shards[i].m = make(map[string]Class)
	}
	return c
}

// Classify returns the class of sql, from the cache when it is there.
func (c *Cache) Classify(sql []byte) Class {
	sh := &c.shards[maphash.Bytes(c.seed, sql)%cacheShards]
	sh.mu.RLock()
	cls, ok := sh.m[string(sql)]
	sh.mu.RUnlock()
	if ok {
		return cls
	}
	s := string(sql)
	cls = Classify(s)
	if len(s) > MaxCachedText {
		return cls
	}
	sh.mu.Lock()
	if len(sh.m) >= c.max {
		clear(sh.m)
	}
	sh.m[s] = cls
	sh.mu.Unlock()
	return cls
}

// Demote records that sql, classified as a read, writes (a slave's
// read-only session refused it): it goes to the master from now on.
func (c *Cache) Demote(sql []byte) {
	if len(sql) > MaxCachedText {
		return
	}
	sh := &c.shards[maphash.Bytes(c.seed, sql)%cacheShards]
	sh.mu.Lock()
	if cls, ok := sh.m[string(sql)]; ok {
		sh.m[string(sql)] = cls.Refused()
	}
	sh.mu.Unlock()
}

// Len is the number of cached statements.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}
