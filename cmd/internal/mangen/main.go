// Command mangen writes the man pages of the four mediabackups binaries into
// a directory, from their cobra commands; scripts/package.sh runs it for
// the Debian package. It lives under cmd/internal, and cobra/doc only here,
// so that no installed binary gains a command or the markdown renderer.
//
//	go run ./cmd/internal/mangen -version 1.2.3 DIR
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	version := flag.String("version", "unknown", "version printed in the pages' footer")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mangen [-version V] DIR\n\nWrites a man page per command of mediabackups and the recovery tools into DIR (created if missing).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "mangen: %v\n", err)
		os.Exit(1)
	}
	if err := writeManPages(dir, *version); err != nil {
		fmt.Fprintf(os.Stderr, "mangen: %v\n", err)
		os.Exit(1)
	}
}
