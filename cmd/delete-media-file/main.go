// Command delete-media-file is `mediabackups delete` as a binary of its own, for
// operators on a bad day. Run `delete-media-file --help`.
package main

import (
	"os"

	"github.com/mediabackups/mediabackups/cmd/internal/cli"
)

func main() {
	os.Exit(int(cli.MainAs("delete-media-file", "delete", os.Args[1:], os.Stdin, os.Stdout, os.Stderr)))
}
