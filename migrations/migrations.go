// Package migrations holds Herald's schema as numbered SQL files, one set per
// dialect, embedded in the binary and applied with goose.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the migrations of a dialect: "postgres" or "sqlite".
func FS(dialect string) fs.FS {
	sub, err := fs.Sub(files, dialect)
	if err != nil {
		panic(err) // the directories are embedded above; this cannot fail
	}
	return sub
}
