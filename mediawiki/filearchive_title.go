package mediawiki

import (
	"context"
	"fmt"
	"net/url"
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
