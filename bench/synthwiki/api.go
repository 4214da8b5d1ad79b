package synthwiki

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
)

// Handler serves the model's api.php: /api.php is the wiki after the
// whole tail, /tail/<k>/api.php the wiki after its first k events. Every
// other path answers 404.
func (m *Model) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := m.state(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			writeError(w, "badrequest", err.Error())
			return
		}
		base := "http://" + r.Host
		if r.TLS != nil {
			base = "https://" + r.Host
		}
		q := &request{m: m, k: k, form: r.Form, base: base, used: map[string]bool{}}
		body, apiErr := q.serve()
		if apiErr != nil {
			writeError(w, apiErr.code, apiErr.info)
			return
		}
		b, err := json.Marshal(body)
		if err != nil {
			writeError(w, "internal_api_error", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(b)
	})
}

// state returns the tail position a path asks for.
func (m *Model) state(path string) (int64, bool) {
	if path == "/api.php" {
		return m.cfg.Tail, true
	}
	rest, ok := strings.CutPrefix(path, "/tail/")
	if !ok {
		return 0, false
	}
	ks, ok := strings.CutSuffix(rest, "/api.php")
	if !ok {
		return 0, false
	}
	k, err := strconv.ParseInt(ks, 10, 64)
	if err != nil || k < 0 || k > m.cfg.Tail {
		return 0, false
	}
	return k, true
}

// apiError is an error answer.
type apiError struct{ code, info string }

func unsupported(format string, args ...any) *apiError {
	return &apiError{"synthetic-unsupported", "the synthetic wiki (bench/synthwiki) does not emulate " + fmt.Sprintf(format, args...)}
}

// writeError answers as MediaWiki does: HTTP 200, the code in a header and
// in the body.
func writeError(w http.ResponseWriter, code, info string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("MediaWiki-API-Error", code)
	b, _ := json.Marshal(map[string]any{
		"error": map[string]string{"code": code, "info": info, "docref": "See the synthetic wiki's package documentation (bench/synthwiki)."},
	})
	w.Write(b)
}

// request is one api.php request being answered.
type request struct {
	m    *Model
	k    int64
	form url.Values
	base string
	used map[string]bool
}

// get returns a parameter and marks it as understood.
func (q *request) get(name string) string {
	q.used[name] = true
	return q.form.Get(name)
}

func (q *request) has(name string) bool {
	q.used[name] = true
	return q.form.Has(name)
}

// limit reads a limit parameter: "max" is the high limit (and is reported
// in "limits"), numbers are clamped to it, and def applies when absent.
func (q *request) limit(name, module string, def int, limits map[string]int) (int, *apiError) {
	v := q.get(name)
	switch v {
	case "":
		return def, nil
	case "max":
		limits[module] = q.m.cfg.HighLimit
		return q.m.cfg.HighLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &apiError{"badinteger", fmt.Sprintf("Invalid value %q for integer parameter %q.", v, name)}
	}
	return min(max(n, 1), q.m.cfg.HighLimit), nil
}

// response is the envelope of every query answer.
type response struct {
	BatchComplete bool              `json:"batchcomplete,omitempty"`
	Continue      map[string]string `json:"continue,omitempty"`
	Query         any               `json:"query,omitempty"`
	Limits        map[string]int    `json:"limits,omitempty"`
}

func (q *request) serve() (any, *apiError) {
	if f := q.get("format"); f != "json" {
		return nil, unsupported("format=%q (only json)", f)
	}
	if v := q.get("formatversion"); v != "2" {
		return nil, unsupported("formatversion=%q (only 2)", v)
	}
	for _, p := range []string{"maxlag", "assert", "continue"} {
		q.get(p)
	}
	var body any
	var err *apiError
	switch a := q.get("action"); a {
	case "query":
		body, err = q.query()
	case "login":
		q.get("lgpassword")
		q.get("lgtoken")
		name, _, _ := strings.Cut(q.get("lgname"), "@")
		body = map[string]any{"login": map[string]any{"result": "Success", "lguserid": 1, "lgusername": name}}
	case "clientlogin":
		for _, p := range []string{"password", "logintoken", "loginreturnurl"} {
			q.get(p)
		}
		body = map[string]any{"clientlogin": map[string]any{"status": "PASS", "username": q.get("username")}}
	default:
		return nil, unsupported("action=%q", a)
	}
	if err != nil {
		return nil, err
	}
	for name := range q.form {
		if !q.used[name] {
			return nil, unsupported("the parameter %q in this request", name)
		}
	}
	return body, nil
}

func (q *request) query() (any, *apiError) {
	list, gen, prop, meta := q.get("list"), q.get("generator"), q.get("prop"), q.get("meta")
	titles := q.has("titles")
	switch {
	case meta == "tokens" && list == "" && gen == "" && prop == "" && !titles:
		if t := q.get("type"); t != "login" {
			return nil, unsupported("meta=tokens&type=%q (only login)", t)
		}
		return response{BatchComplete: true, Query: map[string]any{"tokens": map[string]string{"logintoken": "5ynth371c0000000000000000000000000000000+\\"}}}, nil
	case meta != "":
		return nil, unsupported("meta=%q", meta)
	case list == "allimages" && gen == "" && prop == "" && !titles:
		return q.allImages()
	case list == "filearchive" && gen == "" && prop == "" && !titles:
		return q.fileArchive()
	case list == "logevents" && gen == "" && prop == "" && !titles:
		return q.logEvents()
	case list == "" && gen == "allimages" && prop == "imageinfo" && !titles:
		return q.imageInfo(true)
	case list == "" && gen == "" && prop == "imageinfo" && titles:
		return q.imageInfo(false)
	}
	return nil, unsupported("this combination of list=%q, generator=%q, prop=%q and titles", list, gen, prop)
}

// props parses a prop list against the values understood.
func (q *request) props(name, def string, known ...string) (map[string]bool, *apiError) {
	v := q.get(name)
	if v == "" {
		v = def
	}
	out := map[string]bool{}
	for _, p := range strings.Split(v, "|") {
		if !slices.Contains(known, p) {
			return nil, unsupported("%s=%s", name, p)
		}
		out[p] = true
	}
	return out, nil
}

// ascending refuses a sort or direction other than the default.
func (q *request) ascending(dir, sort string) *apiError {
	if v := q.get(dir); v != "" && v != "ascending" && v != "newer" {
		return unsupported("%s=%s", dir, v)
	}
	if sort != "" {
		if v := q.get(sort); v != "" && v != "name" {
			return unsupported("%s=%s", sort, v)
		}
	}
	return nil
}

// ---------------------------------------------------------------------
// Files and their versions

func (q *request) fileURL(f *file, v int, name string) string {
	hp := mediawiki.HashPath(name)
	if f.vs[v].archived != 0 {
		return q.base + "/images/archive/" + hp + "/" + urlName(ts14(f.vs[v].archived)+"!"+name)
	}
	return q.base + "/images/" + hp + "/" + urlName(name)
}

// urlName percent-encodes a file name as MediaWiki does in URLs, for the
// characters the names of this model have.
var urlName = strings.NewReplacer("!", "%21", "(", "%28", ")", "%29").Replace

type imageInfo struct {
	Timestamp           string  `json:"timestamp,omitempty"`
	User                string  `json:"user,omitempty"`
	Size                *int64  `json:"size,omitempty"`
	Width               *int    `json:"width,omitempty"`
	Height              *int    `json:"height,omitempty"`
	Comment             *string `json:"comment,omitempty"`
	URL                 string  `json:"url,omitempty"`
	DescriptionURL      string  `json:"descriptionurl,omitempty"`
	DescriptionShortURL string  `json:"descriptionshorturl,omitempty"`
	SHA1                string  `json:"sha1,omitempty"`
	MIME                string  `json:"mime,omitempty"`
	MediaType           string  `json:"mediatype,omitempty"`
	ArchiveName         string  `json:"archivename,omitempty"`
	FileHidden          bool    `json:"filehidden,omitempty"`
}

func (q *request) info(f *file, v int, props map[string]bool, pageID int64) imageInfo {
	ver := f.vs[v]
	name := q.m.name(f.i, f.gen)
	var ii imageInfo
	if props["timestamp"] {
		ii.Timestamp = iso(ver.up)
	}
	if props["user"] {
		ii.User = user
	}
	if props["size"] {
		size, w, h := ver.c.size, ver.c.width, ver.c.height
		if !f.ext.dimensions {
			w, h = 0, 0
		}
		ii.Size, ii.Width, ii.Height = &size, &w, &h
	}
	if props["comment"] {
		c := "synthetic version"
		ii.Comment = &c
	}
	if ver.hidden {
		ii.FileHidden = true
		return ii
	}
	if props["url"] {
		ii.URL = q.fileURL(f, v, name)
		ii.DescriptionURL = q.base + "/index.php/" + title(name)
		ii.DescriptionURL = strings.ReplaceAll(ii.DescriptionURL, " ", "_")
		ii.DescriptionShortURL = q.base + "/index.php?curid=" + strconv.FormatInt(pageID, 10)
	}
	if props["sha1"] {
		ii.SHA1 = hex.EncodeToString(ver.c.sha1[:])
	}
	if props["mime"] {
		ii.MIME = f.ext.mime
	}
	if props["mediatype"] {
		ii.MediaType = f.ext.mediaType
	}
	if props["archivename"] && ver.archived != 0 {
		ii.ArchiveName = q.m.archiveName(f, v, f.gen)
	}
	return ii
}

type page struct {
	PageID          int64       `json:"pageid,omitempty"`
	NS              int         `json:"ns"`
	Title           string      `json:"title"`
	Missing         bool        `json:"missing,omitempty"`
	ImageRepository *string     `json:"imagerepository,omitempty"`
	ImageInfo       []imageInfo `json:"imageinfo,omitempty"`
}

type normalized struct {
	FromEncoded bool   `json:"fromencoded"`
	From        string `json:"from"`
	To          string `json:"to"`
}

type redirect struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type pagesQuery struct {
	Normalized []normalized `json:"normalized,omitempty"`
	Redirects  []redirect   `json:"redirects,omitempty"`
	Pages      []page       `json:"pages"`
}

var (
	local = "local"
	none  = ""
)

// maxTitles is how many titles= MediaWiki takes from an account with
// apihighlimits.
const maxTitles = 500

// pageOf is a page to describe: a file under a title (a redirect's title
// when not followed).
type pageOf struct {
	f      *file
	title  string
	pageID int64
}

// imageInfo answers prop=imageinfo, for the allimages generator or titles=.
func (q *request) imageInfo(generator bool) (any, *apiError) {
	limits := map[string]int{}
	props, err := q.props("iiprop", "timestamp|user", "timestamp", "user", "comment", "url", "size", "sha1", "mime", "mediatype", "archivename")
	if err != nil {
		return nil, err
	}
	iilimit, err := q.limit("iilimit", "imageinfo", 1, limits)
	if err != nil {
		return nil, err
	}
	var start int64 = 1<<62 - 1
	if s := q.get("iistart"); s != "" {
		t, perr := time.Parse(time.RFC3339, s)
		if perr != nil {
			return nil, &apiError{"badtimestamp", fmt.Sprintf("Invalid value %q for timestamp parameter iistart.", s)}
		}
		start = t.Unix()
	}

	res := response{Limits: limits}
	pq := &pagesQuery{}
	var pages []pageOf
	var missing []page
	var next string
	if generator {
		if err := q.ascending("gaidir", "gaisort"); err != nil {
			return nil, err
		}
		gailimit, err := q.limit("gailimit", "allimages", 10, limits)
		if err != nil {
			return nil, err
		}
		from, to := q.get("gaifrom"), q.get("gaito")
		if c := q.get("gaicontinue"); c != "" {
			from = c
		}
		q.m.files(q.k, from, func(f *file, name string) bool {
			if to != "" && name > to {
				return false
			}
			if len(pages) == gailimit {
				next = name
				return false
			}
			pages = append(pages, pageOf{f, title(name), f.pageID()})
			return true
		})
	} else {
		var err *apiError
		pages, missing, err = q.titles(pq)
		if err != nil {
			return nil, err
		}
	}
	pq.Pages = append(pq.Pages, missing...)
	// MediaWiki continues a file's versions only when the batch has one
	// file; in a bigger batch the versions beyond iilimit are dropped.
	single := len(pages) == 1
	for _, p := range pages {
		pg := page{PageID: p.pageID, NS: 6, Title: p.title, ImageRepository: &local}
		n := 0
		for v := len(p.f.vs) - 1; v >= 0; v-- {
			if p.f.vs[v].deleted != 0 || p.f.vs[v].up > start {
				continue
			}
			if n == iilimit {
				if single {
					res.Continue = map[string]string{"iistart": iso(p.f.vs[v].up), "continue": "||"}
					if c := q.form.Get("gaicontinue"); generator && c != "" {
						res.Continue["gaicontinue"], res.Continue["continue"] = c, "gaicontinue||"
					}
				}
				break
			}
			pg.ImageInfo = append(pg.ImageInfo, q.info(p.f, v, props, p.pageID))
			n++
		}
		pq.Pages = append(pq.Pages, pg)
	}
	if res.Continue == nil {
		res.BatchComplete = true
		if next != "" {
			res.Continue = map[string]string{"gaicontinue": next, "continue": "gaicontinue||"}
		}
	}
	if generator && len(pq.Pages) == 0 {
		// No pages: MediaWiki leaves "query" out entirely.
		return res, nil
	}
	res.Query = pq
	return res, nil
}

// titles resolves titles= (with redirects=1 if asked) into the pages to
// describe, by page id, and the missing ones, in the order asked.
func (q *request) titles(pq *pagesQuery) ([]pageOf, []page, *apiError) {
	follow := q.has("redirects")
	raw := strings.Split(q.get("titles"), "|")
	if len(raw) > maxTitles {
		return nil, nil, &apiError{"toomanyvalues", fmt.Sprintf("Too many values supplied for parameter \"titles\". The limit is %d.", maxTitles)}
	}
	seen := map[string]bool{}
	var pages []pageOf
	var missing []page
	for _, t := range raw {
		norm := normalizeTitle(t)
		if norm != t {
			pq.Normalized = append(pq.Normalized, normalized{From: t, To: norm})
		}
		if seen[norm] {
			continue
		}
		seen[norm] = true
		if !strings.HasPrefix(norm, "File:") {
			missing = append(missing, page{NS: 0, Title: norm, Missing: true})
			continue
		}
		i, gen, ok := q.m.parseName(strings.ReplaceAll(norm[len("File:"):], " ", "_"))
		var f *file
		if ok {
			f = q.m.file(i, q.k)
		}
		if !ok || !f.exists || gen > f.gen {
			missing = append(missing, page{NS: 6, Title: norm, Missing: true, ImageRepository: &none})
			continue
		}
		if gen < f.gen { // the old title of a renamed file: a redirect
			target := title(q.m.name(i, f.gen))
			if follow {
				pq.Redirects = append(pq.Redirects, redirect{From: norm, To: target})
				if seen[target] {
					continue
				}
				seen[target] = true
				norm = target
			} else if !f.deleted {
				pages = append(pages, pageOf{f, norm, redirectPage + i})
				continue
			}
		}
		if f.deleted {
			missing = append(missing, page{NS: 6, Title: norm, Missing: true, ImageRepository: &none})
			continue
		}
		pages = append(pages, pageOf{f, norm, f.pageID()})
	}
	slices.SortFunc(pages, func(a, b pageOf) int { return cmp.Compare(a.pageID, b.pageID) })
	return pages, missing, nil
}

// normalizeTitle is MediaWiki's title normalisation for the titles this
// model can hold: underscores become spaces, the namespace is spelled
// "File:" and the first letter of the name is upper case.
func normalizeTitle(t string) string {
	t = strings.TrimSpace(strings.ReplaceAll(t, "_", " "))
	ns, name, ok := strings.Cut(t, ":")
	if !ok || !strings.EqualFold(strings.TrimSpace(ns), "file") {
		return upperFirst(t)
	}
	return "File:" + upperFirst(strings.TrimSpace(name))
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// ---------------------------------------------------------------------
// list=allimages

type allImage struct {
	Name string `json:"name"`
	imageInfo
	NS    int    `json:"ns"`
	Title string `json:"title"`
}

func (q *request) allImages() (any, *apiError) {
	if err := q.ascending("aidir", "aisort"); err != nil {
		return nil, err
	}
	limits := map[string]int{}
	limit, err := q.limit("ailimit", "allimages", 10, limits)
	if err != nil {
		return nil, err
	}
	props, err := q.props("aiprop", "timestamp|url", "timestamp", "user", "comment", "url", "size", "sha1", "mime", "mediatype")
	if err != nil {
		return nil, err
	}
	from, to := q.get("aifrom"), q.get("aito")
	if c := q.get("aicontinue"); c != "" {
		from = c
	}
	res := response{BatchComplete: true, Limits: limits}
	items := []allImage{}
	q.m.files(q.k, from, func(f *file, name string) bool {
		if to != "" && name > to {
			return false
		}
		if len(items) == limit {
			res.Continue = map[string]string{"aicontinue": name, "continue": "-||"}
			return false
		}
		items = append(items, allImage{Name: name, imageInfo: q.info(f, f.current(), props, f.pageID()), NS: 6, Title: title(name)})
		return true
	})
	res.Query = map[string]any{"allimages": items}
	return res, nil
}

// ---------------------------------------------------------------------
// list=filearchive

type faItem struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	NS          int    `json:"ns"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	UserID      *int   `json:"userid,omitempty"`
	User        string `json:"user,omitempty"`
	SHA1        string `json:"sha1,omitempty"`
	Timestamp   string `json:"timestamp,omitempty"`
	Size        string `json:"size,omitempty"`
	Height      string `json:"height,omitempty"`
	Width       string `json:"width,omitempty"`
	MediaType   string `json:"mediatype,omitempty"`
	MIME        string `json:"mime,omitempty"`
	ArchiveName string `json:"archivename,omitempty"`
}

func (q *request) fileArchive() (any, *apiError) {
	if err := q.ascending("fadir", ""); err != nil {
		return nil, err
	}
	limits := map[string]int{}
	limit, err := q.limit("falimit", "filearchive", 10, limits)
	if err != nil {
		return nil, err
	}
	props, err := q.props("faprop", "timestamp", "sha1", "timestamp", "size", "dimensions", "mime", "mediatype", "archivename", "description", "user")
	if err != nil {
		return nil, err
	}
	from, to := q.get("fafrom"), q.get("fato")
	var pos *faPos
	if c := q.get("facontinue"); c != "" {
		p, ok := parseFAContinue(c)
		if !ok {
			return nil, &apiError{"badcontinue", "Invalid continue param. You should pass the original value returned by the previous query."}
		}
		pos, from = &p, p.name
	}
	res := response{BatchComplete: true, Limits: limits}
	items := []faItem{}
	q.m.deletedRows(q.k, from, func(r faRow) bool {
		if to != "" && r.name > to {
			return false
		}
		if pos != nil && pos.after(r) {
			return true
		}
		if len(items) == limit {
			res.Continue = map[string]string{"facontinue": r.key(), "continue": "-||"}
			return false
		}
		ver := r.f.vs[r.v]
		it := faItem{ID: ver.faID, Name: r.name, NS: 6, Title: title(r.name)}
		if props["description"] {
			it.Description = "synthetic version"
		}
		if props["user"] {
			one := 1
			it.UserID, it.User = &one, user
		}
		if props["sha1"] {
			it.SHA1 = hex.EncodeToString(ver.c.sha1[:])
		}
		if props["timestamp"] {
			it.Timestamp = iso(ver.up)
		}
		if props["size"] || props["dimensions"] {
			w, h := ver.c.width, ver.c.height
			if !r.f.ext.dimensions {
				w, h = 0, 0
			}
			it.Size, it.Height, it.Width = strconv.FormatInt(ver.c.size, 10), strconv.Itoa(h), strconv.Itoa(w)
		}
		if props["mediatype"] {
			it.MediaType = r.f.ext.mediaType
		}
		if props["mime"] {
			it.MIME = r.f.ext.mime
		}
		if props["archivename"] && ver.archived != 0 {
			it.ArchiveName = q.m.archiveName(r.f, r.v, ver.faGen)
		}
		items = append(items, it)
		return true
	})
	res.Query = map[string]any{"filearchive": items}
	return res, nil
}

// ---------------------------------------------------------------------
// list=logevents

type logItem struct {
	LogID     *int64          `json:"logid,omitempty"`
	NS        *int            `json:"ns,omitempty"`
	Title     string          `json:"title,omitempty"`
	PageID    *int64          `json:"pageid,omitempty"`
	LogPage   *int64          `json:"logpage,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Type      string          `json:"type,omitempty"`
	Action    string          `json:"action,omitempty"`
	User      string          `json:"user,omitempty"`
	Timestamp string          `json:"timestamp,omitempty"`
	Comment   *string         `json:"comment,omitempty"`
}

// logKinds gives each kind its log type and action.
var logKinds = map[kind][2]string{
	kUpload:     {"upload", "upload"},
	kCreate:     {"create", "create"},
	kOverwrite:  {"upload", "overwrite"},
	kRevert:     {"upload", "revert"},
	kDeleteFile: {"delete", "delete"},
	kDeleteOld:  {"delete", "delete"},
	kHide:       {"delete", "revision"},
	kMove:       {"move", "move"},
}

func (q *request) logEvents() (any, *apiError) {
	if v := q.get("ledir"); v != "newer" {
		return nil, unsupported("ledir=%q (only newer)", v)
	}
	if ns := q.get("lenamespace"); ns != "" && ns != "6" {
		return nil, unsupported("lenamespace=%s (only 6)", ns)
	}
	limits := map[string]int{}
	limit, err := q.limit("lelimit", "logevents", 10, limits)
	if err != nil {
		return nil, err
	}
	props, err := q.props("leprop", "ids|title|type|user|timestamp|comment|details", "ids", "title", "type", "user", "timestamp", "comment", "details")
	if err != nil {
		return nil, err
	}
	letype := q.get("letype")
	pos, notBefore := logPos{}, int64(0)
	if s := q.get("lestart"); s != "" {
		t, perr := time.Parse(time.RFC3339, s)
		if perr != nil {
			return nil, &apiError{"badtimestamp", fmt.Sprintf("Invalid value %q for timestamp parameter lestart.", s)}
		}
		pos, notBefore = q.m.seekTime(t.Unix()), t.Unix()
	}
	if c := q.get("lecontinue"); c != "" {
		ts, idText, ok := strings.Cut(c, "|")
		id, perr := strconv.ParseInt(idText, 10, 64)
		t, terr := time.Parse("20060102150405", ts)
		if !ok || perr != nil || terr != nil {
			return nil, &apiError{"badcontinue", "Invalid continue param. You should pass the original value returned by the previous query."}
		}
		pos, notBefore = q.m.seekID(id), t.Unix()
	}
	res := response{BatchComplete: true, Limits: limits}
	items := []logItem{}
	cache := map[int64]*file{}
	now := func(i int64) *file {
		if f, ok := cache[i]; ok {
			return f
		}
		f := q.m.file(i, q.k)
		cache[i] = f
		return f
	}
	q.m.events(q.k, pos, notBefore, func(e event) bool {
		ta := logKinds[e.kind]
		if letype != "" && ta[0] != letype {
			return true
		}
		if len(items) == limit {
			res.Continue = map[string]string{"lecontinue": ts14(e.ts) + "|" + strconv.FormatInt(e.id, 10), "continue": "-||"}
			return false
		}
		items = append(items, q.logItem(e, ta, props, now(e.i)))
		if len(cache) > 4*limit {
			clear(cache)
		}
		return true
	})
	res.Query = map[string]any{"logevents": items}
	return res, nil
}

// logItem renders event e; f is its file as it is now (at the state
// served), which gives the title's current page id and the versions.
func (q *request) logItem(e event, ta [2]string, props map[string]bool, f *file) logItem {
	name := q.m.name(e.i, e.gen)
	var it logItem
	if props["ids"] {
		id, pageID, logPage := e.id, int64(0), f.pageID()
		switch {
		case e.gen < f.gen:
			pageID = redirectPage + e.i
		case e.gen == f.gen && !f.deleted:
			pageID = f.pageID()
		}
		it.LogID, it.PageID, it.LogPage = &id, &pageID, &logPage
	}
	if props["title"] {
		ns := 6
		it.NS, it.Title = &ns, title(name)
	}
	if props["type"] {
		it.Type, it.Action = ta[0], ta[1]
	}
	if props["user"] {
		it.User = user
	}
	if props["timestamp"] {
		it.Timestamp = iso(e.ts)
	}
	comment := ""
	switch e.kind {
	case kUpload, kCreate:
		comment = "synthetic: initial upload"
	case kOverwrite:
		comment = "synthetic: new version"
	case kRevert:
		comment = "synthetic: revert to an older version"
	case kDeleteFile:
		comment = "synthetic: delete the file"
	case kDeleteOld:
		comment = "Deleted old revision " + q.m.archiveName(f, e.v, e.gen) + ": synthetic: delete an old version"
	case kHide:
		comment = "synthetic: hide the content of an old version"
	case kMove:
		comment = "synthetic: rename"
	}
	if props["comment"] {
		it.Comment = &comment
	}
	if props["details"] {
		it.Params = q.m.params(e, f)
	}
	return it
}

// params renders an event's params object.
func (m *Model) params(e event, f *file) json.RawMessage {
	var p any
	switch e.kind {
	case kUpload, kOverwrite, kRevert:
		v := f.vs[e.v]
		p = map[string]string{"img_sha1": base36(v.c.sha1), "img_timestamp": iso(v.up)}
	case kHide:
		bits := func(b int) map[string]any {
			return map[string]any{"bitmask": b, "content": b == 1, "comment": false, "user": false, "restricted": false}
		}
		p = map[string]any{"type": "oldimage", "ids": []string{ts14(f.vs[e.v].archived)}, "old": bits(0), "new": bits(1)}
	case kMove:
		p = map[string]any{"target_ns": 6, "target_title": title(m.name(e.i, 1)), "suppressredirect": false}
	default:
		return json.RawMessage("{}")
	}
	b, _ := json.Marshal(p)
	return b
}

// base36 is a sha1 as MediaWiki stores it: base 36, 31 digits.
func base36(sum [20]byte) string {
	s, _ := mediawiki.SHA1HexToBase36(hex.EncodeToString(sum[:])) // never fails on 40 hex digits
	return s
}
