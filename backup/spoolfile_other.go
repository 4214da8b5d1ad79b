//go:build !linux

package backup

import "os"

// openUnnamed: only Linux has O_TMPFILE; elsewhere spool files are
// unlinked at once instead (see createSpoolFile).
func openUnnamed(string) (*os.File, error) { return nil, errUnnamedUnsupported }
