package wire

import (
	"bytes"
	"crypto/ed25519"
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

// MariaDB's ed25519 is Ed25519 with SHA-512(password) as the expanded key:
// for a 32-byte password it is the standard signature with that seed.
func TestSignEd25519(t *testing.T) {
	seed := []byte("0123456789abcdef0123456789abcdef")
	nonce := []byte("a nonce of thirty-two bytes long")
	got, err := SignEd25519(nonce, string(seed))
	if err != nil {
		t.Fatal(err)
	}
	if want := ed25519.Sign(ed25519.NewKeyFromSeed(seed), nonce); !bytes.Equal(got, want) {
		t.Fatalf("signature %x, want %x", got, want)
	}
}
