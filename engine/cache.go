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

// Classify returns the class of sql, from the cache when it is there. A
// statement with numbers inlined is cached under its shape (see shape), so
// that `SELECT c FROM t WHERE id=42` and `… id=43` share one entry.
func (c *Cache) Classify(sql []byte) Class {
	if len(sql) > MaxCachedText {
		return Classify(string(sql))
	}
	var buf [MaxCachedText]byte
	key := shape(sql, &buf)
	sh := &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
	sh.mu.RLock()
	cls, ok := sh.m[string(key)]
	sh.mu.RUnlock()
	if ok {
		return cls
	}
	cls = Classify(string(sql))
	k := string(key)
	sh.mu.Lock()
	if len(sh.m) >= c.max {
		clear(sh.m)
	}
	sh.m[k] = cls
	sh.mu.Unlock()
	return cls
}

// Demote records that sql, classified as a read, writes (a slave's
// read-only session refused it): it, and the texts of its shape, go to the
// master from now on.
func (c *Cache) Demote(sql []byte) {
	if len(sql) > MaxCachedText {
		return
	}
	var buf [MaxCachedText]byte
	key := shape(sql, &buf)
	sh := &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
	sh.mu.Lock()
	if cls, ok := sh.m[string(key)]; ok {
		sh.m[string(key)] = cls.Refused()
	}
	sh.mu.Unlock()
}

// shape is the cache key of sql: the text itself, or, for a SELECT,
// INSERT, UPDATE, DELETE or REPLACE that is plain ASCII without quotes,
// comments, backslashes or ';', the text with every word that starts with a
// digit (a number: 42, 1e5, 0x1F) replaced by "0". Their classes are equal:
// Classify sees such texts as the same words with the same punctuation
// under one lexing (lexModes varies only with what is excluded here), and
// no keyword starts with a digit; the values that do matter to a class
// (SET autocommit = 0) are in statements not shaped. len(sql) must not
// exceed len(buf).
func shape(sql []byte, buf *[MaxCachedText]byte) []byte {
	i := 0
	for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r') {
		i++
	}
	if !shapedVerb(sql[i:]) {
		return sql
	}
	out := buf[:0]
	for j := 0; j < len(sql); j++ {
		b := sql[j]
		switch {
		case b >= 0x80 || b == '\'' || b == '"' || b == '`' || b == '\\' || b == ';' || b == '#' || b == 0:
			return sql
		case (b == '/' || b == '-') && j+1 < len(sql) && (sql[j+1] == '*' || sql[j+1] == b):
			return sql // a comment, perhaps executable (/*!50000 … */)
		case isDigit(b) && (j == 0 || !isWord(sql[j-1])):
			out = append(out, '0')
			for j+1 < len(sql) && isWord(sql[j+1]) {
				if sql[j+1] >= 0x80 {
					return sql
				}
				j++
			}
		default:
			out = append(out, b)
		}
	}
	return out
}

// shapedVerb reports whether s starts with a statement verb whose class no
// number changes.
func shapedVerb(s []byte) bool {
	var w [7]byte
	n := 0
	for n < len(s) && n < len(w) && isWord(s[n]) {
		w[n] = s[n] &^ 0x20 // ASCII upper case; a non-letter fails below anyway
		n++
	}
	if n < len(s) && isWord(s[n]) {
		return false
	}
	switch string(w[:n]) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE":
		return true
	}
	return false
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
