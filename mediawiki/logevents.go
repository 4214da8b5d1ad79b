package mediawiki

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// LogEvent is one list=logevents entry about a file (namespace 6) of type
// upload, delete, move or suppress.
type LogEvent struct {
	ID        int64  // logid
	Type      string // "upload", "delete", "move", "suppress"
	Action    string // "upload", "overwrite", "revert", "delete", "restore", "revision", "move", "move_redir", ...
	Title     string // DB key without the namespace, as the entry was made (log entries are not renamed by moves)
	PageID    int64  // the title's current page id, 0 when the page no longer exists
	LogPage   int64  // the page id at the time of the entry
	Timestamp time.Time
	User      string
	Comment   string
	// SHA1 is params.img_sha1 converted from base 36 to hex, for upload
	// events ("" when absent or malformed).
	SHA1 string
	// ImgTimestamp is params.img_timestamp (upload events): the upload
	// time of the new version.
	ImgTimestamp time.Time
	// TargetTitle is the DB key of params.target_title without the
	// namespace (move events).
	TargetTitle string
	// RevisionType, RevisionIDs, OldBits and NewBits are params.type,
	// params.ids, params.old.bitmask and params.new.bitmask of
	// delete/revision and suppress/revision events. For type "oldimage"
	// the ids are the archive-name timestamps of the old versions.
	RevisionType string
	RevisionIDs  []string
	OldBits      int
	NewBits      int
	// Params is the raw params object, for anything else (e.g. the
	// count of a delete/restore). A one-version delete/delete has "{}":
	// only Comment ("Deleted old revision <archive name>: ...") tells.
	Params json.RawMessage
}

type rawLogEvent struct {
	LogID        int64           `json:"logid"`
	NS           *int            `json:"ns"`
	Title        string          `json:"title"`
	PageID       int64           `json:"pageid"`
	LogPage      int64           `json:"logpage"`
	Params       json.RawMessage `json:"params"`
	Type         string          `json:"type"`
	Action       string          `json:"action"`
	User         string          `json:"user"`
	Timestamp    string          `json:"timestamp"`
	Comment      string          `json:"comment"`
	ActionHidden bool            `json:"actionhidden"`
}

// fileLogType reports whether LogEvents reports events of type t.
func fileLogType(t string) bool {
	switch t {
	case "upload", "delete", "move", "suppress":
		return true
	}
	return false
}

// ParseLogEvents parses one api.php response to list=logevents
// (format=json, formatversion=2, leprop including ids, title, type,
// timestamp and details). It returns the events of types upload, delete,
// move and suppress in namespace 6, in response order, skipping all other
// entries (and entries whose title is hidden), plus the continuation
// parameters for the next request (nil when done). An API error body is
// returned as *APIError. It never panics; malformed JSON or a malformed
// top-level timestamp is an error, while params that do not have the
// expected shape only leave the derived fields empty (Params keeps them).
func ParseLogEvents(body []byte) ([]LogEvent, map[string]string, error) {
	var env envelope
	cont, err := parseEnvelope(body, &env)
	if err != nil {
		return nil, nil, err
	}
	var r struct {
		Query struct {
			LogEvents []rawLogEvent `json:"logevents"`
		} `json:"query"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, fmt.Errorf("parse logevents response: %w", err)
	}
	var out []LogEvent
	for _, e := range r.Query.LogEvents {
		if !fileLogType(e.Type) || e.NS == nil || *e.NS != 6 || e.Title == "" || e.ActionHidden {
			continue
		}
		ts, err := parseTime(e.Timestamp)
		if err != nil {
			return nil, nil, fmt.Errorf("parse log event %d: %w", e.LogID, err)
		}
		ev := LogEvent{ID: e.LogID, Type: e.Type, Action: e.Action, Title: stripNamespace(e.Title),
			PageID: e.PageID, LogPage: e.LogPage, Timestamp: ts, User: e.User, Comment: e.Comment}
		if len(e.Params) > 0 {
			ev.Params = append(json.RawMessage(nil), e.Params...)
		}
		ev.parseParams()
		out = append(out, ev)
	}
	return out, cont, nil
}

// bitmaskField decodes {"bitmask": n, ...}.
type bitmaskField struct {
	Bitmask flexInt `json:"bitmask"`
}

// parseParams fills the fields derived from ev.Params, leaving them empty
// when the params do not have the expected shape.
func (ev *LogEvent) parseParams() {
	p := bytes.TrimSpace(ev.Params)
	if len(p) == 0 || p[0] != '{' {
		return
	}
	switch ev.Type {
	case "upload":
		var u struct {
			SHA1      string `json:"img_sha1"`
			Timestamp string `json:"img_timestamp"`
		}
		if json.Unmarshal(p, &u) != nil {
			return
		}
		if u.SHA1 != "" {
			if h, err := SHA1Base36ToHex(u.SHA1); err == nil {
				ev.SHA1 = h
			}
		}
		if u.Timestamp != "" {
			if t, err := parseAnyTime(u.Timestamp); err == nil {
				ev.ImgTimestamp = t
			}
		}
	case "move":
		var m struct {
			TargetNS    *flexInt `json:"target_ns"`
			TargetTitle string   `json:"target_title"`
		}
		if json.Unmarshal(p, &m) != nil || m.TargetTitle == "" {
			return
		}
		if m.TargetNS == nil || *m.TargetNS == 6 {
			ev.TargetTitle = stripNamespace(m.TargetTitle)
		} else {
			ev.TargetTitle = DBKey(m.TargetTitle)
		}
	case "delete", "suppress":
		var d struct {
			Type   string          `json:"type"`
			IDs    []flexString    `json:"ids"`
			Old    json.RawMessage `json:"old"`
			New    json.RawMessage `json:"new"`
			OField *flexInt        `json:"ofield"`
			NField *flexInt        `json:"nfield"`
		}
		if json.Unmarshal(p, &d) != nil {
			return
		}
		ev.RevisionType = d.Type
		for _, id := range d.IDs {
			ev.RevisionIDs = append(ev.RevisionIDs, string(id))
		}
		var o, n bitmaskField
		if json.Unmarshal(d.Old, &o) == nil {
			ev.OldBits = int(o.Bitmask)
		} else if d.OField != nil {
			ev.OldBits = int(*d.OField)
		}
		if json.Unmarshal(d.New, &n) == nil {
			ev.NewBits = int(n.Bitmask)
		} else if d.NField != nil {
			ev.NewBits = int(*d.NField)
		}
	}
}

// LogEvents calls fn for every file-namespace log event of types upload,
// delete, move and suppress with a timestamp >= since (inclusive, to the
// second; the zero time means from the beginning), oldest first (by
// timestamp, then log id), following continuation to the end. Several
// events can share one second, so a caller resuming from the timestamp of
// the last event it saw must skip the log ids it already has. Suppress
// events are only listed to accounts with suppressionlog. An error from fn
// stops the listing and is returned as is.
func (c *Client) LogEvents(ctx context.Context, since time.Time, fn func(LogEvent) error) error {
	params := url.Values{
		"action":      {"query"},
		"list":        {"logevents"},
		"lenamespace": {"6"},
		"ledir":       {"newer"},
		"lelimit":     {"max"},
		"leprop":      {"ids|title|type|user|timestamp|comment|details"},
	}
	if !since.IsZero() {
		params.Set("lestart", since.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	what := "list file log events"
	if !since.IsZero() {
		what += " since " + since.UTC().Format(time.RFC3339)
	}
	return c.list(ctx, what, params, func(body []byte) (map[string]string, error) {
		evs, next, err := ParseLogEvents(body)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if err := fn(e); err != nil {
				return nil, callbackError{err}
			}
		}
		return next, nil
	})
}

// FileLogOf calls fn for every file-namespace log event of one action
// ("delete/delete", "delete/restore", "delete/revision", ...), oldest
// first, from the beginning of the log, following continuation to the end.
// It reads a small part of the log where LogEvents reads all of it: the
// inventory uses it to date deletions and to find the archive names of
// revision-deleted versions. An error from fn stops the listing and is
// returned as is.
func (c *Client) FileLogOf(ctx context.Context, action string, fn func(LogEvent) error) error {
	params := url.Values{
		"action":      {"query"},
		"list":        {"logevents"},
		"leaction":    {action},
		"lenamespace": {"6"},
		"ledir":       {"newer"},
		"lelimit":     {"max"},
		"leprop":      {"ids|title|type|user|timestamp|comment|details"},
	}
	return c.list(ctx, "list the "+action+" log of files", params, func(body []byte) (map[string]string, error) {
		evs, next, err := ParseLogEvents(body)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if err := fn(e); err != nil {
				return nil, callbackError{err}
			}
		}
		return next, nil
	})
}
