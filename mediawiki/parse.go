package mediawiki

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// flexInt decodes a JSON number or a string holding one (list=filearchive
// gives sizes as strings); null and "" decode to 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*f = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*f = 0
			return nil
		}
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %q", b)
	}
	*f = flexInt(n)
	return nil
}

// flexString decodes a JSON string, or a number as its text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("not a string or number: %.40q", b)
	}
	*f = flexString(n.String())
	return nil
}

// envelope is what every query response shares.
type envelope struct {
	Error         *apiErrorJSON              `json:"error"`
	Errors        []apiErrorJSON             `json:"errors"`
	BatchComplete bool                       `json:"batchcomplete"`
	Continue      map[string]json.RawMessage `json:"continue"`
	Limits        map[string]json.RawMessage `json:"limits"`
}

// parseEnvelope decodes the common part of a response into env and
// returns its continuation parameters (nil when the listing is complete).
func parseEnvelope(body []byte, env *envelope) (map[string]string, error) {
	if err := json.Unmarshal(body, env); err != nil {
		return nil, fmt.Errorf("parse API response: %w", err)
	}
	if env.Error != nil {
		return nil, env.Error.toAPIError()
	}
	if len(env.Errors) > 0 {
		return nil, env.Errors[0].toAPIError()
	}
	if len(env.Continue) == 0 {
		return nil, nil
	}
	cont := make(map[string]string, len(env.Continue))
	for k, raw := range env.Continue {
		var v flexString
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("parse API response: continue.%s: %w", k, err)
		}
		cont[k] = string(v)
	}
	return cont, nil
}

// parseTime parses an API timestamp (ISO 8601, UTC).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q", s)
	}
	return t.UTC(), nil
}

// parseMWTime parses a 14-digit MediaWiki timestamp (YYYYMMDDHHMMSS, UTC).
func parseMWTime(s string) (time.Time, error) {
	if len(s) != 14 {
		return time.Time{}, fmt.Errorf("bad timestamp %q: want 14 digits", s)
	}
	t, err := time.Parse("20060102150405", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q", s)
	}
	return t, nil
}

// parseAnyTime accepts both ISO 8601 and 14-digit timestamps.
func parseAnyTime(s string) (time.Time, error) {
	if t, err := parseTime(s); err == nil {
		return t, nil
	}
	return parseMWTime(s)
}

// ArchiveTime returns the time encoded in an archive name: the 14 digits
// before its FIRST '!' (the time the version was archived, not its upload
// time). It returns an error when there is no '!' or no valid timestamp.
func ArchiveTime(archiveName string) (time.Time, error) {
	i := strings.IndexByte(archiveName, '!')
	if i < 0 {
		return time.Time{}, fmt.Errorf("archive name %q has no '!'", archiveName)
	}
	t, err := parseMWTime(archiveName[:i])
	if err != nil {
		return time.Time{}, fmt.Errorf("archive name %q: %w", archiveName, err)
	}
	return t, nil
}

// checkSHA1 validates and lower-cases a hex sha1 ("" stays "").
func checkSHA1(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) != 40 {
		return "", fmt.Errorf("bad sha1 %q: want 40 hex digits", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", fmt.Errorf("bad sha1 %q: want 40 hex digits", s)
		}
	}
	return strings.ToLower(s), nil
}
