package engine

import (
	"context"
	"strings"
)

// Installation admin tokens let a script do what only an operator may, such
// as taking a backup (`eventops backup --url`), without a browser session.
// They belong to no company: stored as API keys of company 0 holding the
// single scope ScopeAdmin, they are refused by the JSON API (API keys stay
// per company) and accepted only by the operator routes that ask for them
// (AuthenticateAdminToken). Only their SHA-256 is stored; the value is shown
// once, by `eventops admintoken create`.
//
// ScopeAdmin is never granted to a company's key: CreateAPIKey takes read
// and write only.
const ScopeAdmin Scope = "admin"

// adminTokenPrefix starts every admin token, so that one is recognised in a
// leak scanner or a log at a glance, apart from company keys ("eo_").
const adminTokenPrefix = "eoadm_"

// CreateAdminToken makes an installation admin token and returns it with
// its plain value, shown once.
func (e *Engine) CreateAdminToken(ctx context.Context, name string) (*APIKey, Secret, error) {
	name = strings.TrimSpace(name)
	if errs := CheckText("name", name, MaxNameLen); len(errs) > 0 {
		return nil, "", Invalid(errs...)
	}
	plain, sum, err := newKey(adminTokenPrefix)
	if err != nil {
		return nil, "", err
	}
	k := &APIKey{Name: name, Prefix: plain[:12], Hash: sum, Scopes: []Scope{ScopeAdmin}, CreatedAt: e.now()}
	err = e.store.Update(ctx, func(tx Tx) error {
		var err error
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

// AdminTokens lists the installation admin tokens, revoked ones included.
func (e *Engine) AdminTokens() ([]*APIKey, error) {
	var out []*APIKey
	err := e.store.View(func(tx Tx) error {
		ks, err := tx.APIKeys(0)
		for _, k := range ks {
			if k.adminToken() {
				out = append(out, k)
			}
		}
		return err
	})
	return out, err
}

// RevokeAdminToken revokes an admin token at once; a company key's id is
// not found here.
func (e *Engine) RevokeAdminToken(ctx context.Context, id uint64) (*APIKey, error) {
	var k *APIKey
	err := e.store.View(func(tx Tx) error {
		var err error
		k, err = tx.APIKey(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if k == nil || !k.adminToken() {
		return nil, NotFound("admin token %d not found", id)
	}
	return e.RevokeAPIKey(ctx, id)
}

// AuthenticateAdminToken finds the live admin token with this plain value;
// anything else, a company's API key included, is Unauthorized.
func (e *Engine) AuthenticateAdminToken(plain string) (*APIKey, error) {
	k, err := e.lookupKey(plain)
	if err != nil {
		return nil, err
	}
	if k == nil || k.RevokedAt != nil || !k.adminToken() {
		return nil, Unauthorized("unknown or revoked admin token")
	}
	e.keys.used(k.ID, e.now())
	return k, nil
}

// adminToken reports whether k is an installation admin token.
func (k *APIKey) adminToken() bool { return k.CompanyID == 0 && k.Can(ScopeAdmin) }
