package cli

import "github.com/spf13/cobra"

// recoveryBinaries are the binaries that run one recovery command each
// through MainAs (see cmd/query-media-file and its siblings).
var recoveryBinaries = []struct{ name, command string }{
	{"query-media-file", "query"},
	{"restore-media-file", "restore"},
	{"delete-media-file", "delete"},
}

// BinaryCommands returns new command trees, built on f, of the four
// binaries as they run them: mediabackups (with the completion command that
// cobra adds when it executes) and query-media-file, restore-media-file and
// delete-media-file. cmd/internal/mangen writes the man pages from them, so
// that the pages cannot drift from the commands.
func BinaryCommands(f *Factory) ([]*cobra.Command, error) {
	root := NewRootCmd(f)
	root.InitDefaultCompletionCmd()
	cmds := []*cobra.Command{root}
	for _, b := range recoveryBinaries {
		cmd, err := recoveryBinaryCmd(f, b.name, b.command)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}
