package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/search"
)

// RecoveryOptions are the search and session options the three recovery
// commands share.
type RecoveryOptions struct {
	F *Factory
	// Tool is "query", "restore" or "delete".
	Tool string

	Wiki string
	// Search holds the value of each search method's flag (--title,
	// --sha1, ...), by method name; see search.Methods.
	Search map[string]*string
	// Container goes with the methods that search inside a production
	// container (--path).
	Container string
	// BatchFile is an eraseArchivedFile.php log (batch mode).
	BatchFile string
	LogDir    string
	Yes       bool
	// Prompter asks questions in interactive mode; nil: promptui on the
	// terminal.
	Prompter Prompter
}

// logNames are the session log file of each tool, in the log directory.
var logNames = map[string]string{"query": "query.log", "restore": "recovery.log", "delete": "deletion.log"}

// searchHelp is the part of the recovery commands' --help that lists the
// search methods and the batch mode.
func searchHelp() string {
	var b strings.Builder
	b.WriteString("Search (one of; without any, and on a terminal, the command asks):\n")
	for _, m := range search.Methods {
		flag := "--" + m.Name + " " + m.Placeholder
		if m.WithContainer {
			flag = "--container C " + flag
		}
		fmt.Fprintf(&b, "  %-26s %s\n", flag, m.Help)
	}
	b.WriteString(`Dates are UTC, as "YYYY-MM-DD hh:mm:ss" or YYYYMMDDhhmmss.

Batch mode: give the output of MediaWiki's eraseArchivedFile.php as FILE. Its
"mwscript eraseArchivedFile.php --wiki=NAME" lines set the wiki; each
"Deleted version 'KEY.ext' (YYYYMMDDhhmmss) of file 'Title'" line names a
version, matched on title + upload date + sha1.`)
	return b.String()
}

func (o *RecoveryOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.Wiki, "wiki", "", "wiki (default: the config's default_wiki, else commonswiki)")
	o.Search = make(map[string]*string, len(search.Methods))
	var inContainer []string
	for _, m := range search.Methods {
		v := new(string)
		o.Search[m.Name] = v
		fl.StringVar(v, m.Name, "", "search by "+m.Help)
		if m.WithContainer {
			inContainer = append(inContainer, "--"+m.Name)
		}
	}
	fl.StringVar(&o.Container, "container", "", "production container, with "+strings.Join(inContainer, " or "))
	fl.StringVar(&o.LogDir, "logdir", "", "directory of the session log (default: the config's logdir)")
}

// searchFlag is the search method given by flags and its values.
type searchFlag struct {
	m         search.Method
	value     string
	container string
}

// method returns the search method given by flags, and false when none
// was given. Giving two, or a search flag with a batch file, is a usage
// error; so is --container without a method that takes it, or the reverse.
func (o *RecoveryOptions) method() (searchFlag, bool, error) {
	var given []searchFlag
	container := false
	var takers []string // the flags that take --container
	for _, m := range search.Methods {
		if m.WithContainer {
			takers = append(takers, "--"+m.Name)
		}
		v := o.Search[m.Name]
		if v == nil || *v == "" {
			continue
		}
		given = append(given, searchFlag{m, *v, o.Container})
		if m.WithContainer {
			container = true
			if o.Container == "" {
				return searchFlag{}, false, withCode(ExitUsage, fmt.Errorf("--container and --%s go together: give both", m.Name))
			}
		}
	}
	switch {
	case o.Container != "" && !container:
		return searchFlag{}, false, withCode(ExitUsage, fmt.Errorf("--container and %s go together: give both", strings.Join(takers, " or ")))
	case len(given) > 1:
		return searchFlag{}, false, withCode(ExitUsage, fmt.Errorf("give one search method, not %d (--%s and --%s)", len(given), given[0].m.Name, given[1].m.Name))
	case len(given) == 1 && o.BatchFile != "":
		return searchFlag{}, false, withCode(ExitUsage, errors.New("batch mode (a FILE argument) takes no search flag"))
	case len(given) == 0:
		return searchFlag{}, false, nil
	}
	return given[0], true, nil
}

// check does every check of the options that needs neither the config
// nor a service, so that a mistake is a usage error before anything runs:
// the search flags and their values, and the batch FILE.
func (o *RecoveryOptions) check() error {
	sf, given, err := o.method()
	if err != nil {
		return err
	}
	if given {
		if _, err := sf.query(); err != nil {
			return err
		}
	}
	if o.BatchFile != "" {
		return checkBatchFile(o.BatchFile)
	}
	return nil
}

// query checks the flag's value and returns its query (WikiID left to the
// caller); a bad value is a usage error that names the flag at fault.
func (s searchFlag) query() (q metadata.Query, err error) {
	if s.m.WithContainer {
		if _, err := search.ParseContainer(s.container); err != nil {
			return q, withCode(ExitUsage, fmt.Errorf("--container: %w", err))
		}
	}
	if q, err = s.m.Query(s.value, s.container); err != nil {
		return q, withCode(ExitUsage, fmt.Errorf("--%s: %w", s.m.Name, err))
	}
	return q, nil
}
