package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealerRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := LoadSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SealerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("key file: mode %v, %d bytes", fi.Mode().Perm(), fi.Size())
	}

	const secret = "shpat_0123456789abcdef0123456789abcdef"
	sealed, err := s.Seal(secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, []byte("shpat_")) {
		t.Fatal("sealed bytes contain the plaintext")
	}
	again, _ := s.Seal(secret)
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}

	// A second load reads the same key.
	s2, err := LoadSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Open(sealed); err != nil || got != secret {
		t.Fatalf("open = %q, %v", got, err)
	}
	if got, err := s.Open(nil); err == nil {
		t.Fatalf("open of nothing = %q", got)
	}

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.Open(tampered); !errors.Is(err, ErrUnseal) {
		t.Errorf("tampered: err = %v, want ErrUnseal", err)
	}
	other, err := LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(sealed); !errors.Is(err, ErrUnseal) {
		t.Errorf("other key: err = %v, want ErrUnseal", err)
	}
	if empty, err := s.Seal(""); err != nil {
		t.Fatal(err)
	} else if got, err := s.Open(empty); err != nil || got != "" {
		t.Errorf("empty secret round trip = %q, %v", got, err)
	}
}

func TestSealerRejectsShortKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SealerKeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSealer(dir); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
}
