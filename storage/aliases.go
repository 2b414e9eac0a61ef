package storage

import (
	"errors"

	"eventops/engine"
)

// AliasUses lists every API key's use of the deprecated aliases, by key id.
// There is at most one record per API key.
func (t *tx) AliasUses() ([]*engine.AliasUse, error) {
	return all[engine.AliasUse](t, tbAliasUses)
}

// PutAliasUse writes u under its API key id.
func (t *tx) PutAliasUse(u *engine.AliasUse) error {
	if u == nil {
		return errors.New("store alias use: nil")
	}
	return t.put(tbAliasUses, u.APIKeyID, u, nil)
}
