package production

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Zones are MediaWiki's file repository zones, the last part of a
// container's name. Old versions live in the public zone, under archive/.
var Zones = []string{"public", "thumb", "temp", "transcoded", "deleted"}

// ContainerName is a MediaWiki container name taken apart:
// "<WikiID>-<Repo>-<Zone>[.<Shard>]", e.g. "wikipedia-commons-local-public.2e".
type ContainerName struct {
	WikiID string // "<project>-<lang>", e.g. "wikipedia-commons"
	Repo   string // "local"
	Zone   string // one of Zones
	Shard  string // "2e", "rj"; "" when the zone is not sharded
}

func (c ContainerName) String() string {
	s := c.WikiID + "-" + c.Repo + "-" + c.Zone
	if c.Shard != "" {
		s += "." + c.Shard
	}
	return s
}

// Private reports whether MediaWiki makes the zone's containers private: the
// deleted and temp zones (and every zone of a private wiki, which the name
// does not tell).
func (c ContainerName) Private() bool { return c.Zone == "deleted" || c.Zone == "temp" }

// containerRe is FileBackendStore::isValidContainerName.
var containerRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,199}$`)

// shardRe is a shard suffix: one or two base-36 digits.
var shardRe = regexp.MustCompile(`^[0-9a-z]{1,2}$`)

// CheckContainer checks a container name as MediaWiki does
// (FileBackendStore::isValidContainerName): 1 to 200 of [A-Za-z0-9_.-],
// starting with a letter or digit. The error wraps ErrInvalidName.
func CheckContainer(name string) error {
	if !containerRe.MatchString(name) {
		return fmt.Errorf("container %q: %w: want 1 to 200 of [A-Za-z0-9_.-], starting with a letter or digit", name, ErrInvalidName)
	}
	return nil
}

// ParseContainer takes a MediaWiki container name apart. The error wraps
// ErrInvalidName when name is not "<wiki ID>-<repo>-<zone>[.<shard>]" with
// a zone from Zones.
func ParseContainer(name string) (ContainerName, error) {
	if err := CheckContainer(name); err != nil {
		return ContainerName{}, err
	}
	var c ContainerName
	rest := name
	if i := strings.LastIndexByte(rest, '.'); i >= 0 && shardRe.MatchString(rest[i+1:]) {
		rest, c.Shard = rest[:i], rest[i+1:]
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return ContainerName{}, notMediaWiki(name)
	}
	rest, c.Zone = rest[:i], rest[i+1:]
	i = strings.LastIndexByte(rest, '-')
	if i <= 0 || i == len(rest)-1 {
		return ContainerName{}, notMediaWiki(name)
	}
	c.WikiID, c.Repo = rest[:i], rest[i+1:]
	for _, z := range Zones {
		if c.Zone == z {
			return c, nil
		}
	}
	return ContainerName{}, notMediaWiki(name)
}

func notMediaWiki(name string) error {
	return fmt.Errorf("container %q: %w: not a MediaWiki container <wiki ID>-<repo>-<zone>[.<shard>] with zone %s",
		name, ErrInvalidName, strings.Join(Zones, ", "))
}

// MaxNameLen is the longest object name, in bytes (Swift's
// max_object_name_length); MaxComponentLen the longest part between
// slashes (NAME_MAX of Linux file systems; MediaWiki's FSFileBackend allows
// no more either).
const (
	MaxNameLen      = 1024
	MaxComponentLen = 255
)

// CheckName checks an object name: 1 to MaxNameLen bytes of UTF-8 without
// control characters, parts between slashes of 1 to MaxComponentLen bytes,
// none of them "." or "..". MediaWiki never makes another name, and on disk
// such a name could leave its directory. The error wraps ErrInvalidName.
func CheckName(name string) error {
	bad := func(why string) error { return fmt.Errorf("object name %q: %w: %s", name, ErrInvalidName, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxNameLen))
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return bad("control character")
		}
	}
	for _, part := range strings.Split(name, "/") {
		switch {
		case part == "":
			return bad("empty part between slashes (a leading, trailing or double /)")
		case part == "." || part == "..":
			return bad(`"." or ".." part`)
		case len(part) > MaxComponentLen:
			return bad(fmt.Sprintf("a part longer than %d bytes", MaxComponentLen))
		}
	}
	return nil
}

// CheckPlace checks that name may be written into container: a valid name
// in a MediaWiki container (ParseContainer), and, when the container is a
// shard, the shard MediaWiki would put that name in
// (FileBackendStore::getContainerShard with Wikimedia's settings: base 16
// and "a/ab" directories for every zone but deleted, base 36 and "a/b/c"
// directories for deleted). A version written to another shard would be
// invisible to MediaWiki. The error wraps ErrInvalidName.
func CheckPlace(container, name string) error {
	c, err := ParseContainer(container)
	if err != nil {
		return err
	}
	if err := CheckName(name); err != nil {
		return err
	}
	if c.Shard == "" {
		return nil
	}
	if got, ok := Shard(c.Zone, len(c.Shard), name); !ok || got != c.Shard {
		if !ok {
			got = "none"
		}
		return fmt.Errorf("object name %q: %w: MediaWiki keeps it in shard %s, not in container %s", name, ErrInvalidName, got, container)
	}
	return nil
}

// Shard returns the shard of a zone sharded into levels (1 or 2) hash
// levels that MediaWiki puts the object name in, as
// FileBackendStore::getContainerShard computes it with Wikimedia's
// settings ('levels' => levels, 'base' => 36 and 'repeat' => 0 for
// deleted; 'base' => 16 and 'repeat' => 1 for the other zones). ok is false
// when the name has no such hash directories.
func Shard(zone string, levels int, name string) (shard string, ok bool) {
	if levels != 1 && levels != 2 {
		return "", false
	}
	digit := func(b byte) bool { return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' }
	if zone == "deleted" {
		digit = func(b byte) bool { return '0' <= b && b <= '9' || 'a' <= b && b <= 'z' }
	}
	hashDir := func(s string, n int) bool {
		if len(s) != n {
			return false
		}
		for i := 0; i < n; i++ {
			if !digit(s[i]) {
				return false
			}
		}
		return true
	}
	// PHP's regex, on bytes: "!^(?:[^/]{2,}/)*$hashDirRegex(?:/|$)!". Parts
	// of 2+ bytes may come first ("archive/"); the first shorter part must
	// start the hash directories.
	parts := strings.Split(name, "/")
	i := 0
	for i < len(parts) && len(parts[i]) >= 2 {
		i++
	}
	switch {
	case i == len(parts) || !hashDir(parts[i], 1):
		return "", false
	case levels == 1:
		return parts[i], true
	case i+1 == len(parts):
		return "", false
	case zone == "deleted" && hashDir(parts[i+1], 1): // "a/b/…": repeat 0
		return parts[i] + parts[i+1], true
	case zone != "deleted" && hashDir(parts[i+1], 2): // "a/ab/…": repeat 1
		return parts[i+1], true
	}
	return "", false
}
