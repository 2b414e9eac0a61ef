package web

import (
	"io"

	"eventops/web/dash"
	"eventops/web/metrics"
)

// DataFile is what the server uses of the data file; main adapts
// *storage.DB (the web package does not import storage).
type DataFile interface {
	// StorageHealth is read at every scrape of /metrics and by the
	// dashboard's storage page.
	dash.StorageStats
	// Backup writes a consistent snapshot of the file to w while writers
	// go on, and returns the bytes written (GET /backup, web/ops).
	Backup(w io.Writer) (int64, error)
}

// storageFigures reads the data file's figures for the storage_* series.
func storageFigures(df DataFile) func() (metrics.StorageFigures, error) {
	return func() (metrics.StorageFigures, error) {
		h, err := df.StorageHealth()
		return metrics.StorageFigures{FileSize: h.FileSize, FreePages: h.FreePages,
			OpenReadTxs: h.OpenReadTxs, Commits: h.Commits, Updates: h.Updates}, err
	}
}
