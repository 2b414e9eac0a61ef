package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/storetest"
	"eventops/web/httperr"
)

// adminGuard stands in for the dashboard's guard: it admits requests with
// the header X-Test-Admin: yes.
func adminGuard(c *fiber.Ctx) error {
	if c.Get("X-Test-Admin") != "yes" {
		return httperr.New(http.StatusForbidden, httperr.TypeForbidden, "admins only")
	}
	return c.Next()
}

var admin = hdr{"X-Test-Admin", "yes"}

// Without a guard of its own the server uses the dashboard's: a request
// without an admin session is sent to sign in and gets no data.
func TestBackupNeedsAnAdminSession(t *testing.T) {
	t.Parallel()
	f, _ := opsSetup(t, opsOptions{})
	r := f.do("GET", "/backup", "", nil, admin)
	r.expect(t, 303)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/login") {
		t.Fatalf("redirected to %q, want the sign-in page", loc)
	}
}

func TestBackupDuringWritesOpensAndPassesCheck(t *testing.T) {
	t.Parallel()
	if storetest.Postgres() {
		t.Skip("a copy of the bbolt file; a PostgreSQL store is backed up with pg_dump (GET /backup answers 404 saying so)")
	}
	at := time.Date(2026, 11, 26, 9, 5, 7, 0, time.UTC)
	f, _ := opsSetup(t, opsOptions{cfg: Config{AdminGuard: adminGuard, Clock: func() time.Time { return at }}})
	n := f.net()

	n.do("GET", "/backup", "", nil).expectProblem(t, 403, "forbidden")

	// Saves committed before the backup is asked for must be in it.
	var before []created
	for range 5 {
		before = append(before, f.event(f.keyA))
	}
	// Writers keep going while the backup is taken and sent.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var during atomic.Int64
	in := eventInput(t, f.venue(f.keyA), f.ticketType(f.keyA))
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := f.eng.CreateEvent(context.Background(), f.a.ID, in); err != nil {
					t.Errorf("create during backup: %v", err)
					return
				}
				during.Add(1)
			}
		}()
	}
	r := n.do("GET", "/backup", "", nil, admin).expect(t, 200)
	close(stop)
	wg.Wait()

	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="eventops-20261126-090507.db"` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	if !regexp.MustCompile(`^[A-Z2-7]{26}$`).MatchString(r.Header.Get(HeaderRequestID)) {
		t.Fatalf("no request id on the backup")
	}
	if during.Load() == 0 {
		t.Fatal("no write went on during the backup")
	}

	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, r.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatalf("the backup fails the consistency check: %v", err)
	}
	if err := db.View(func(tx engine.Tx) error {
		for _, c := range before {
			op, err := tx.Operation(c.OpID)
			if err != nil {
				return err
			}
			ev, err := tx.Event(c.EventID)
			if err != nil {
				return err
			}
			if op == nil || ev == nil {
				t.Errorf("event %d or its operation %d, saved before the backup, is missing from it", c.EventID, c.OpID)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Nothing is left in the temporary folder.
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "eventops-backup-*.db"))
	for _, l := range left {
		if fi, err := os.Stat(l); err == nil && time.Since(fi.ModTime()) < time.Minute {
			t.Errorf("a spooled backup was left behind: %s", l)
		}
	}

	// HEAD takes no snapshot.
	h := n.do("HEAD", "/backup", "", nil, admin).expect(t, 200)
	if len(h.Body) != 0 {
		t.Fatal("HEAD answered a body")
	}
}

// eventInput is eventBody as the engine takes it.
func eventInput(t testing.TB, venueID, ticketTypeID uint64) engine.EventInput {
	var in struct {
		Event engine.EventInput `json:"event"`
	}
	if err := json.Unmarshal([]byte(eventBody(venueID, ticketTypeID)), &in); err != nil {
		t.Fatal(err)
	}
	return in.Event
}

// blockingFile is a data file whose backup holds until released.
type blockingFile struct {
	dataFile
	started chan struct{}
	release chan struct{}
}

func (b blockingFile) Backup(w io.Writer) (int64, error) {
	b.started <- struct{}{}
	<-b.release
	return b.dataFile.Backup(w)
}

func TestOneBackupAtATime(t *testing.T) {
	t.Parallel()
	db, err := storage.Open(filepath.Join(t.TempDir(), "eventops.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bf := blockingFile{dataFile: dataFile{db}, started: make(chan struct{}, 1), release: make(chan struct{})}
	f, _ := opsSetup(t, opsOptions{cfg: Config{AdminGuard: adminGuard, DataFile: bf}})
	t.Cleanup(func() { db.Close() })

	first := make(chan *resp, 1)
	go func() { first <- f.do("GET", "/backup", "", nil, admin) }()
	<-bf.started
	f.do("GET", "/backup", "", nil, admin).expectProblem(t, 409, "conflict")
	close(bf.release)
	(<-first).expect(t, 200)
}
