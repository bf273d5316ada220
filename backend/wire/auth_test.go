package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha1"
	"crypto/sha256"
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

// A stored SHA256(SHA256(pw)) checks caching_sha2_password's scramble of
// pw, and nothing else.
func TestCheckSHA2Hash(t *testing.T) {
	salt := []byte("0123456789abcdefghij")
	h1 := sha256.Sum256([]byte("pw"))
	h2 := sha256.Sum256(h1[:])
	if !CheckSHA2Hash(salt, ScrambleSHA2(salt, "pw"), h2[:]) {
		t.Fatal("the right scramble failed")
	}
	for _, bad := range [][]byte{ScrambleSHA2(salt, "pW"), ScrambleSHA2([]byte("other salt 123456789"), "pw"), nil, make([]byte, 32)} {
		if CheckSHA2Hash(salt, bad, h2[:]) {
			t.Errorf("%x accepted", bad)
		}
	}
	if CheckSHA2Hash(salt, ScrambleSHA2(salt, "pw"), h2[:31]) {
		t.Error("a short hash accepted")
	}
}
