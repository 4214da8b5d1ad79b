package mediawiki

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// DeletedVersionsOf returns the list=filearchive rows of one file name
// (a DB key or "File:" title): the deleted versions of that name, oldest
// first, following continuation to the end. Its rights and errors are
// those of DeletedVersions.
func (c *Client) DeletedVersionsOf(ctx context.Context, title string) ([]DeletedVersion, error) {
	key := DBKey(title)
	if key == "" {
		return nil, fmt.Errorf("list deleted versions: empty title")
	}
	params := url.Values{
		"action":  {"query"},
		"list":    {"filearchive"},
		"fafrom":  {key},
		"fato":    {key},
		"falimit": {"max"},
		"faprop":  {"sha1|timestamp|size|mime|mediatype|archivename"},
	}
	var out []DeletedVersion
	err := c.list(ctx, fmt.Sprintf("list deleted versions of %q", key), params, func(body []byte) (map[string]string, error) {
		rows, next, err := ParseFileArchive(body)
		if err != nil {
			return nil, err
		}
		for _, d := range rows {
			if d.Title == key {
				out = append(out, d)
			}
		}
		return next, nil
	})
	return out, err
}

// DeletedVersionsBySHA1 returns the list=filearchive rows whose content
// has the given sha1 (40 hex digits), under any file name: the deleted
// versions that hold those bytes, wherever they were deleted from (a file
// can be moved before it is deleted). Rows that do not show their sha1
// (revision-deleted content) are left out. Its rights and errors are
// those of DeletedVersions.
func (c *Client) DeletedVersionsBySHA1(ctx context.Context, sha1 string) ([]DeletedVersion, error) {
	hex, err := checkSHA1(strings.ToLower(sha1))
	if err != nil || hex == "" {
		return nil, fmt.Errorf("list deleted versions by sha1 %q: not a sha1", sha1)
	}
	params := url.Values{
		"action":  {"query"},
		"list":    {"filearchive"},
		"fasha1":  {hex},
		"falimit": {"max"},
		"faprop":  {"sha1|timestamp|size|mime|mediatype|archivename"},
	}
	var out []DeletedVersion
	err = c.list(ctx, "list deleted versions with sha1 "+hex, params, func(body []byte) (map[string]string, error) {
		rows, next, err := ParseFileArchive(body)
		if err != nil {
			return nil, err
		}
		for _, d := range rows {
			if d.SHA1 == hex {
				out = append(out, d)
			}
		}
		return next, nil
	})
	return out, err
}
