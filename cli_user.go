package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"

	"eventops/engine"
)

func cmdUserCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return userCreate(args, stdin, stdinTerminal(stdin), stdout, stderr)
}

// userCreate creates a staff user. The password is never a flag: on a
// terminal (tty non-nil) it is asked for twice without echo, the prompt
// stating the minimum length; otherwise it is the first line of stdin
// (e.g. from a password manager). The data file is opened before asking,
// so a running server's lock fails the command at once, before anyone
// types a password for nothing.
func userCreate(args []string, stdin io.Reader, tty passwordTerminal, stdout, stderr io.Writer) error {
	fs := newFlags("user create", "user create --email E [--role admin|viewer]  (password: prompted on a terminal, else one line of stdin)")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	email := fs.String("email", "", "the user's email (required)")
	role := fs.String("role", "viewer", "admin or viewer")
	if err := parse(fs, args); err != nil {
		return err
	}
	// What the flags alone can tell is told before the password is asked.
	if strings.TrimSpace(*email) == "" {
		return fmt.Errorf("--email is required")
	}
	if r := engine.Role(*role); r != engine.RoleAdmin && r != engine.RoleViewer {
		return fmt.Errorf("--role %q: want admin or viewer", *role)
	}
	// A held data file fails before the password is asked; the file is not
	// held while the prompt waits (a server started meanwhile must not
	// find it locked), and is opened again for the write.
	db, _, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	password, err := readNewPassword(stdin, tty, stderr)
	if err != nil {
		return err
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := eng.CreateUser(context.Background(), *email, engine.Role(*role), password)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(stdout, strconv.FormatUint(u.ID, 10))
	return nil
}

// cmdUserRemove removes a staff user and, in the same commit, every
// dashboard session of theirs: their open pages say "signed out" when the
// server next checks them.
func cmdUserRemove(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("user remove", "user remove --email E")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	email := fs.String("email", "", "the user's email (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" {
		return fmt.Errorf("--email is required")
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := eng.RemoveUser(context.Background(), *email)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(stdout, strconv.FormatUint(u.ID, 10))
	return nil
}

// passwordTerminal reads a line from a terminal without echoing it.
type passwordTerminal interface {
	ReadPassword() ([]byte, error)
}

type fdTerminal int

func (fd fdTerminal) ReadPassword() ([]byte, error) { return term.ReadPassword(int(fd)) }

// stdinTerminal is stdin's terminal, or nil when stdin is not one (a pipe,
// a file, a test's reader).
func stdinTerminal(stdin io.Reader) passwordTerminal {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return fdTerminal(f.Fd())
}

// readNewPassword reads the new user's password: from tty, twice, with
// prompts on prompt; without a terminal, the first line of stdin. On a
// terminal a short password is refused before it is asked again, and two
// different entries create nothing.
func readNewPassword(stdin io.Reader, tty passwordTerminal, prompt io.Writer) (engine.Secret, error) {
	if tty == nil {
		sc := bufio.NewScanner(stdin)
		var password string
		if sc.Scan() {
			password = strings.TrimRight(sc.Text(), "\r\n")
		}
		if password == "" {
			return "", fmt.Errorf("give the password on stdin (e.g. from a password manager); it is never taken as a flag")
		}
		return engine.Secret(password), nil
	}
	ask := func(text string) ([]byte, error) {
		fmt.Fprint(prompt, text)
		p, err := tty.ReadPassword()
		fmt.Fprintln(prompt) // the Enter was not echoed
		if err != nil {
			return nil, fmt.Errorf("read the password: %w", err)
		}
		return p, nil
	}
	first, err := ask(fmt.Sprintf("Password (at least %d characters): ", engine.MinPasswordLen))
	if err != nil {
		return "", err
	}
	switch {
	case len(first) == 0:
		return "", fmt.Errorf("no password given; nothing was created")
	case len(first) < engine.MinPasswordLen:
		return "", fmt.Errorf("the password has %d characters, at least %d are needed; nothing was created", len(first), engine.MinPasswordLen)
	}
	again, err := ask("Repeat the password: ")
	if err != nil {
		return "", err
	}
	if !bytes.Equal(first, again) {
		return "", fmt.Errorf("the two passwords differ; nothing was created")
	}
	return engine.Secret(first), nil
}

func cmdUserPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return userPassword(args, stdin, stdinTerminal(stdin), stdout, stderr)
}

// userPassword sets a staff user's new password, asked for as user create
// asks (twice on a terminal, else the first line of stdin): the way back in
// when the first start's password is lost. As for user create, a held
// data file fails before the password is asked.
func userPassword(args []string, stdin io.Reader, tty passwordTerminal, stdout, stderr io.Writer) error {
	fs := newFlags("user password", "user password --email E  (password: prompted on a terminal, else one line of stdin)")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	email := fs.String("email", "", "the user's email (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" {
		return fmt.Errorf("--email is required")
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	u, err := eng.UserByEmail(*email)
	if err := errors.Join(err, db.Close()); err != nil {
		return err
	}
	if u == nil { // said before anyone types a password for nothing
		return fmt.Errorf("no staff user has the email %q (eventops user create makes one)", *email)
	}
	password, err := readNewPassword(stdin, tty, stderr)
	if err != nil {
		return err
	}
	db, eng, err = openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer db.Close()
	u, err = eng.SetPassword(context.Background(), *email, password)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "new password set for %s (user %d)\n", u.Email, u.ID)
	return nil
}
