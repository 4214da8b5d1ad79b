package mediawiki

import (
	"errors"
	"fmt"
)

// ErrPermission is wrapped by errors that mean the wiki refused access: the
// API codes permissiondenied, readapidenied (and the other *denied codes),
// HTTP 401/403 on downloads, and index.php's HTML "Permission error" page.
// Check with errors.Is. The usual fix is to configure an account with the
// right (read, deletedhistory, undelete...) or a main account as WebUser.
var ErrPermission = errors.New("permission denied by the wiki")

// ErrNotFound is wrapped by the error of a download that the server
// answered with HTTP 404: nothing is served at that URL (any more). For a
// file version it usually means that the file was moved, deleted or
// overwritten since its URL was read; ask the API where it is now.
var ErrNotFound = errors.New("not found on the server")

// ErrLoginFailed is wrapped by errors from a login that the wiki refused
// (wrong name or password, a bot password without the grants, or a login
// that needs an interactive step such as two-factor authentication).
var ErrLoginFailed = errors.New("wiki login failed")

// APIError is an error body returned by api.php ({"error":{"code":…,
// "info":…}}), which comes with HTTP 200 and a MediaWiki-API-Error header.
// errors.Is(err, ErrPermission) is true for the permission codes.
type APIError struct {
	Code string // e.g. "readapidenied", "maxlag", "badcontinue"
	Info string // human-readable text from the wiki
}

func (e *APIError) Error() string {
	return fmt.Sprintf("api error %s: %s", e.Code, e.Info)
}

// Is reports whether e is a permission error, so that
// errors.Is(err, ErrPermission) works on API errors.
func (e *APIError) Is(target error) bool {
	return target == ErrPermission && isPermissionCode(e.Code)
}

func isPermissionCode(code string) bool {
	switch code {
	case "permissiondenied", "readapidenied", "assertuserfailed", "assertbotfailed",
		"mustbeloggedin", "notloggedin":
		return true
	}
	return false
}

// sessionExpiredCode reports whether an API error, seen by a session that
// had logged in, may mean the session expired and a new login may help.
func sessionExpiredCode(code string) bool {
	switch code {
	case "assertuserfailed", "assertbotfailed", "readapidenied", "permissiondenied",
		"notloggedin", "mustbeloggedin", "badtoken":
		return true
	}
	return false
}
