package engine

// The installation id tells apart the products of two eventops
// installations (or a fresh data folder) connected to the same shop: it is
// part of every handle and SKU eventops writes, so one never finds, adopts
// or overwrites the other's products by handle. The store draws it once,
// at its first start (for a data file written before installation ids: at
// the first start of a binary that knows them), and keeps it in the data
// file.
//
// Products saved before an installation had an id keep their recorded
// product ids: the next save upserts them by id and gives them the new
// handle and SKUs. Orders of SKUs in the old form (eventops-{event}-{type})
// are still read.

// InstallationIDLen is the length of an installation id.
const InstallationIDLen = 8

// ValidInstallationID reports whether s is an installation id:
// InstallationIDLen characters of a–z and 2–7 (lowercase base32).
func ValidInstallationID(s string) bool {
	if len(s) != InstallationIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// InstallationID reads the installation id the store keeps.
func (e *Engine) InstallationID() (string, error) {
	var id string
	err := e.store.View(func(tx Tx) (err error) {
		id, err = tx.InstallationID()
		return err
	})
	return id, err
}
