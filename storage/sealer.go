package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"eventops/engine"
)

// SealerKeyFile is the name of the sealing key inside the data directory.
const SealerKeyFile = "sealer.key"

const (
	sealerKeySize = 32   // AES-256
	sealVersion   = 0x01 // first byte of every sealed value, for key rotation later
)

// Sealer encrypts secrets at rest (Shopify access tokens, webhook secrets)
// with AES-256-GCM under a key kept beside the data file. Losing sealer.key
// loses the secrets (they must be entered again), not the data. Neither the
// key nor any plaintext is ever logged or put in an error.
type Sealer struct {
	aead cipher.AEAD
}

var _ engine.Sealer = (*Sealer)(nil)

// LoadSealer reads dataDir/sealer.key, creating it (32 random bytes, mode
// 0600, written atomically) on first use.
func LoadSealer(dataDir string) (*Sealer, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	path := filepath.Join(dataDir, SealerKeyFile)
	k, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err = createKey(dataDir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return newSealer(path, k)
}

// LoadSealerFile reads a sealing key file that must exist (the PostgreSQL
// store's --sealer-key-file: every node reads the same one, and nothing
// creates it behind an operator's back, lest two nodes seal with two keys).
func LoadSealerFile(path string) (*Sealer, error) {
	k, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return newSealer(path, k)
}

func newSealer(path string, k []byte) (*Sealer, error) {
	if len(k) != sealerKeySize {
		return nil, fmt.Errorf("sealer: %s holds %d bytes, want %d", path, len(k), sealerKeySize)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// createKey writes a fresh key to a temporary file and links it into place,
// so that a concurrent first start never sees a partial key: the loser of a
// race reads the winner's key.
func createKey(dir, path string) ([]byte, error) {
	k := make([]byte, sealerKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, ".sealer-*.tmp")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Write(k); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return k, nil
}

// Seal encrypts plain: a version byte, a random nonce, then the ciphertext
// and its tag.
func (s *Sealer) Seal(plain string) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return s.aead.Seal(out, out[1:], []byte(plain), nil), nil
}

// ErrUnseal is returned by Open for a value that was not sealed by this key
// or was altered.
var ErrUnseal = errors.New("sealed value cannot be opened with this installation's key")

// Open decrypts a value made by Seal.
func (s *Sealer) Open(sealed []byte) (string, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return "", ErrUnseal
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], nil)
	if err != nil {
		return "", ErrUnseal
	}
	return string(plain), nil
}
