package cli

import (
	"reflect"
	"testing"

	"github.com/mediabackups/mediabackups/metadata"
)

// TestPlaceSample checks what restore --to-production keeps of the
// matches it shows: one version per wiki and container, one with a valid
// place when there is one, in the order first seen, however many pages.
func TestPlaceSample(t *testing.T) {
	v := func(wiki, container, path string) metadata.File {
		return metadata.File{Wiki: wiki, Container: container, Path: path}
	}
	const pub, del = "wikipedia-commons-local-public.ab", "wikipedia-commons-local-deleted.ab"
	for _, tc := range []struct {
		name  string
		pages [][]metadata.File
		want  []metadata.File
	}{
		{"none", nil, []metadata.File{}},
		{"one per container", [][]metadata.File{
			{v("a", pub, "a/ab/X.png"), v("a", pub, "a/ab/Y.png"), v("a", del, "a/b/c/k.png")},
			{v("a", pub, "a/ab/Z.png"), v("b", pub, "a/ab/X.png")},
		}, []metadata.File{v("a", pub, "a/ab/X.png"), v("a", del, "a/b/c/k.png"), v("b", pub, "a/ab/X.png")}},
		{"a valid place replaces an invalid one", [][]metadata.File{
			{v("a", pub, "../escape.png")},
			{v("a", pub, "a/ab/X.png"), v("a", pub, "../other.png")},
		}, []metadata.File{v("a", pub, "a/ab/X.png")}},
		{"an invalid place is kept when no other comes", [][]metadata.File{
			{v("a", pub, "../escape.png"), v("a", pub, "../other.png")},
		}, []metadata.File{v("a", pub, "../escape.png")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlaceSample()
			for _, page := range tc.pages {
				p.add(page)
			}
			if got := p.files(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("files() = %v, want %v", got, tc.want)
			}
		})
	}
}
