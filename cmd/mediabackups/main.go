// Command mediabackups backs up the media files of MediaWiki wikis into
// sharded MinIO servers, with their metadata in MariaDB.
// Run `mediabackups --help` for the commands.
package main

import (
	"os"

	"github.com/mediabackups/mediabackups/cmd/internal/cli"
)

func main() {
	os.Exit(int(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)))
}
