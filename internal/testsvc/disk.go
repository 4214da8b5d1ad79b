package testsvc

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size bytes on a new directory under
// t.TempDir() and returns the directory; it is unmounted when the test
// ends. Mounting needs root (CI runs as root); without it the test is
// skipped, and fails under CI.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small-disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.FormatInt(size, 10)+",mode=0755"); err != nil {
		SkipOrFail(t, "mount a %d-byte tmpfs on %s: %v (needs root)", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// A process of the test may still hold a file open there.
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// ReadOnlyDisk mounts a read-only tmpfs under t.TempDir() (as SmallDisk)
// and returns it: even root cannot write there, unlike a directory of mode
// 0555.
func ReadOnlyDisk(t testing.TB) string {
	t.Helper()
	dir := SmallDisk(t, 64<<10)
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		SkipOrFail(t, "remount %s read-only: %v", dir, err)
	}
	return dir
}

// FillDisk fills the file system of dir (a SmallDisk) until not one more
// byte can be written anywhere on it: a filler file takes every free page,
// then every file already there is topped up with newlines to the end of
// its last page, where appending would otherwise still succeed.
func FillDisk(t testing.TB, dir string) {
	t.Helper()
	fill := func(path string, flag int) {
		f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill %s: %v", path, err)
		}
		defer f.Close()
		chunk := bytes.Repeat([]byte{'\n'}, 64<<10)
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", path, err)
				}
				return
			}
		}
	}
	fill(filepath.Join(dir, ".filler"), os.O_CREATE)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fill(p, 0)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Check: not a byte more fits.
	f, err := os.OpenFile(filepath.Join(dir, ".filler"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{'\n'}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("%s is not full: writing one more byte gave %v", dir, err)
	}
}
