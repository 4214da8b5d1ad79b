package production_test

import (
	"fmt"

	"github.com/mediabackups/mediabackups/production"
)

func ExampleParseContainer() {
	c, _ := production.ParseContainer("wikipedia-commons-local-deleted.rj")
	fmt.Println(c.WikiID, c.Repo, c.Zone, c.Shard, c.Private())
	// Output: wikipedia-commons local deleted rj true
}

func ExampleCheckPlace() {
	fmt.Println(production.CheckPlace("wikipedia-en-local-public.2e", "2/2e/Simple.png"))
	fmt.Println(production.CheckPlace("wikipedia-en-local-public.2f", "2/2e/Simple.png"))
	// Output:
	// <nil>
	// object name "2/2e/Simple.png": invalid name: MediaWiki keeps it in shard 2e, not in container wikipedia-en-local-public.2f
}
