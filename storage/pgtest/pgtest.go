// Package pgtest gives tests a PostgreSQL server: the one named by
// EVENTOPS_TEST_DATABASE_URL, or else a throwaway cluster that the first
// caller in a test binary starts in a temporary folder (initdb, then the
// postgres server on a Unix socket there, fsync on) from Debian's
// postgresql package (/usr/lib/postgresql/NN/bin, off the PATH). As root
// (CI), initdb and the server run as the postgres user, which owns the
// folder: initdb refuses to run as root. Each test gets a fresh database.
//
// Only tests import this package.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable pointing tests at an existing server (a URL
// whose user may create databases).
const EnvURL = "EVENTOPS_TEST_DATABASE_URL"

// EnvStore, set to "postgres", makes the tests that support both stores run
// on PostgreSQL instead of bbolt.
const EnvStore = "EVENTOPS_TEST_STORE"

// Postgres reports whether EnvStore asks for PostgreSQL.
func Postgres() bool { return os.Getenv(EnvStore) == "postgres" }

var (
	once    sync.Once
	baseURL string
	skipWhy string
	failWhy error
	dir     string
	server  *exec.Cmd
)

// Server returns the URL of the server's maintenance database, starting the
// throwaway cluster on the first call. It skips t, saying why, when there is
// neither EVENTOPS_TEST_DATABASE_URL nor Debian's postgresql package.
func Server(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	if failWhy != nil {
		t.Fatal(failWhy) // a broken install is a failure, not a skip
	}
	return baseURL
}

// Database creates a fresh, empty database for t, dropped when t ends, and
// returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	base := Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	raw := make([]byte, 6)
	rand.Read(raw)
	name := "t_" + hex.EncodeToString(raw)
	if _, err := conn.Exec(ctx, "create database "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Stop stops the throwaway cluster, if this binary started one, and removes
// its folder. TestMain calls it after m.Run; should a binary die first, the
// server gets SIGTERM as its parent goes (Pdeathsig) and the folder stays in
// the temporary directory.
func Stop() {
	if server == nil || server.Process == nil {
		return
	}
	server.Process.Signal(syscall.SIGINT) // fast shutdown
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		server.Process.Kill()
		<-done
	}
	os.RemoveAll(dir)
	server = nil
}

func start() {
	if u := os.Getenv(EnvURL); u != "" {
		baseURL = u
		return
	}
	bin := findBin()
	if bin == "" {
		skipWhy = "no PostgreSQL: install Debian's postgresql package (or set " + EnvURL + ")"
		return
	}
	if err := startCluster(bin); err != nil {
		failWhy = fmt.Errorf("pgtest: start a throwaway cluster with %s: %w", bin, err)
	}
}

// findBin returns the newest /usr/lib/postgresql/NN/bin holding initdb.
func findBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	if len(dirs) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
		return ""
	}
	return filepath.Dir(dirs[0])
}

// removeStale deletes the folders of clusters whose test binary died
// before TestMain could stop them (their server went with it: Pdeathsig).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "eventops-pg-*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid"))
		if err == nil {
			line, _, _ := strings.Cut(string(raw), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && syscall.Kill(pid, 0) == nil {
				continue // its server still runs
			}
		}
		os.RemoveAll(d)
	}
}

func startCluster(bin string) error {
	removeStale()
	var err error
	dir, err = os.MkdirTemp("", "eventops-pg-")
	if err != nil {
		return err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	server = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-k", dir, "-c", "listen_addresses=", "-c", "port=5432",
		"-c", "fsync=on", "-c", "synchronous_commit=on",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB")
	server.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	if cred != nil {
		os.Chown(logf.Name(), int(cred.Uid), int(cred.Gid))
	}
	server.Stdout, server.Stderr = logf, logf
	server.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := server.Start(); err != nil {
		return err
	}
	baseURL = "postgres://postgres@/postgres?host=" + url.QueryEscape(dir)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, baseURL)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			return errors.Join(err, fmt.Errorf("server log: %s", log))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Terminate ends, with pg_terminate_backend, the connections to the
// database at url whose application_name is app (a lost connection, as a
// network failure or a database restart makes one), and returns how many
// it ended.
func Terminate(t testing.TB, url, app string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `select count(pg_terminate_backend(pid)) from pg_stat_activity
		where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()`, app).Scan(&n)
	if err != nil {
		t.Fatalf("pgtest: terminate %q: %v", app, err)
	}
	return n
}
