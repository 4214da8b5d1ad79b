// Package mediawiki is a client of the MediaWiki Action API (api.php) and
// of the few index.php pages a media backup needs: it lists every current,
// archived and deleted version of every file, follows the file log, and
// downloads the bytes of each kind of version.
//
// It was written against MediaWiki 1.39 (see shared/testwiki/API-NOTES.md
// for the verified behaviour it relies on). Requests use format=json and
// formatversion=2.
//
// # Sessions
//
// A Client holds up to two sessions, each with its own cookie jar:
//
//   - the api.php session of Config.User: a bot password ("Name@app",
//     logged in with action=login) or a main account (action=clientlogin);
//     anonymous when User is "";
//   - the web session for index.php and img_auth.php, which must be a main
//     account, because MediaWiki treats bot-password sessions as anonymous
//     there: Config.WebUser, or else User itself when it is a main account.
//     Without one, downloads are anonymous and DownloadDeleted and
//     DownloadHidden fail with ErrPermission.
//
// Logins are lazy. Logged-in api.php requests carry assert=user; when the
// wiki answers as if the session were gone (assertuserfailed,
// readapidenied, permissiondenied, HTTP 403 from img_auth.php, the HTML
// "Permission error" page) the Client logs in again once and repeats the
// request. Passwords are sent only in POST bodies and never appear in
// errors.
//
// # Retries and politeness
//
// Every request carries Config.UserAgent, maxlag= (api.php), a timeout and
// the caller's context, and waits Config.Pause after the previous one.
// maxlag errors (which come with HTTP 200), HTTP 429 and 5xx and network
// errors are retried up to Config.MaxRetries times with jittered
// exponential back-off, never sooner than Retry-After asks.
//
// # Completeness of listings
//
// Listings follow the API's "continue" objects to the end. prop=imageinfo
// has a trap: in a request naming several files (a generator=allimages
// batch, or several titles=), MediaWiki 1.39 returns at most iilimit
// versions per file and silently drops the rest, with no continuation. So
// AllVersions and Versions ask again, for that file alone (where
// continuation works), about any file whose version count reached the
// limit.
//
// # Errors
//
// API error bodies are *APIError. errors.Is(err, ErrPermission) holds for
// refusals (API permission codes, HTTP 401/403, the HTML permission page)
// and errors.Is(err, ErrLoginFailed) for refused logins. Errors say what
// was being done and on which URL; errors returned by callbacks stop a
// listing and are returned unchanged.
//
// # Names and locations
//
// The pure helpers convert between the API's hex sha1 and MediaWiki's base
// 36 (SHA1Base36ToHex, SHA1HexToBase36), compute a deleted version's
// storage key (StorageKey), a name's hash directory (HashPath), a DB key
// (DBKey), and Wikimedia's Swift container and object names (Containers).
package mediawiki
