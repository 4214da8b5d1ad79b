package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// TestExampleConfig checks that the example configuration the package
// installs is the README's (below its header comment) and that mediabackups
// reads it.
func TestExampleConfig(t *testing.T) {
	root := testsvc.RepoRoot(t)
	example, err := os.ReadFile(filepath.Join(root, "packaging", "mediabackups.yaml.example"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The README's first yaml block after "### Configuration".
	_, section, ok := strings.Cut(string(readme), "\n### Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "### Configuration" section`)
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatal("README.md's Configuration section has no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")

	var body []string
	for _, line := range strings.SplitAfter(string(example), "\n") {
		if len(body) == 0 && strings.HasPrefix(line, "#") {
			continue // the header comment
		}
		body = append(body, line)
	}
	if got := strings.Join(body, ""); got != block {
		t.Errorf("packaging/mediabackups.yaml.example differs from the README's example; make them the same:\n--- example\n%s\n--- README\n%s", got, block)
	}
	if _, err := config.Parse(example); err != nil {
		t.Errorf("the example configuration does not parse: %v", err)
	}
	if strings.Contains(strings.ToLower(string(example)), "secret_key:") {
		t.Error("the example holds a secret key itself; it must name a secret_key_file")
	}
}
