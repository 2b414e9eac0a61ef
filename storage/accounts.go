package storage

import (
	"errors"
	"strings"

	"eventops/engine"
)

// Company returns the company with id, or (nil, nil).
func (t *tx) Company(id uint64) (*engine.Company, error) {
	return getCached(t, tbCompanies, t.cache.companies, id)
}

// PutCompany writes c. Its shop's secrets must already be sealed.
func (t *tx) PutCompany(c *engine.Company) error {
	if c == nil {
		return errors.New("store company: nil")
	}
	return putCached(t, tbCompanies, t.cache.companies, c.ID, c, nil)
}

// Companies lists every company in id order (an installation has few).
func (t *tx) Companies() ([]*engine.Company, error) {
	return all[engine.Company](t, tbCompanies)
}

// APIKey returns the key with id, or (nil, nil).
func (t *tx) APIKey(id uint64) (*engine.APIKey, error) {
	return get[engine.APIKey](t, tbAPIKeys, id)
}

// APIKeyByHash finds a key by the hash of the whole key, revoked or not.
func (t *tx) APIKeyByHash(hash []byte) (*engine.APIKey, error) {
	if len(hash) == 0 {
		return nil, nil
	}
	return lookup[engine.APIKey](t, tbAPIKeys, idxAPIKeyHash, hash)
}

// PutAPIKey writes k; a hash already held by another key is a conflict.
func (t *tx) PutAPIKey(k *engine.APIKey) error {
	if k == nil {
		return errors.New("store api key: nil")
	}
	entries := []entry{{idx: idxAPIKeyCompany, key: key(nil).u64(k.CompanyID).u64(k.ID)}}
	if len(k.Hash) > 0 {
		entries = append(entries, entry{idx: idxAPIKeyHash, key: clone(k.Hash), unique: true})
	}
	return t.put(tbAPIKeys, k.ID, k, entries)
}

// APIKeys lists a company's keys (every key when companyID is 0) in id order.
func (t *tx) APIKeys(companyID uint64) ([]*engine.APIKey, error) {
	if companyID == 0 {
		return all[engine.APIKey](t, tbAPIKeys)
	}
	return byIndex[engine.APIKey](t, tbAPIKeys, idxAPIKeyCompany, key(nil).u64(companyID))
}

// User returns the user with id, or (nil, nil).
func (t *tx) User(id uint64) (*engine.User, error) {
	return get[engine.User](t, tbUsers, id)
}

// UserByEmail finds a user by email, ignoring case.
func (t *tx) UserByEmail(email string) (*engine.User, error) {
	if email == "" {
		return nil, nil
	}
	return lookup[engine.User](t, tbUsers, idxUserEmail, emailKey(email))
}

// PutUser writes u; an email (ignoring case) held by another user is a
// conflict.
func (t *tx) PutUser(u *engine.User) error {
	if u == nil {
		return errors.New("store user: nil")
	}
	var entries []entry
	if u.Email != "" {
		entries = []entry{{idx: idxUserEmail, key: emailKey(u.Email), unique: true}}
	}
	return t.put(tbUsers, u.ID, u, entries)
}

// Users lists every staff user in id order.
func (t *tx) Users() ([]*engine.User, error) {
	return all[engine.User](t, tbUsers)
}

func emailKey(email string) []byte { return []byte(strings.ToLower(strings.TrimSpace(email))) }
