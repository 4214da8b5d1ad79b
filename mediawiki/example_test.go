package mediawiki_test

import (
	"fmt"

	"github.com/mediabackups/mediabackups/mediawiki"
)

func ExampleSHA1Base36ToHex() {
	// params.img_sha1 of Simple.png's upload log entry.
	hex, err := mediawiki.SHA1Base36ToHex("rjrzta2uecby71eo37q33rfc4bdtzyv")
	fmt.Println(hex, err)
	// Output: ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457 <nil>
}

func ExampleStorageKey() {
	key, err := mediawiki.StorageKey("614425acf44b09081d6744a4f60706320b2c7d57", "Deleted_photo.jpeg")
	fmt.Println(key, err)
	// Output: bd0v2ohu011uugoodcqx3a3ciu5xpp3.jpg <nil>
}

func ExampleContainers() {
	c := mediawiki.Containers{Project: "wikipedia", Lang: "commons", PublicShards: true, DeletedShards: true}
	fmt.Println(c.Public("File:Simple.png"))
	fmt.Println(c.Archived("Wow!Amazing.png", "20250102090000!Wow!Amazing.png"))
	fmt.Println(c.Deleted("rjrzta2uecby71eo37q33rfc4bdtzyv.png"))
	// Output:
	// wikipedia-commons-local-public.2e 2/2e/Simple.png
	// wikipedia-commons-local-public.9b archive/9/9b/20250102090000!Wow!Amazing.png
	// wikipedia-commons-local-deleted.rj r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png
}
