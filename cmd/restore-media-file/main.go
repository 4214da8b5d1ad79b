// Command restore-media-file is `mediabackups restore` as a binary of its own, for
// operators on a bad day. Run `restore-media-file --help`.
package main

import (
	"os"

	"github.com/mediabackups/mediabackups/cmd/internal/cli"
)

func main() {
	os.Exit(int(cli.MainAs("restore-media-file", "restore", os.Args[1:], os.Stdin, os.Stdout, os.Stderr)))
}
