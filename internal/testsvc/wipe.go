package testsvc

import (
	"os"
	"path/filepath"
)

// Wipe stops the server, deletes everything in its data directory, as a
// lost disk replaced by an empty one, and starts it again: it answers, with
// no bucket and no object.
func (o *OwnMinIO) Wipe() {
	o.t.Helper()
	o.Stop()
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		o.t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(o.dir, e.Name())); err != nil {
			o.t.Fatal(err)
		}
	}
	o.Start()
}
