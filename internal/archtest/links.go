package archtest

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// A Problem is a link or file reference that leads nowhere.
type Problem struct {
	File   string // relative to the root checked, with slashes
	Line   int
	Target string // the link or reference as written
	Msg    string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Target, p.Msg)
}

var (
	// inline links and images: [text](target "title")
	mdLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// reference definitions: [label]: target
	mdRefDef = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	// URLs, removed before looking for file references
	url = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s)>\]"'` + "`" + `]*`)
	// a file named by its path or name, with an extension that names a
	// document, source or data file of the module; not a suffix (_test.go)
	fileRef = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])((?:\.{1,2}/)?(?:[A-Za-z0-9_*-][A-Za-z0-9_.*-]*/)*[A-Za-z0-9_*-][A-Za-z0-9_.*-]*\.(?:md|go|mod|tmpl|sh))(?:$|[^A-Za-z0-9_/-])`)
	// a path in backquotes
	codeSpan = regexp.MustCompile("`([^`\n]+)`")
	// a placeholder in a path: backends/NAME, *_GOOS.go, PROGRAM.conf.tmpl
	placeholder = regexp.MustCompile(`(?:^|[/_.-])(?:NAME|GOOS|GOARCH|VERSION|PROGRAM|PKG)(?:$|[/_.-])`)
)

// CheckLinks checks the Markdown files and Go comments under root (every
// directory but hidden ones):
//
//   - every relative link of a Markdown file, [text](target) or a
//     reference definition, leads to an existing file or directory, and
//     its #anchor, if any, to a heading of the Markdown file it names;
//   - every file a Markdown text or a Go comment names by a path ending in
//     .md, .go, .mod, .tmpl or .sh, and every path in
//     backquotes that starts with a top-level directory of root
//     (`protocols/internal/h2`, `docs/`), exists: relative to the naming
//     file's directory, to root, or for a bare file name anywhere below
//     the naming file's directory. Fenced code blocks of Markdown are not
//     read; paths with a placeholder (backends/NAME, GOOS) are
//     skipped, and so are globs that match nothing by design (*_linux.go
//     without a directory), and so are the names in outside: files of
//     other projects that the texts name (go-plugin's testing.go).
//
// Files written at run time (.json, .pem, .conf) are not looked for. The
// problems are sorted by file and line.
func CheckLinks(root string, outside ...string) ([]Problem, error) {
	c := &linkChecker{root: root, outside: outside, headings: map[string][]string{}}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			c.topDirs = append(c.topDirs, e.Name())
		}
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".md":
			return c.markdown(path)
		case ".go":
			return c.goFile(path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortProblems(c.problems)
	return c.problems, nil
}

type linkChecker struct {
	root     string
	outside  []string
	topDirs  []string
	headings map[string][]string // Markdown file -> anchors of its headings
	problems []Problem
}

func (c *linkChecker) report(file string, line int, target, msg string) {
	rel, err := filepath.Rel(c.root, file)
	if err != nil {
		rel = file
	}
	c.problems = append(c.problems, Problem{File: filepath.ToSlash(rel), Line: line, Target: target, Msg: msg})
}

// markdown checks one Markdown file.
func (c *linkChecker) markdown(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var code fences
	for i, line := range strings.Split(string(data), "\n") {
		if code.skip(line) {
			continue
		}
		n := i + 1
		var targets []string
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			targets = append(targets, m[1])
		}
		if m := mdRefDef.FindStringSubmatch(line); m != nil {
			targets = append(targets, m[1])
		}
		for _, t := range targets {
			c.link(path, n, t)
		}
		// Links are checked; file references are looked for in the rest.
		rest := mdLink.ReplaceAllString(line, " ")
		if mdRefDef.MatchString(rest) {
			rest = ""
		}
		c.references(path, n, rest)
	}
	return nil
}

// fences follows the fenced code blocks of a Markdown file, line by line.
type fences struct {
	open string // the fence of the block the lines are in (``` or ~~~), or ""
}

// skip reports whether line is a fence or inside a fenced block: code,
// not prose to check.
func (f *fences) skip(line string) bool {
	trimmed := strings.TrimSpace(line)
	if f.open != "" {
		if strings.HasPrefix(trimmed, f.open) {
			f.open = ""
		}
		return true
	}
	for _, fence := range []string{"```", "~~~"} {
		if strings.HasPrefix(trimmed, fence) {
			f.open = fence
			return true
		}
	}
	return false
}

// sortProblems orders problems by file, then line.
func sortProblems(problems []Problem) {
	slices.SortStableFunc(problems, func(a, b Problem) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		return a.Line - b.Line
	})
}

// link checks the target of one Markdown link.
func (c *linkChecker) link(from string, line int, target string) {
	if url.MatchString(target) || strings.HasPrefix(target, "mailto:") {
		return
	}
	file, anchor, _ := strings.Cut(target, "#")
	dest := from
	if file != "" {
		if strings.HasPrefix(file, "/") {
			dest = filepath.Join(c.root, filepath.FromSlash(file))
		} else {
			dest = filepath.Join(filepath.Dir(from), filepath.FromSlash(file))
		}
		if _, err := os.Stat(dest); err != nil {
			c.report(from, line, target, "no such file or directory")
			return
		}
	}
	if anchor == "" || filepath.Ext(dest) != ".md" {
		return
	}
	anchors, err := c.anchors(dest)
	if err != nil {
		c.report(from, line, target, err.Error())
		return
	}
	if !slices.Contains(anchors, anchor) {
		c.report(from, line, target, fmt.Sprintf("no heading with the anchor #%s in %s", anchor, filepath.Base(dest)))
	}
}

// anchors returns the anchors of a Markdown file's headings, as GitHub
// makes them.
func (c *linkChecker) anchors(path string) ([]string, error) {
	if a, ok := c.headings[path]; ok {
		return a, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var anchors []string
	seen := map[string]int{}
	var code fences
	for _, line := range strings.Split(string(data), "\n") {
		if code.skip(line) {
			continue
		}
		text, ok := headingText(line)
		if !ok {
			continue
		}
		a := Slug(text)
		if k := seen[a]; k > 0 {
			anchors = append(anchors, fmt.Sprintf("%s-%d", a, k))
		} else {
			anchors = append(anchors, a)
		}
		seen[a]++
	}
	c.headings[path] = anchors
	return anchors, nil
}

// headingText returns the text of an ATX heading line.
func headingText(line string) (string, bool) {
	if len(line) > 0 && line[0] == ' ' {
		line = strings.TrimLeft(line, " ")
	}
	level := len(line) - len(strings.TrimLeft(line, "#"))
	if level == 0 || level > 6 || (len(line) > level && line[level] != ' ') {
		return "", false
	}
	text := strings.TrimSpace(line[level:])
	text = strings.TrimSpace(strings.TrimRight(text, "#"))
	return text, true
}

// Slug is the anchor GitHub gives a heading: the text with links reduced
// to their text, lower-cased, without punctuation but hyphens and
// underscores, spaces turned into hyphens.
func Slug(heading string) string {
	heading = mdLink.ReplaceAllStringFunc(heading, func(m string) string {
		return m[strings.Index(m, "[")+1 : strings.Index(m, "]")]
	})
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// goFile checks the comments of one Go file.
func (c *linkChecker) goFile(path string) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, g := range f.Comments {
		for _, cm := range g.List {
			line := fset.Position(cm.Pos()).Line
			for i, l := range strings.Split(cm.Text, "\n") {
				c.references(path, line+i, l)
			}
		}
	}
	return nil
}

// references checks the file references of one line of text.
func (c *linkChecker) references(from string, line int, text string) {
	text = url.ReplaceAllString(text, " ")
	seen := map[string]bool{}
	var refs []string
	for _, m := range fileRef.FindAllStringSubmatch(text, -1) {
		if !strings.HasPrefix(m[1], "_") { // a suffix: _test.go, _linux.go
			refs = append(refs, m[1])
		}
	}
	for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
		s := strings.TrimSpace(m[1])
		first, _, ok := strings.Cut(s, "/")
		if ok && !strings.ContainsAny(s, " ()=:,") && slices.Contains(c.topDirs, first) {
			refs = append(refs, s)
		}
	}
	for _, r := range refs {
		if seen[r] {
			continue
		}
		seen[r] = true
		if !c.resolves(from, r) {
			c.report(from, line, r, "names a file that does not exist")
		}
	}
}

// resolves reports whether a reference names an existing file.
func (c *linkChecker) resolves(from, ref string) bool {
	ref = strings.TrimSuffix(ref, "/...")
	ref = strings.TrimSuffix(ref, "/")
	if placeholder.MatchString(ref) || slices.Contains(c.outside, ref) {
		return true
	}
	glob := strings.Contains(ref, "*")
	if glob && !strings.Contains(ref, "/") {
		return true // a pattern, not a file (*_linux.go)
	}
	dir := filepath.Dir(from)
	for _, base := range []string{dir, c.root} {
		p := filepath.Join(base, filepath.FromSlash(ref))
		if glob {
			if m, _ := filepath.Glob(p); len(m) > 0 {
				return true
			}
		} else if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	if strings.Contains(ref, "/") {
		return false
	}
	found := false
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipAll
		}
		if d.Name() == ref {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}
