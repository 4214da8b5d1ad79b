package cli

import (
	"errors"
	"fmt"
	"strconv"
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
	b.WriteString("Search (several are ANDed; without any, and on a terminal, the command asks):\n")
	for _, m := range search.Methods {
		flag := "--" + m.Name
		if !m.NoValue {
			flag += " " + m.Placeholder
		}
		if m.WithContainer {
			flag = "--container C " + flag
		}
		fmt.Fprintf(&b, "  %-26s %s\n", flag, m.Help)
	}
	b.WriteString(`Dates are UTC, as "YYYY-MM-DD hh:mm:ss" or YYYYMMDDhhmmss.
` + search.RangeHelp + `
Ranges and --all may select a great many versions: they are read from the
database a page at a time, so memory stays flat. --all takes the wiki from
--wiki only, never from the default. delete refuses --all alone (a whole
wiki is never erased by one command); with another search flag it is
allowed, and the usual dry run, production check and confirmation apply.

Batch mode: give the output of MediaWiki's eraseArchivedFile.php as FILE. Its
"mwscript eraseArchivedFile.php --wiki=NAME" lines set the wiki; each
"Deleted version 'KEY.ext' (YYYYMMDDhhmmss) of file 'Title'" line names a
version, matched on title + upload date + sha1.`)
	return b.String()
}

// searchExamples are the recovery commands' examples of searches, for the
// Example of their --help; tool is the command's name.
func searchExamples(tool string) string {
	return fmt.Sprintf(`  %[1]s --title "File:Simple.png"
  %[1]s --wiki commonswiki --upload-between 2025-01-01..2025-02-01        # uploaded in January 2025
  %[1]s --wiki commonswiki --delete-between 2025-03-01.. --title A.png    # deleted since March
  %[1]s --wiki testwiki --all                                           # every version of testwiki
  %[1]s --wiki testwiki --all --json | jq '.matches | length'`, tool)
}

func (o *RecoveryOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.Wiki, "wiki", "", "wiki (default: the config's default_wiki, else commonswiki)")
	o.Search = make(map[string]*string, len(search.Methods))
	var inContainer []string
	for _, m := range search.Methods {
		v := new(string)
		o.Search[m.Name] = v
		if m.NoValue {
			fl.Var(switchValue{v}, m.Name, "search by "+m.Help)
			fl.Lookup(m.Name).NoOptDefVal = "true"
		} else {
			fl.StringVar(v, m.Name, "", "search by "+m.Help)
		}
		if m.WithContainer {
			inContainer = append(inContainer, "--"+m.Name)
		}
	}
	fl.StringVar(&o.Container, "container", "", "production container, with "+strings.Join(inContainer, " or "))
	fl.StringVar(&o.LogDir, "logdir", "", "directory of the session log (default: the config's logdir)")
}

// switchValue is the flag of a search method without value (--all): a
// boolean flag that sets its value to "true", or to "" (not given) for
// --all=false.
type switchValue struct{ p *string }

func (v switchValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*v.p = ""
	if b {
		*v.p = "true"
	}
	return nil
}

func (v switchValue) String() string {
	if v.p == nil || *v.p == "" {
		return "false"
	}
	return *v.p
}

func (v switchValue) Type() string { return "bool" }

// searchFlag is a search method given by flags and its values.
type searchFlag struct {
	m         search.Method
	value     string
	container string
}

// searchFlags are the search methods given by flags, ANDed.
type searchFlags []searchFlag

// methods returns the search methods given by flags (none: nil). A search
// flag with a batch file is a usage error; so is --container without a
// method that takes it (or the reverse), and --all without --wiki.
func (o *RecoveryOptions) methods() (searchFlags, error) {
	var given searchFlags
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
				return nil, withCode(ExitUsage, fmt.Errorf("--container and --%s go together: give both", m.Name))
			}
		}
		if m.NoValue && o.Wiki == "" {
			return nil, withCode(ExitUsage, fmt.Errorf("--%s needs --wiki: name the wiki (it is never taken from the default)", m.Name))
		}
	}
	switch {
	case o.Container != "" && !container:
		return nil, withCode(ExitUsage, fmt.Errorf("--container and %s go together: give both", strings.Join(takers, " or ")))
	case len(given) > 0 && o.BatchFile != "":
		return nil, withCode(ExitUsage, errors.New("batch mode (a FILE argument) takes no search flag"))
	}
	return given, nil
}

// check does every check of the options that needs neither the config
// nor a service, so that a mistake is a usage error before anything runs:
// the search flags and their values, and the batch FILE.
func (o *RecoveryOptions) check() error {
	sf, err := o.methods()
	if err != nil {
		return err
	}
	if len(sf) > 0 {
		q, err := sf.query()
		if err != nil {
			return err
		}
		if err := o.checkBreadth(q); err != nil {
			return withCode(ExitUsage, err)
		}
	}
	if o.BatchFile != "" {
		return checkBatchFile(o.BatchFile)
	}
	return nil
}

// checkBreadth refuses a delete of every version of a wiki, whatever else
// it asks (--all with no other criterion): erasing a whole wiki's backups
// is not a recovery, and one mistyped flag must not do it. Narrowed by
// another criterion, --all adds nothing and is allowed.
func (o *RecoveryOptions) checkBreadth(q metadata.Query) error {
	if o.Tool == "delete" && q.All && len(q.Criteria()) == 1 {
		return errors.New("delete refuses --all alone: a whole wiki's backups are never erased by one command; " +
			"narrow it with another search flag (e.g. --delete-between FROM..TO, --title T)")
	}
	return nil
}

// query checks the flags' values and returns the query of all of them
// (WikiID left to the caller); a bad value is a usage error that names the
// flag at fault, and so are two flags for one criterion (--sha1 and
// --sha1-base36).
func (sf searchFlags) query() (q metadata.Query, err error) {
	for _, s := range sf {
		if s.m.WithContainer {
			if _, err := search.ParseContainer(s.container); err != nil {
				return q, withCode(ExitUsage, fmt.Errorf("--container: %w", err))
			}
		}
		if err := s.m.Add(&q, s.value, s.container); err != nil {
			return q, withCode(ExitUsage, fmt.Errorf("--%s: %w", s.m.Name, err))
		}
	}
	return q, nil
}
