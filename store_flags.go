package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"eventops/engine"
	"eventops/storage"
)

// storeFlags pick a command's store: the data folder's bbolt file, or with
// --database-url a PostgreSQL database whose sealing key comes from
// --sealer-key-file (never from the database).
type storeFlags struct {
	data    string
	url     string
	keyFile string
}

// addStoreFlags registers --data, --database-url and --sealer-key-file.
func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	st := &storeFlags{}
	fs.StringVar(&st.data, "data", "./data", "data folder")
	fs.StringVar(&st.url, "database-url", "", "PostgreSQL store instead of DATA/"+dbFile+": postgres://USER@HOST/DB (a password only from EVENTOPS_DATABASE_URL or a PGPASSFILE, never in this flag; see static/docs/postgres.md)")
	fs.StringVar(&st.keyFile, "sealer-key-file", "", "with --database-url (required): the sealing key file every node and command shares, 32 random bytes (the format of DATA/"+storage.SealerKeyFile+")")
	return st
}

// errSealerKeyFile: on PostgreSQL the key is never created nor stored in
// the database; every node reads the same file.
var errSealerKeyFile = errors.New("--database-url needs --sealer-key-file: the 32-byte sealing key every node shares (copy DATA/" + storage.SealerKeyFile + " of an installation, or make one with: head -c 32 /dev/urandom > sealer.key)")

// checkURLFlag refuses a database URL with a password given on the command
// line (a process list shows it); the same URL from EVENTOPS_DATABASE_URL is
// fine. Called by parse for every command that has the flag.
func checkURLFlag(fs *flag.FlagSet, args []string) error {
	for _, flagName := range []string{"database-url", "to-database-url"} {
		f := fs.Lookup(flagName)
		if f == nil || f.Value.String() == "" {
			continue
		}
		for _, a := range args {
			if a == "--" {
				break
			}
			name := strings.TrimLeft(a, "-")
			if name == flagName || strings.HasPrefix(name, flagName+"=") {
				if err := storage.CheckURLFlag(f.Value.String()); err != nil {
					return fmt.Errorf("--%s: %w", flagName, err)
				}
			}
		}
	}
	return nil
}

// postgres reports whether the store is a PostgreSQL database.
func (st *storeFlags) postgres() bool { return st.url != "" }

// where names the store in logs, without credentials.
func (st *storeFlags) where() string {
	if st.postgres() {
		return "postgres"
	}
	return st.data
}

// open opens the store and its sealer. A bbolt file held by a server makes
// it fail within a second, saying so; a database is shared (no file lock).
func (st *storeFlags) open() (*storage.DB, *storage.Sealer, error) {
	if st.postgres() {
		if st.keyFile == "" {
			return nil, nil, errSealerKeyFile
		}
		sealer, err := storage.LoadSealerFile(st.keyFile)
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := storage.OpenPostgres(ctx, st.url, storage.Options{})
		if err != nil {
			return nil, nil, err
		}
		return db, sealer, nil
	}
	path := filepath.Join(st.data, dbFile)
	db, err := storage.Open(path, storage.Options{Timeout: time.Second})
	if err != nil {
		return nil, nil, heldBy(path, err)
	}
	sealer, err := storage.LoadSealer(st.data)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, sealer, nil
}

// openData opens a command's store and an engine on it.
func openData(st *storeFlags, log *slog.Logger) (*storage.DB, *engine.Engine, error) {
	return openDataWith(st, log, nil)
}

// openDataWith is openData with a shop reader, which checks a real shop
// being connected (engine.ShopConnector).
func openDataWith(st *storeFlags, log *slog.Logger, shops engine.ShopReader) (*storage.DB, *engine.Engine, error) {
	return openDataFor(st, log, shops, nil)
}

// openDataFor is openDataWith with the sandbox that provisions a sandbox
// shop being connected (nil: none, the shop comes with its token).
func openDataFor(st *storeFlags, log *slog.Logger, shops engine.ShopReader, sb engine.SandboxShops) (*storage.DB, *engine.Engine, error) {
	db, sealer, err := st.open()
	if err != nil {
		return nil, nil, err
	}
	cfg := engine.Config{Store: db, Sealer: sealer, Logger: log, Sandbox: sb}
	if shops != nil {
		cfg.Shops = shops
	}
	return db, engine.New(cfg), nil
}
