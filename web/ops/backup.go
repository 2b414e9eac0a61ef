package ops

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/web/httperr"
)

// backupTimeFormat names a backup after the moment it was taken, in UTC.
const backupTimeFormat = "20060102-150405"

// backup answers GET /backup (behind Config.AdminGuard) with a consistent
// snapshot of the data file as an attachment named
// eventops-YYYYMMDD-HHMMSS.db (UTC), while the server keeps serving.
//
// The snapshot is spooled to an unlinked temporary file first and sent
// from there: the read transaction that copies the file lasts only as long
// as the local copy, never as long as a slow download, because a long read
// transaction keeps the file from growing (writers wait) and keeps the
// shutdown waiting. One snapshot is taken at a time; another request
// meanwhile is 409.
func (s *routes) backup(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodHead {
		return c.SendStatus(http.StatusOK) // no snapshot for a HEAD
	}
	// A store with no file to copy (PostgreSQL) says so: it is backed up
	// with the database's own tools.
	if u, ok := s.cfg.DataFile.(interface{ BackupUnsupported() string }); ok {
		if why := u.BackupUnsupported(); why != "" {
			return httperr.New(http.StatusNotFound, httperr.TypeNotFound, why)
		}
	}
	if !s.backupMu.TryLock() {
		return httperr.New(http.StatusConflict, httperr.TypeConflict, "a backup is being taken; try again once it is done")
	}
	start := time.Now()
	f, n, err := s.spoolBackup()
	s.backupMu.Unlock()
	if err != nil {
		return err
	}
	name := "eventops-" + s.now().UTC().Format(backupTimeFormat) + ".db"
	s.log.InfoContext(c.UserContext(), "backup taken", "file", name, "bytes", n,
		"took", time.Since(start).Round(time.Millisecond).String())
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Content-Type-Options", "nosniff")
	// fasthttp closes the stream (and so the file) once it is sent or the
	// client has gone.
	return c.SendStream(f, int(n))
}

// spoolBackup copies a snapshot into a temporary file that is unlinked at
// once (nothing is left behind, even by a crash) and returns it rewound.
func (s *routes) spoolBackup() (*spool, int64, error) {
	f, err := os.CreateTemp("", "eventops-backup-*.db")
	if err != nil {
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	sp := &spool{File: f}
	if os.Remove(f.Name()) != nil {
		sp.removeOnClose = true // systems that keep open files from being unlinked
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n, err := s.cfg.DataFile.Backup(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		sp.Close()
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	return sp, n, nil
}

// spool is a temporary file that is gone once closed.
type spool struct {
	*os.File
	removeOnClose bool
}

func (s *spool) Close() error {
	err := s.File.Close()
	if s.removeOnClose {
		if rerr := os.Remove(s.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}
