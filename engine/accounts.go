package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/mail"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Sealer encrypts credentials at rest (Shopify tokens, webhook secrets).
type Sealer interface {
	Seal(plain string) ([]byte, error)
	Open(sealed []byte) (string, error)
}

// ShopInput connects a company to a shop: the built-in sandbox, or a real
// shop by domain or base URL with its access token and webhook secret.
type ShopInput struct {
	Sandbox       bool
	Domain        string
	AccessToken   Secret
	WebhookSecret Secret
	// Auth is the connection's kind ("": token); the other kinds hold the
	// app's ClientID and ClientSecret, and an oauth connection its first
	// tokens (see shop_auth.go). Scopes are those granted, as the
	// ShopConnector read them.
	Auth             ShopAuth
	ClientID         string
	ClientSecret     Secret
	RefreshToken     Secret
	TokenExpiresAt   time.Time
	RefreshExpiresAt time.Time
	Scopes           []string
	// Currency is the shop's currency when the caller knows it already
	// (a sandbox shop it has just created); "" has the engine read it
	// from the shop (see ShopReader).
	Currency string
}

// CreateCompany stores a company, connected to a shop when shop is given.
func (e *Engine) CreateCompany(ctx context.Context, name string, shop *ShopInput) (*Company, error) {
	name = strings.TrimSpace(name)
	if errs := CheckName("name", name); len(errs) > 0 {
		return nil, Invalid(errs...)
	}
	c := &Company{Name: name, CreatedAt: e.now()}
	if shop != nil {
		s, err := e.prepareShop(ctx, shop)
		if err != nil {
			return nil, err
		}
		c.Shop = s
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		if c.ID, err = tx.NextID(SeqCompany); err != nil {
			return err
		}
		return tx.PutCompany(c)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (e *Engine) sealShop(in *ShopInput) (*Shop, error) {
	s := &Shop{Sandbox: in.Sandbox, Domain: strings.TrimSpace(in.Domain)}
	if s.Domain == "" {
		return nil, Invalid(FieldError{Attribute: "shop", Code: "blank", Message: "needs a shop domain or URL"})
	}
	if errs := CheckText("shop", s.Domain, maxDomainLen); errs != nil {
		return nil, Invalid(errs...)
	}
	if !in.Sandbox && in.Auth != ShopAuthToken && in.Auth != "" {
		s.Auth, s.ClientID = in.Auth, in.ClientID
	}
	var err error
	if s.AccessToken, err = e.seal(in.AccessToken); err != nil {
		return nil, err
	}
	if s.Auth == "" {
		if s.WebhookSecret, err = e.seal(in.WebhookSecret); err != nil {
			return nil, err
		}
	} else {
		if s.ClientSecret, err = e.seal(in.ClientSecret); err != nil {
			return nil, err
		}
		if s.RefreshToken, err = e.seal(in.RefreshToken); err != nil {
			return nil, err
		}
		s.TokenExpiresAt = timeOrNil(in.TokenExpiresAt)
		s.RefreshExpiresAt = timeOrNil(in.RefreshExpiresAt)
		if in.AccessToken != "" {
			now := e.now().UTC()
			s.TokenRefreshedAt = &now
		}
	}
	s.Scopes = append([]string(nil), in.Scopes...)
	return s, nil
}

// OpenShopCredentials opens a shop's sealed access token and the secret
// that signs its webhooks (see OpenShopSecrets).
func (e *Engine) OpenShopCredentials(s *Shop) (token, webhookSecret Secret, err error) {
	sec, err := e.OpenShopSecrets(s)
	if err != nil {
		return "", "", err
	}
	return sec.AccessToken, sec.WebhookSecret, nil
}

// Company reads a company.
func (e *Engine) Company(id uint64) (*Company, error) {
	var c *Company
	err := e.store.View(func(tx Tx) error {
		var err error
		c, err = tx.Company(id)
		return err
	})
	if err == nil && c == nil {
		err = NotFound("company %d not found", id)
	}
	return c, err
}

// Companies lists every company.
func (e *Engine) Companies() ([]*Company, error) {
	var cs []*Company
	err := e.store.View(func(tx Tx) error {
		var err error
		cs, err = tx.Companies()
		return err
	})
	return cs, err
}

// keyPrefix starts every API key, so that a leaked key is recognisable.
const keyPrefix = "eo_"

// CreateAPIKey makes a key for a company and returns it with its plain value,
// which is shown once: only its SHA-256 is stored. A key is 256 random bits,
// so a fast hash is as safe as a password hash and keeps authentication
// cheap on every request.
func (e *Engine) CreateAPIKey(ctx context.Context, companyID uint64, name string, scopes []Scope) (*APIKey, Secret, error) {
	if len(scopes) == 0 {
		return nil, "", Invalid(FieldError{Attribute: "scopes", Code: "blank", Message: "can't be blank"})
	}
	for _, s := range scopes {
		if s != ScopeRead && s != ScopeWrite {
			return nil, "", Invalid(FieldError{Attribute: "scopes", Code: "invalid", Message: "must be read and/or write"})
		}
	}
	if errs := CheckText("name", strings.TrimSpace(name), MaxNameLen); len(errs) > 0 {
		return nil, "", Invalid(errs...)
	}
	plain, sum, err := newKey(keyPrefix)
	if err != nil {
		return nil, "", err
	}
	k := &APIKey{CompanyID: companyID, Name: strings.TrimSpace(name), Prefix: plain[:10], Hash: sum,
		Scopes: scopes, CreatedAt: e.now()}
	err = e.store.Update(ctx, func(tx Tx) error {
		c, err := tx.Company(companyID)
		if err != nil {
			return err
		}
		if c == nil {
			return NotFound("company %d not found", companyID)
		}
		if k.ID, err = tx.NextID(SeqAPIKey); err != nil {
			return err
		}
		return tx.PutAPIKey(k)
	})
	if err != nil {
		return nil, "", err
	}
	return k, Secret(plain), nil
}

// RevokeAPIKey revokes a key at once.
func (e *Engine) RevokeAPIKey(ctx context.Context, id uint64) (*APIKey, error) {
	var k *APIKey
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		if k, err = tx.APIKey(id); err != nil {
			return err
		}
		if k == nil {
			return NotFound("API key %d not found", id)
		}
		if k.RevokedAt == nil {
			t := e.now()
			k.RevokedAt = &t
		}
		return tx.PutAPIKey(k)
	})
	if err != nil {
		return nil, err
	}
	e.keys.forget(k.Hash)
	return k, nil
}

// APIKeys lists the keys of a company (0: every company). Installation
// admin tokens are not company keys and are not listed (AdminTokens).
func (e *Engine) APIKeys(companyID uint64) ([]*APIKey, error) {
	var ks []*APIKey
	err := e.store.View(func(tx Tx) error {
		all, err := tx.APIKeys(companyID)
		for _, k := range all {
			if !k.adminToken() {
				ks = append(ks, k)
			}
		}
		return err
	})
	return ks, err
}

// Authenticate finds the live key with this plain value; an unknown or
// revoked key is Unauthorized. Keys are cached in memory, and their last use
// is recorded in memory and written out in batches (FlushKeyUse).
//
// An installation admin token is not an API key: it is Unauthorized here,
// so that a leaked operator script's token reads no company's data.
func (e *Engine) Authenticate(plain string) (*APIKey, error) {
	k, err := e.lookupKey(plain)
	if err != nil {
		return nil, err
	}
	if k == nil || k.RevokedAt != nil || k.adminToken() {
		return nil, Unauthorized("unknown or revoked API key")
	}
	e.keys.used(k.ID, e.now())
	return k, nil
}

// lookupKey finds a key (or admin token) by its plain value through the
// cache; (nil, nil) when none has it. On a shared store the cache is not
// asked: another process may have revoked (or created) the key. There the
// key is read at every call, in a read sent after the call began that
// concurrent calls share (see readGroup).
func (e *Engine) lookupKey(plain string) (*APIKey, error) {
	sum := sha256.Sum256([]byte(plain))
	if e.keyReads != nil {
		return e.keyReads.get(sum)
	}
	if k, ok := e.keys.get(sum[:]); ok && !e.shared {
		return k, nil
	}
	var k *APIKey
	err := e.viewOne(func(tx Tx) error {
		var err error
		k, err = tx.APIKeyByHash(sum[:])
		return err
	})
	if err != nil {
		return nil, err
	}
	e.keys.put(sum[:], k)
	return k, nil
}

// FlushKeyUse writes the last-use times gathered since the last flush in one
// commit. Each key's stored time is read in the commit and only ever moves
// forward: another node (or an earlier flush) that wrote a later use keeps
// it. Times that could not be written are kept for the next flush.
func (e *Engine) FlushKeyUse(ctx context.Context) error {
	used := e.keys.takeUsed()
	if len(used) == 0 {
		return nil
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		for id, t := range used {
			k, err := tx.APIKey(id)
			if err != nil {
				return err
			}
			if k == nil || (k.LastUsed != nil && !t.After(*k.LastUsed)) {
				continue
			}
			t := t
			k.LastUsed = &t
			if err := tx.PutAPIKey(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for id, t := range used {
			e.keys.used(id, t)
		}
	}
	return err
}

// keyCache holds looked-up keys (nil for unknown hashes, bounded) and
// last-use times not yet written.
type keyCache struct {
	mu    sync.Mutex
	byKey map[string]*APIKey
	use   map[uint64]time.Time
}

const keyCacheMax = 10000

func (c *keyCache) get(hash []byte) (*APIKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.byKey[string(hash)]
	return k, ok
}

func (c *keyCache) put(hash []byte, k *APIKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil || len(c.byKey) >= keyCacheMax {
		c.byKey = map[string]*APIKey{}
	}
	c.byKey[string(hash)] = k
}

func (c *keyCache) forget(hash []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byKey, string(hash))
}

// used records a use of key id at t (the latest of those recorded stays).
func (c *keyCache) used(id uint64, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.use == nil {
		c.use = map[uint64]time.Time{}
	}
	if old, ok := c.use[id]; !ok || t.After(old) {
		c.use[id] = t
	}
}

func (c *keyCache) takeUsed() map[uint64]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.use
	c.use = nil
	return u
}

// maxEmailLen and maxDomainLen bound a staff email (RFC 5321's 254) and a
// shop's domain or URL.
const (
	maxEmailLen  = 254
	maxDomainLen = 255
)

// newKey is a new secret of 256 random bits after prefix, and its SHA-256
// (all that is stored): a key that long needs no slow hash.
func newKey(prefix string) (plain string, sum []byte, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	plain = prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(plain))
	return plain, h[:], nil
}

// hashPassword checks a staff password's length and hashes it (bcrypt).
func hashPassword(password Secret) ([]byte, error) {
	if len(password.Reveal()) < MinPasswordLen {
		return nil, Invalid(FieldError{Attribute: "password", Code: "too_short", Message: "must have at least 12 characters"})
	}
	return bcrypt.GenerateFromPassword([]byte(password.Reveal()), bcrypt.DefaultCost)
}

// MinPasswordLen is the shortest staff password accepted.
const MinPasswordLen = 12

// CreateUser adds a staff user; the password is stored as a bcrypt hash.
func (e *Engine) CreateUser(ctx context.Context, email string, role Role, password Secret) (*User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if errs := CheckText("email", email, maxEmailLen); errs != nil {
		return nil, Invalid(errs...)
	}
	if _, err := mail.ParseAddress(email); err != nil || !strings.Contains(email, "@") {
		return nil, Invalid(FieldError{Attribute: "email", Code: "invalid", Message: "is not an email address"})
	}
	if role != RoleAdmin && role != RoleViewer {
		return nil, Invalid(FieldError{Attribute: "role", Code: "invalid", Message: "must be admin or viewer"})
	}
	hash, err := hashPassword(password)
	if err != nil {
		return nil, err
	}
	u := &User{Email: email, Role: role, PasswordHash: hash, CreatedAt: e.now()}
	err = e.store.Update(ctx, func(tx Tx) error {
		old, err := tx.UserByEmail(email)
		if err != nil {
			return err
		}
		if old != nil {
			return Invalid(FieldError{Attribute: "email", Code: "taken", Message: "is already taken"})
		}
		if u.ID, err = tx.NextID(SeqUser); err != nil {
			return err
		}
		return tx.PutUser(u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UserByEmail finds a staff user by email (any case), or (nil, nil).
func (e *Engine) UserByEmail(email string) (*User, error) {
	var u *User
	err := e.store.View(func(tx Tx) error {
		var err error
		u, err = tx.UserByEmail(strings.ToLower(strings.TrimSpace(email)))
		return err
	})
	return u, err
}

// SetPassword gives a staff user a new password: the way back in for an
// operator who lost the one printed at first start (`eventops user
// password`). An unknown email is NotFound; the rules are CreateUser's.
// The user's dashboard sessions end in the same commit.
func (e *Engine) SetPassword(ctx context.Context, email string, password Secret) (*User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	hash, err := hashPassword(password)
	if err != nil {
		return nil, err
	}
	var u *User
	err = e.store.Update(ctx, func(tx Tx) error {
		var err error
		if u, err = tx.UserByEmail(email); err != nil {
			return err
		}
		if u == nil {
			return NotFound("no staff user has the email %q", email)
		}
		u.PasswordHash = hash
		if err := tx.PutUser(u); err != nil {
			return err
		}
		// Whoever signed in with the old password is signed out.
		_, err = tx.DeleteUserSessions(u.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SignIn checks a staff user's password.
func (e *Engine) SignIn(email string, password Secret) (*User, error) {
	var u *User
	err := e.store.View(func(tx Tx) error {
		var err error
		u, err = tx.UserByEmail(strings.ToLower(strings.TrimSpace(email)))
		return err
	})
	if err != nil {
		return nil, err
	}
	if u == nil {
		// Spend the same time as a real check, so that timing does not
		// tell which emails exist.
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password.Reveal()))
		return nil, Unauthorized("wrong email or password")
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password.Reveal())) != nil {
		return nil, Unauthorized("wrong email or password")
	}
	return u, nil
}

// dummyHash is made on first use: bcrypt at start-up would slow every start.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a real password"), bcrypt.DefaultCost)
	return h
})

// RandomSecret returns n random bytes as URL-safe text, for generated
// passwords and webhook secrets.
func RandomSecret(n int) (Secret, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return Secret(base64.RawURLEncoding.EncodeToString(b)), nil
}
