package config

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

// withProduction is minimal with a production block (YAML lines, indented
// for the list item) added to the wiki testwiki.
func withProduction(block string) string {
	return minimal + "  - name: prodwiki\n    api: http://127.0.0.1:8292/api.php\n    type: public\n" + block
}

const swiftBlock = `    production:
      type: swift
      auth_url: http://127.0.0.1:8290/auth/v1.0
      user: mediabackups:restore
      key_file: /etc/mediabackups/swift-key
`

const fsBlock = `    production:
      type: filesystem
      root: /srv/mediawiki/images
`

func TestParseProduction(t *testing.T) {
	c, err := Parse([]byte(withProduction(swiftBlock)))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := c.Wiki("prodwiki")
	want := &Production{Type: "swift", AuthURL: "http://127.0.0.1:8290/auth/v1.0", User: "mediabackups:restore", KeyFile: "/etc/mediabackups/swift-key"}
	if !reflect.DeepEqual(w.Production, want) {
		t.Errorf("production = %+v, want %+v", w.Production, want)
	}
	if other, _ := c.Wiki("testwiki"); other.Production != nil {
		t.Errorf("a wiki without a production block got %+v", other.Production)
	}

	c, err = Parse([]byte(withProduction(fsBlock)))
	if err != nil {
		t.Fatal(err)
	}
	w, _ = c.Wiki("prodwiki")
	p := w.Production
	if p.DeletedDir() != "/srv/mediawiki/images/deleted" || p.Mode() != 0o644 {
		t.Errorf("filesystem defaults: deleted dir %q, mode %v; want /srv/mediawiki/images/deleted and 0644", p.DeletedDir(), p.Mode())
	}
	c, err = Parse([]byte(withProduction(fsBlock + "      deleted_root: /srv/deleted\n      file_mode: \"0640\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	w, _ = c.Wiki("prodwiki")
	if p := w.Production; p.DeletedDir() != "/srv/deleted" || p.Mode() != fs.FileMode(0o640) {
		t.Errorf("deleted dir %q, mode %v; want /srv/deleted and 0640", p.DeletedDir(), p.Mode())
	}
	// An unquoted octal mode is YAML's integer 0640; it reads the same.
	c, err = Parse([]byte(withProduction(fsBlock + "      file_mode: 0640\n")))
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := c.Wiki("prodwiki"); w.Production.Mode() != 0o640 {
		t.Errorf("file_mode 0640 unquoted gives %v", w.Production.Mode())
	}
}

func TestParseProductionRejects(t *testing.T) {
	acl := "      acl: {public_read: \".r:*,mw:media\", public_write: mw:media, private_read: mw:media, private_write: mw:media}\n"
	tests := []struct {
		name, block, want string
	}{
		{"no type", "    production: {root: /srv/images}\n", `type "" is not one of swift, filesystem`},
		{"unknown type", "    production: {type: s3}\n", `type "s3" is not one of swift, filesystem`},
		{"unknown key", swiftBlock + "      password_file: x\n", "password_file"},
		{"swift without key_file", strings.Replace(swiftBlock, "      key_file: /etc/mediabackups/swift-key\n", "", 1), "needs auth_url, user and key_file"},
		{"swift without user", strings.Replace(swiftBlock, "      user: mediabackups:restore\n", "", 1), "needs auth_url, user and key_file"},
		{"swift with a root", swiftBlock + "      root: /srv/images\n", "for type filesystem, not swift"},
		{"auth_url not a URL", strings.Replace(swiftBlock, "http://127.0.0.1:8290/auth/v1.0", "127.0.0.1:8290", 1), "is not an http:// or https:// URL"},
		{"auth_url ftp", strings.Replace(swiftBlock, "http://", "ftp://", 1), "is not an http:// or https:// URL"},
		{"incomplete acl", swiftBlock + "      acl: {public_read: \".r:*\"}\n", "acl needs public_read, public_write, private_read and private_write"},
		{"unknown acl key", swiftBlock + "      acl: {read: x}\n", "field read not found"},
		{"filesystem without root", "    production: {type: filesystem}\n", "needs root"},
		{"relative root", "    production: {type: filesystem, root: images}\n", "must be an absolute path"},
		{"relative deleted_root", fsBlock + "      deleted_root: deleted\n", "must be an absolute path"},
		{"filesystem with a key", fsBlock + "      key_file: /k\n", "for type swift, not filesystem"},
		{"filesystem with an acl", fsBlock + acl, "for type swift, not filesystem"},
		{"bad file_mode", fsBlock + "      file_mode: rw-r--r--\n", "is not an octal mode"},
		{"file_mode 8", fsBlock + "      file_mode: \"0648\"\n", "is not an octal mode"},
		{"file_mode unreadable", fsBlock + "      file_mode: \"0200\"\n", "does not let the owner read"},
		{"sharded filesystem", "    public_shards: true\n" + fsBlock, "are not sharded"},
		{"newline in root", "    production: {type: filesystem, root: \"/srv/a\\nb\"}\n", "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(withProduction(tt.block)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error mentioning %q", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "field") && !strings.Contains(err.Error(), "wiki prodwiki: production: ") {
				t.Errorf("the error %q does not say where", err)
			}
		})
	}
	if _, err := Parse([]byte(withProduction(swiftBlock + acl))); err != nil {
		t.Errorf("a complete acl: %v", err)
	}
}

func TestProductionMarshalRoundTrip(t *testing.T) {
	for _, block := range []string{
		swiftBlock + "      acl: {public_read: \".r:*,mw:media\", public_write: mw:media, private_read: mw:media, private_write: mw:media}\n",
		fsBlock + "      deleted_root: /srv/deleted\n      file_mode: \"0640\"\n",
	} {
		c, err := Parse([]byte(withProduction(block)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\n%s", err, b)
		}
		if !reflect.DeepEqual(back.Wikis, c.Wikis) {
			t.Errorf("round trip changed the wikis:\n got %+v\nwant %+v", *back.Wikis[2].Production, *c.Wikis[2].Production)
		}
		if strings.Contains(string(b), "production: null") {
			t.Errorf("Marshal writes empty production blocks:\n%s", b)
		}
	}
}

// FuzzParseProduction feeds arbitrary production blocks through Parse: it
// must never panic, and what it accepts must be usable by the stores.
func FuzzParseProduction(f *testing.F) {
	f.Add("swift", "http://127.0.0.1:8290/auth/v1.0", "a:b", "/k", "", "", "")
	f.Add("filesystem", "", "", "", "/srv/images", "/srv/deleted", "0644")
	f.Add("filesystem", "", "", "", "/srv/images", "", "644")
	f.Fuzz(func(t *testing.T, typ, authURL, user, keyFile, root, deletedRoot, mode string) {
		c := &Config{Metadata: Metadata{DSN: "u@tcp(127.0.0.1:3306)/m"}, Storage: Storage{Endpoints: ActiveEndpoints("http://127.0.0.1:9101")},
			Wikis: []Wiki{{Name: "w", API: "http://w/api.php", Type: TypePublic, Production: &Production{
				Type: typ, AuthURL: authURL, User: user, KeyFile: keyFile, Root: root, DeletedRoot: deletedRoot, FileMode: mode}}}}
		b, err := c.Marshal()
		if err != nil {
			return
		}
		got, err := Parse(b)
		if err != nil {
			return
		}
		p := got.Wikis[0].Production
		switch p.Type {
		case ProductionSwift:
			if p.AuthURL == "" || p.User == "" || p.KeyFile == "" || p.Root != "" {
				t.Fatalf("accepted a swift block %+v", p)
			}
		case ProductionFilesystem:
			if !strings.HasPrefix(p.Root, "/") || p.KeyFile != "" || p.Mode()&0o400 == 0 || p.Mode()&^0o777 != 0 {
				t.Fatalf("accepted a filesystem block %+v", p)
			}
			if !strings.HasPrefix(p.DeletedDir(), "/") {
				t.Fatalf("deleted dir %q of %+v", p.DeletedDir(), p)
			}
		default:
			t.Fatalf("accepted type %q", p.Type)
		}
	})
}
