package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/kredete/herald"
	"github.com/kredete/herald/auth"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
)

// bootstrapAdmin creates the first admin from HERALD_ADMIN_EMAIL and
// HERALD_ADMIN_PASSWORD when there are no users yet; later starts leave
// users alone, so changing the variables never resets a password.
func bootstrapAdmin(ctx context.Context, st *store.Store, cfg config.Config, log *slog.Logger) error {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if cfg.AdminEmail == "" {
		log.Warn("no console users yet: set HERALD_ADMIN_EMAIL and HERALD_ADMIN_PASSWORD, or run `herald user add`")
		return nil
	}
	hash, err := auth.Hash(cfg.AdminPassword.Reveal(), auth.DefaultParams)
	if err != nil {
		return err
	}
	u, err := st.CreateUser(ctx, herald.NewUser{Email: cfg.AdminEmail, Name: "Administrator", Role: herald.RoleAdmin,
		Password: cfg.AdminPassword.Reveal()}, hash, "bootstrap")
	if errors.Is(err, store.ErrUserExists) {
		// Replicas started together all saw no users; one created the
		// admin first. Nothing is left to do here.
		log.Info("another replica created the first admin", "email", cfg.AdminEmail)
		return nil
	}
	if err != nil {
		return fmt.Errorf("bootstrap admin (HERALD_ADMIN_EMAIL): %w", err)
	}
	log.Info("created the first admin", "user_id", u.ID, "email", u.Email)
	return nil
}

// userCommand is `herald user add`.
func userCommand(ctx context.Context, cfg config.Config, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: herald user add --email E --name N [--phone +27...] --role R [--password-file F]")
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stdout)
	email := fs.String("email", "", "email address (the sign-in name)")
	name := fs.String("name", "", "full name")
	phone := fs.String("phone", "", "phone in international form, for SMS")
	role := fs.String("role", "", "one of "+roleNames())
	pwFile := fs.String("password-file", "", "file holding the password (else HERALD_USER_PASSWORD)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	password := getenv("HERALD_USER_PASSWORD")
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	u := herald.NewUser{Email: *email, Name: *name, Phone: *phone, Role: herald.Role(*role), Password: password}
	if err := u.Validate(); err != nil {
		return fmt.Errorf("user add: %w (the password comes from HERALD_USER_PASSWORD or --password-file)", err)
	}
	st, err := openStore(ctx, cfg, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	hash, err := auth.Hash(password, auth.DefaultParams)
	if err != nil {
		return err
	}
	created, err := st.CreateUser(ctx, u, hash, "cli")
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	fmt.Fprintf(stdout, "herald: added %s (%s) as %s\n", created.Name, created.Email, created.Role.Label())
	return nil
}

// roleNames lists the console roles for --role's help, from herald.Roles so
// a new role cannot be missing from it.
func roleNames() string {
	names := make([]string, len(herald.Roles))
	for i, r := range herald.Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}
