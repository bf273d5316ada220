package engine

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
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
	// gen changes with every Demote: a Recent made before forgets what
	// it remembers.
	gen atomic.Uint64
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
func (c *Cache) Classify(sql []byte) Class { return c.ClassifyRecent(nil, sql) }

// ClassifyRecent is Classify for one session, which keeps in r the texts
// it classified last: a hit there reads no shared memory but the
// generation, where the shared cache takes a shard's read lock, whose
// counter the cores pass between them on every statement. r may be nil.
func (c *Cache) ClassifyRecent(r *Recent, sql []byte) Class {
	switch {
	case len(sql) > MaxCachedText:
		return Classify(string(sql))
	case !reshapes(sql):
		return c.recent(r, sql, sql) // no copy when the key is the text
	case len(sql) <= smallText:
		var buf [smallText]byte // zeroed on each call: kept small
		return c.recent(r, reshape(sql, buf[:0]), sql)
	}
	var buf [MaxCachedText]byte
	return c.recent(r, reshape(sql, buf[:0]), sql)
}

// Recent is what one session classified last (see ClassifyRecent); the
// zero value is empty. Not safe for concurrent use.
type Recent struct {
	cache *Cache
	gen   uint64
	next  int
	e     [recentSize]recentEntry
}

// recentSize: sysbench's read_only cycles through seven texts.
const recentSize = 8

type recentEntry struct {
	key []byte // owned; nil: empty
	cls Class
}

func (c *Cache) recent(r *Recent, key, sql []byte) Class {
	if r == nil {
		return c.classify(key, sql)
	}
	if g := c.gen.Load(); r.cache != c || r.gen != g {
		for i := range r.e {
			r.e[i].key = r.e[i].key[:0]
		}
		r.cache, r.gen = c, g
	}
	for i := range r.e {
		if e := &r.e[i]; len(e.key) == len(key) && len(key) > 0 && string(e.key) == string(key) {
			return e.cls
		}
	}
	cls := c.classify(key, sql)
	e := &r.e[r.next]
	r.next = (r.next + 1) % recentSize
	e.key, e.cls = append(e.key[:0], key...), cls
	return cls
}

// smallText bounds the texts Classify shapes in its small buffer.
const smallText = 256

// classify looks key up, or classifies sql and stores its class as key's.
func (c *Cache) classify(key, sql []byte) Class {
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
	key := shape(sql, buf[:0])
	sh := &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
	sh.mu.Lock()
	if cls, ok := sh.m[string(key)]; ok {
		sh.m[string(key)] = cls.Refused()
	}
	sh.mu.Unlock()
	c.gen.Add(1)
}

// shape is the cache key of sql: the text itself, or, for a SELECT,
// INSERT, UPDATE, DELETE or REPLACE that is plain ASCII without quotes,
// comments, backslashes or ';', the text with every word that starts with a
// digit (a number: 42, 1e5, 0x1F) replaced by "0", appended to out (whose
// capacity should hold len(sql) bytes). Their classes are equal: Classify
// sees such texts as the same words with the same punctuation under one
// lexing (lexModes varies only with what is excluded here), and no keyword
// starts with a digit; the values that do matter to a class (SET
// autocommit = 0) are in statements not shaped.
func shape(sql, out []byte) []byte {
	if !reshapes(sql) {
		return sql
	}
	return reshape(sql, out)
}

// Byte classes for shaping (shapeBytes).
const (
	sbWord  = 1 << iota // isWord, below 0x80
	sbDigit             // starts a number
	sbStop              // not shaped: quotes, backslash, ';', '#', NUL, 8-bit
	sbSlash             // '/' or '-': a comment when doubled or '/*'
)

// shapeBytes classifies bytes for reshapes in one table look-up each.
var shapeBytes = func() (t [256]uint8) {
	for b := range 256 {
		switch {
		case b >= 0x80 || b == '\'' || b == '"' || b == '`' || b == '\\' || b == ';' || b == '#' || b == 0:
			t[b] = sbStop
		case isDigit(byte(b)):
			t[b] = sbWord | sbDigit
		case isWord(byte(b)):
			t[b] = sbWord
		case b == '/' || b == '-':
			t[b] = sbSlash
		}
	}
	return t
}()

// reshapes reports whether shape(sql) differs from sql.
func reshapes(sql []byte) bool {
	i := 0
	for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r') {
		i++
	}
	if !shapedVerb(sql[i:]) {
		return false
	}
	changes := false
	for j := i; j < len(sql); {
		b := sql[j]
		switch f := shapeBytes[b]; {
		case f&sbWord != 0:
			// A whole word: a number when it starts with a digit (the
			// lexer's word runs; 8-bit bytes end it and stop below).
			start := j
			for j++; j < len(sql) && shapeBytes[sql[j]]&sbWord != 0; j++ {
			}
			changes = changes || f&sbDigit != 0 && (j-start > 1 || b != '0')
			continue
		case f&sbStop != 0:
			return false
		case f&sbSlash != 0 && j+1 < len(sql) && (sql[j+1] == '*' || sql[j+1] == b):
			return false // a comment, perhaps executable (/*!50000 … */)
		}
		j++
	}
	return changes
}

// reshape appends the shape of sql, for which reshapes holds, to out.
func reshape(sql, out []byte) []byte {
	for j := 0; j < len(sql); {
		b := sql[j]
		if f := shapeBytes[b]; f&sbWord != 0 {
			start := j
			for j++; j < len(sql) && shapeBytes[sql[j]]&sbWord != 0; j++ {
			}
			if f&sbDigit != 0 {
				out = append(out, '0')
			} else {
				out = append(out, sql[start:j]...)
			}
			continue
		}
		out = append(out, b)
		j++
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
