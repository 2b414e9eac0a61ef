package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"eventops/engine"
	"eventops/storage"
)

const storeCopyUsage = `store copy --data DIR --to-database-url postgres://USER@HOST/DB

Copies a stopped bbolt installation (DIR/` + dbFile + `) into an empty PostgreSQL
database, installation id included, then checks the counts of every kind of
record on both sides. The sealing key is not copied into the database: give
DIR/` + storage.SealerKeyFile + ` to every node as --sealer-key-file.`

func cmdStoreCopy(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("store copy", storeCopyUsage)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data folder of the stopped installation to copy")
	to := fs.String("to-database-url", "", "the empty PostgreSQL database to copy into (a password only from EVENTOPS_TO_DATABASE_URL or a PGPASSFILE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to == "" {
		fmt.Fprintln(stderr, "eventops store copy: --to-database-url is required")
		fs.Usage()
		return errUsage
	}
	path := filepath.Join(*data, dbFile)
	src, err := storage.Open(path, storage.Options{Timeout: time.Second})
	if err != nil {
		return heldBy(path, err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	dst, err := storage.OpenPostgres(ctx, *to, storage.Options{})
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := storage.CopyToPostgres(ctx, src, dst)
	if err != nil {
		return err
	}
	var inst string
	if err := dst.View(func(tx engine.Tx) error {
		inst, err = tx.InstallationID()
		return err
	}); err != nil {
		return err
	}
	names := make([]string, 0, len(counts))
	total := 0
	for b, n := range counts {
		names = append(names, b)
		total += n
	}
	slices.Sort(names)
	for _, b := range names {
		fmt.Fprintf(stdout, "%-26s %d\n", b, counts[b])
	}
	fmt.Fprintf(stdout, "copied and checked: %d rows in %d buckets, installation %s\n", total, len(names), inst)
	fmt.Fprintf(stdout, "start every node with --database-url and --sealer-key-file %s\n",
		filepath.Join(*data, storage.SealerKeyFile))
	return nil
}
