// Command query-media-file is `mediabackups query` as a binary of its own, for
// operators on a bad day. Run `query-media-file --help`.
package main

import (
	"os"

	"github.com/mediabackups/mediabackups/cmd/internal/cli"
)

func main() {
	os.Exit(int(cli.MainAs("query-media-file", "query", os.Args[1:], os.Stdin, os.Stdout, os.Stderr)))
}
