package wire

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"testing"
)

// A stored native hash checks exactly the responses the password gives.
func TestCheckNativeHash(t *testing.T) {
	h1 := sha1.Sum([]byte("s3cret"))
	h2 := sha1.Sum(h1[:])
	hash := "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
	salt := []byte("0123456789abcdefghij")
	if !CheckNativeHash(salt, ScrambleNative(salt, "s3cret"), hash) {
		t.Fatal("the right password refused")
	}
	for _, bad := range [][]byte{ScrambleNative(salt, "s3cres"), ScrambleNative([]byte("another salt 012345"), "s3cret"), nil, make([]byte, 20)} {
		if CheckNativeHash(salt, bad, hash) {
			t.Fatalf("accepted %x", bad)
		}
	}
	if CheckNativeHash(salt, ScrambleNative(salt, "s3cret"), "*XYZ") {
		t.Fatal("a malformed hash accepted")
	}
}
