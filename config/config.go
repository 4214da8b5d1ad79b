// Package config loads and validates the mediabackups YAML configuration.
//
// The shape of the file is a contract with operators: keys are only ever
// added, never renamed. Secrets are never stored in the file itself, only the
// paths of files that hold them; those files must not be world-readable.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"gopkg.in/yaml.v3"

	"github.com/mediabackups/mediabackups/sharding"
)

// DefaultPath is used when neither --config nor MEDIABACKUPS_CONFIG is given.
const DefaultPath = "/etc/mediabackups/mediabackups.yaml"

// EnvPath names the environment variable that overrides DefaultPath.
const EnvPath = "MEDIABACKUPS_CONFIG"

// Wiki types. Every type other than Public is encrypted at rest.
const (
	TypePublic  = "public"
	TypePrivate = "private"
	TypeClosed  = "closed"
	TypeDeleted = "deleted"
)

// Config is the whole configuration file.
type Config struct {
	Datacenter  string     `yaml:"datacenter"`
	Metadata    Metadata   `yaml:"metadata"`
	Storage     Storage    `yaml:"storage"`
	Encryption  Encryption `yaml:"encryption"`
	TmpDir      string     `yaml:"tmpdir"`
	LogDir      string     `yaml:"logdir"`
	UserAgent   string     `yaml:"user_agent"`
	DefaultWiki string     `yaml:"default_wiki"`
	Wikis       []Wiki     `yaml:"wikis"`

	// path is where the file was read from; relative paths in it are
	// resolved against its directory.
	path string
}

// Metadata configures the MariaDB connection.
type Metadata struct {
	// DSN in go-sql-driver/mysql form: user:pass@tcp(host:port)/db.
	DSN string `yaml:"dsn"`
	// PasswordFile, when set, replaces the DSN's password with the file's content.
	PasswordFile string `yaml:"password_file"`
}

// Storage configures the MinIO servers.
type Storage struct {
	Bucket string `yaml:"bucket"`
	// Endpoints in shard order: changing the order or the count changes
	// where new objects go (existing ones stay where the metadata says,
	// until `mediabackups rebalance` moves them). Each may carry a state.
	Endpoints  []Endpoint `yaml:"endpoints"`
	Generation Credential `yaml:"generation"`
	Recovery   Credential `yaml:"recovery"`
}

// Endpoint is one MinIO server of storage.endpoints and the state the
// operator gives it. In the file it is either the URL alone, which means
// active, or a mapping with the URL and a state (active, readonly or down;
// see sharding.State):
//
//	endpoints:
//	  - http://backup1004:9000
//	  - {url: http://backup1005:9000, state: readonly}
//
// Validate checks both; an active endpoint is written back as a plain URL.
type Endpoint struct {
	URL string
	// State as written in the file; empty means active. Use
	// Endpoint.Mode for the parsed value.
	State sharding.State
}

// Mode returns the endpoint's state, Active when none is given. Call it on
// a validated config: it returns "" for a state Validate refuses.
func (e Endpoint) Mode() sharding.State {
	st, err := sharding.ParseState(string(e.State))
	if err != nil {
		return ""
	}
	return st
}

// endpointFields are the keys of an endpoint written as a mapping.
type endpointFields struct {
	URL   string `yaml:"url"`
	State string `yaml:"state,omitempty"`
}

// UnmarshalYAML reads a plain URL or a {url, state} mapping. Unknown keys
// are refused, as everywhere in the file; the values themselves are
// checked by Validate.
func (e *Endpoint) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var u string
		if err := n.Decode(&u); err != nil {
			return err
		}
		*e = Endpoint{URL: u}
		return nil
	case yaml.MappingNode:
		// A custom unmarshaler does not inherit KnownFields: check the keys here.
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "url" && k != "state" {
				return fmt.Errorf("line %d: storage.endpoints: unknown key %q (an endpoint is a URL, or {url: URL, state: %s})",
					n.Content[i].Line, k, strings.Join(sharding.StateNames(), "|"))
			}
		}
		var f endpointFields
		if err := n.Decode(&f); err != nil {
			return err
		}
		if f.URL == "" {
			return fmt.Errorf("line %d: storage.endpoints: an endpoint written as a mapping needs url", n.Line)
		}
		*e = Endpoint{URL: f.URL, State: sharding.State(f.State)}
		return nil
	}
	return fmt.Errorf("line %d: storage.endpoints: an endpoint is a URL, or {url: URL, state: %s}", n.Line, strings.Join(sharding.StateNames(), "|"))
}

// MarshalYAML writes an active endpoint as its URL alone, and any other
// as a {url, state} mapping.
func (e Endpoint) MarshalYAML() (any, error) {
	if e.State == "" || e.State == sharding.Active {
		return e.URL, nil
	}
	return endpointFields{URL: e.URL, State: string(e.State)}, nil
}

// URLs returns the URLs of the endpoints, in shard order.
func (s Storage) URLs() []string {
	out := make([]string, len(s.Endpoints))
	for i, e := range s.Endpoints {
		out[i] = e.URL
	}
	return out
}

// ActiveEndpoints turns plain URLs into active endpoints, in order: what
// tools that write configs use.
func ActiveEndpoints(urls ...string) []Endpoint {
	out := make([]Endpoint, len(urls))
	for i, u := range urls {
		out[i] = Endpoint{URL: u}
	}
	return out
}

// Credential is an S3 access key and the file that holds its secret.
type Credential struct {
	AccessKey     string `yaml:"access_key"`
	SecretKeyFile string `yaml:"secret_key_file"`
}

// Encryption configures age encryption of non-public wikis.
type Encryption struct {
	IdentityFile string   `yaml:"identity_file"`
	Recipients   []string `yaml:"recipients"`
}

// Wiki is one wiki to back up.
type Wiki struct {
	Name string `yaml:"name"`
	API  string `yaml:"api"`
	Type string `yaml:"type"`
	// User logs in to api.php: a bot password "Name@app" or a main account.
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	// WebUser is a main account used for img_auth.php and Special:Undelete,
	// which MediaWiki refuses to bot-password sessions. Defaults to User
	// when User is a main account.
	WebUser         string `yaml:"web_user"`
	WebPasswordFile string `yaml:"web_password_file"`
	// Project and Lang name the production Swift containers
	// (<project>-<lang>-local-public). Defaults: "wikipedia" and the wiki
	// name without its "wiki" suffix.
	Project string `yaml:"project"`
	Lang    string `yaml:"lang"`
	// PublicShards and DeletedShards: the production containers are
	// sharded (.00-.ff by md5 of the title; .00-.zz by storage key).
	PublicShards  bool `yaml:"public_shards"`
	DeletedShards bool `yaml:"deleted_shards"`
	// Pause between API requests, MaxLag sent with each (default 5).
	Pause  time.Duration `yaml:"pause"`
	MaxLag int           `yaml:"maxlag"`
	// Production is where MediaWiki keeps the wiki's originals, for the
	// tools that check and restore them there. Optional.
	Production *Production `yaml:"production,omitempty"`
}

// Kinds of production store (Production.Type).
const (
	ProductionSwift      = "swift"
	ProductionFilesystem = "filesystem"
)

// ProductionTypes lists every kind of production store, in the order the
// documentation gives them.
var ProductionTypes = []string{ProductionSwift, ProductionFilesystem}

// Production is where MediaWiki keeps a wiki's originals, and the
// credentials mediabackups uses there: its own, separate from the wiki API
// login. The container names come from the wiki's project, lang,
// public_shards and deleted_shards.
type Production struct {
	// Type is ProductionSwift or ProductionFilesystem.
	Type string `yaml:"type"`

	// Swift: the auth URL (e.g. http://swift:8080/auth/v1.0), the user
	// ("account:user" for tempauth) and the file holding its key.
	AuthURL string `yaml:"auth_url,omitempty"`
	User    string `yaml:"user,omitempty"`
	KeyFile string `yaml:"key_file,omitempty"`
	// ACL is what a container that mediabackups must create gets: the ACLs
	// MediaWiki gives it. Without it no container is created.
	ACL *SwiftACL `yaml:"acl,omitempty"`

	// Filesystem: Root is $wgUploadDirectory (current and archived
	// versions), DeletedRoot $wgDeletedDirectory (default Root/deleted).
	// Both absolute.
	Root        string `yaml:"root,omitempty"`
	DeletedRoot string `yaml:"deleted_root,omitempty"`
	// FileMode is the mode of the files written, in octal
	// (FSFileBackend's fileMode; default "0644").
	FileMode string `yaml:"file_mode,omitempty"`
}

// SwiftACL holds the X-Container-Read and X-Container-Write ACLs that
// MediaWiki's SwiftFileBackend gives a new container: the public ones for
// the public, thumb and transcoded zones, the private ones for deleted and
// temp. On a private wiki every container is private: give the private
// ACLs as the public ones too. `swift stat <container>` shows them.
type SwiftACL struct {
	PublicRead   string `yaml:"public_read"`
	PublicWrite  string `yaml:"public_write"`
	PrivateRead  string `yaml:"private_read"`
	PrivateWrite string `yaml:"private_write"`
}

// DefaultFileMode is Production.FileMode's default, FSFileBackend's.
const DefaultFileMode fs.FileMode = 0o644

// Mode returns FileMode as a mode (DefaultFileMode when empty). Validate has
// checked it.
func (p Production) Mode() fs.FileMode {
	m, err := parseFileMode(p.FileMode)
	if err != nil {
		return DefaultFileMode
	}
	return m
}

func parseFileMode(s string) (fs.FileMode, error) {
	if s == "" {
		return DefaultFileMode, nil
	}
	if len(s) < 3 || len(s) > 4 || len(s) == 4 && s[0] != '0' {
		return 0, fmt.Errorf("file_mode %q is not an octal mode such as \"0644\"", s)
	}
	var m fs.FileMode
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, fmt.Errorf("file_mode %q is not an octal mode such as \"0644\"", s)
		}
		m = m*8 + fs.FileMode(c-'0')
	}
	if m&0o400 == 0 {
		return 0, fmt.Errorf("file_mode %q does not let the owner read the files", s)
	}
	return m, nil
}

// validate reports mistakes in the production block of a wiki described by
// where.
func (p *Production) validate(where string, w Wiki) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": production: "+format, a...)) }
	for _, kv := range []struct{ key, val string }{{"auth_url", p.AuthURL}, {"user", p.User}, {"key_file", p.KeyFile},
		{"root", p.Root}, {"deleted_root", p.DeletedRoot}, {"file_mode", p.FileMode}} {
		if strings.ContainsAny(kv.val, "\x00\r\n") {
			bad("%s holds a control character", kv.key)
		}
	}
	swiftKeys := p.AuthURL != "" || p.User != "" || p.KeyFile != "" || p.ACL != nil
	fsKeys := p.Root != "" || p.DeletedRoot != "" || p.FileMode != ""
	switch p.Type {
	case ProductionSwift:
		if fsKeys {
			bad("root, deleted_root and file_mode are for type filesystem, not swift")
		}
		if p.AuthURL == "" || p.User == "" || p.KeyFile == "" {
			bad("type swift needs auth_url, user and key_file (a file that holds the key, not world-readable)")
		}
		if p.AuthURL != "" {
			if u, err := url.Parse(p.AuthURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("auth_url %q is not an http:// or https:// URL (e.g. http://swift.example:8080/auth/v1.0)", p.AuthURL)
			}
		}
		if p.ACL != nil {
			a := p.ACL
			if a.PublicRead == "" || a.PublicWrite == "" || a.PrivateRead == "" || a.PrivateWrite == "" {
				bad("acl needs public_read, public_write, private_read and private_write (copy them from `swift stat` of an existing public and deleted container)")
			}
			for _, v := range []string{a.PublicRead, a.PublicWrite, a.PrivateRead, a.PrivateWrite} {
				if strings.ContainsAny(v, "\x00\r\n") {
					bad("acl holds a control character")
					break
				}
			}
		}
	case ProductionFilesystem:
		if swiftKeys {
			bad("auth_url, user, key_file and acl are for type swift, not filesystem")
		}
		if p.Root == "" {
			bad("type filesystem needs root, the wiki's $wgUploadDirectory")
		} else if !filepath.IsAbs(p.Root) {
			bad("root %q must be an absolute path", p.Root)
		}
		if p.DeletedRoot != "" && !filepath.IsAbs(p.DeletedRoot) {
			bad("deleted_root %q must be an absolute path", p.DeletedRoot)
		}
		if _, err := parseFileMode(p.FileMode); err != nil {
			bad("%v", err)
		}
		if w.PublicShards || w.DeletedShards {
			bad("files on disk are not sharded: set public_shards and deleted_shards to false")
		}
	default:
		bad("type %q is not one of %s", p.Type, strings.Join(ProductionTypes, ", "))
	}
	return errs
}

// DeletedDir returns DeletedRoot, or Root/deleted when it is not set
// (MediaWiki's default $wgDeletedDirectory).
func (p Production) DeletedDir() string {
	if p.DeletedRoot != "" {
		return p.DeletedRoot
	}
	if p.Root == "" {
		return ""
	}
	return filepath.Join(p.Root, "deleted")
}

// Encrypted reports whether the wiki's files are encrypted at rest.
func (w Wiki) Encrypted() bool { return w.Type != TypePublic }

// ContainerProject returns the project and language of the wiki's
// production containers, with defaults applied.
func (w Wiki) ContainerProject() (project, lang string) {
	project, lang = w.Project, w.Lang
	if project == "" {
		project = "wikipedia"
	}
	if lang == "" {
		lang = strings.TrimSuffix(w.Name, "wiki")
		if lang == "" {
			lang = w.Name
		}
	}
	return project, lang
}

// Path resolves the config file path from a flag value and the environment.
func Path(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv(EnvPath); p != "" {
		return p
	}
	return DefaultPath
}

// Load reads, defaults and validates the configuration at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read config: %w (pass --config FILE or set %s)", err, EnvPath)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.path = path
	if err := c.checkInlineSecrets(path); err != nil {
		return nil, err
	}
	return c, nil
}

// checkInlineSecrets refuses a config file that everyone may read when it
// holds a secret itself: a password in metadata.dsn.
func (c *Config) checkInlineSecrets(path string) error {
	dsn, err := mysql.ParseDSN(c.Metadata.DSN)
	if err != nil || dsn.Passwd == "" {
		return nil // Validate reports a bad DSN; no inline password is fine
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return fmt.Errorf("config %s: metadata.dsn holds a password and the file is readable by everyone (mode %v): "+
			"run `chmod 600 %s`, or move the password to a file named by metadata.password_file", path, fi.Mode().Perm(), path)
	}
	return nil
}

// Parse decodes and validates a configuration document. Unknown keys are
// errors, so a typo does not silently fall back to a default.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
	if c.Storage.Bucket == "" {
		c.Storage.Bucket = "mediabackups"
	}
	if c.TmpDir == "" {
		c.TmpDir = os.TempDir()
	}
	if c.LogDir == "" {
		c.LogDir = "/var/log/mediabackups"
	}
	if c.UserAgent == "" {
		c.UserAgent = "mediabackups/1.0 (https://github.com/mediabackups/mediabackups; set user_agent in the config to add your contact)"
	}
	if c.DefaultWiki == "" {
		c.DefaultWiki = "commonswiki"
	}
	for i := range c.Wikis {
		if c.Wikis[i].MaxLag == 0 {
			c.Wikis[i].MaxLag = 5
		}
	}
}

// Marshal renders c as a configuration document that Parse reads back to
// the same values. Tools that write configs (the demo, the benchmark, the
// tests) build a Config and call it, so that they cannot drift from the
// shape Parse accepts.
func (c *Config) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return b, nil
}

// Validate checks the configuration for mistakes an operator can fix,
// and says how.
func (c *Config) Validate() error {
	var errs []error
	if c.Metadata.DSN == "" {
		errs = append(errs, errors.New("metadata.dsn is empty"))
	}
	if len(c.Storage.Endpoints) == 0 {
		errs = append(errs, errors.New("storage.endpoints is empty: list the MinIO servers in shard order"))
	}
	seen := map[string]bool{}
	for _, ep := range c.Storage.Endpoints {
		e := ep.URL
		u, err := checkURL(e, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("storage.endpoints: %w", err))
			continue
		}
		if seen[u] {
			errs = append(errs, fmt.Errorf("storage.endpoints: %q is listed twice", e))
		}
		seen[u] = true
		if _, err := sharding.ParseState(string(ep.State)); err != nil {
			errs = append(errs, fmt.Errorf("storage.endpoints: %s: state: %w", e, err))
		}
	}
	names := map[string]bool{}
	for i, w := range c.Wikis {
		where := fmt.Sprintf("wikis[%d]", i)
		if w.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is empty", where))
			continue
		}
		where = fmt.Sprintf("wiki %s", w.Name)
		if strings.ContainsAny(w.Name, "/ \t\n") {
			errs = append(errs, fmt.Errorf("%s: name must not contain '/' or white space", where))
		}
		if names[w.Name] {
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
		}
		names[w.Name] = true
		if w.API == "" {
			errs = append(errs, fmt.Errorf("%s: api is empty (the wiki's api.php URL)", where))
		} else if _, err := checkURL(w.API, true); err != nil {
			errs = append(errs, fmt.Errorf("%s: api: %w", where, err))
		}
		switch w.Type {
		case TypePublic, TypePrivate, TypeClosed, TypeDeleted:
		default:
			errs = append(errs, fmt.Errorf("%s: type %q is not one of public, private, closed, deleted", where, w.Type))
		}
		if (w.User == "") != (w.PasswordFile == "") {
			errs = append(errs, fmt.Errorf("%s: user and password_file go together", where))
		}
		if (w.WebUser == "") != (w.WebPasswordFile == "") {
			errs = append(errs, fmt.Errorf("%s: web_user and web_password_file go together", where))
		}
		if w.Production != nil {
			errs = append(errs, w.Production.validate(where, w)...)
		}
	}
	return errors.Join(errs...)
}

// checkURL checks an http or https URL of the config and returns it
// normalised (scheme and host in lower case, no trailing slash) for
// comparisons. The host must be there and a port, if given, must be a
// number from 1 to 65535. Only withPath allows a path (api.php); a query,
// a fragment or user information is always refused.
func checkURL(s string, withPath bool) (string, error) {
	hint := func(msg string) error {
		if withPath {
			return fmt.Errorf("%q: %s: write the full URL of api.php, e.g. https://host/w/api.php", s, msg)
		}
		return fmt.Errorf("%q: %s: write it as http://host:port or https://host:port", s, msg)
	}
	if s != strings.TrimSpace(s) {
		return "", hint("white space around the URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", hint(err.Error())
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", hint("it must start with http:// or https://")
	case u.Opaque != "" || u.Hostname() == "":
		return "", hint("no host")
	case u.User != nil:
		return "", hint("credentials do not belong in the URL (use the secret files)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", hint("a query or fragment is not allowed")
	case !withPath && u.Path != "" && u.Path != "/":
		return "", hint(fmt.Sprintf("a path (%s) is not allowed", u.Path))
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", hint(fmt.Sprintf("port %q is not a number from 1 to 65535", p))
		}
	}
	norm := scheme + "://" + strings.ToLower(u.Host)
	if withPath {
		norm += u.Path
	}
	return norm, nil
}

// Wiki returns the configured wiki called name.
func (c *Config) Wiki(name string) (Wiki, error) {
	for _, w := range c.Wikis {
		if w.Name == name {
			return w, nil
		}
	}
	var known []string
	for _, w := range c.Wikis {
		known = append(known, w.Name)
	}
	return Wiki{}, fmt.Errorf("wiki %q is not in the config (configured: %s)", name, strings.Join(known, ", "))
}

// Resolve makes a path from the config file relative to the file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

// ReadSecret reads a secret from a file that only its owner may read.
// A world-readable file is refused with a message that says how to fix it.
// Surrounding white space (a trailing newline) is removed.
func ReadSecret(path string) (Secret, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Secret{}, fmt.Errorf("read secret: %w", err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return Secret{}, fmt.Errorf("secret file %s is readable by everyone (mode %v): run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("read secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return Secret{}, fmt.Errorf("secret file %s is empty", path)
	}
	return Secret{s: s}, nil
}

// Secret holds a password or key. It prints as **redacted** so that it never
// ends up in a log or an error message by accident.
type Secret struct{ s string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{s: s} }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return s.s }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s.s == "" {
		return ""
	}
	return "**redacted**"
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }
