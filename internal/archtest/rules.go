package archtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The markers around the rules in docs/ARCHITECTURE.md.
const (
	RulesBegin = "<!-- archtest:rules -->"
	RulesEnd   = "<!-- /archtest:rules -->"
	// OutsidePrefix starts the line of the rules block that lists the
	// packages outside the module whose importers the rules restrict too.
	OutsidePrefix = "Outside packages the rules cover:"
)

// A Rule is a row of the rules table: the packages it covers and what they
// may import. Module packages are written relative to the module's path
// (transport, protocols/h1); outside packages by their import path. A
// pattern ending in "/..." also covers every package below it.
type Rule struct {
	Line     int      // line of the row in the document, from 1
	Packages []string // patterns of the packages the row covers
	Allowed  []string // patterns of what they may import
}

// Rules are the import rules of a document.
type Rules struct {
	Rows []Rule
	// Outside are the patterns of packages outside the module that only
	// the rows allowing them may import. Other outside packages (the
	// standard library, most dependencies) are not checked.
	Outside []string
}

// ErrNoRules is returned by ParseRules for a document without a complete
// rules block or table.
var ErrNoRules = errors.New("archtest: no import rules")

// ParseRules reads the rules block of a document: a Markdown table whose
// header has a column "package" and a column starting with "may import",
// whose cells list patterns in backquotes (a cell without any allows
// nothing), and a line starting with OutsidePrefix.
func ParseRules(doc []byte) (Rules, error) {
	var r Rules
	lines := strings.Split(string(doc), "\n")
	begin, end := -1, -1
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case RulesBegin:
			begin = i
		case RulesEnd:
			end = i
		}
	}
	if begin < 0 || end < begin {
		return r, fmt.Errorf("%w: markers %s ... %s not found", ErrNoRules, RulesBegin, RulesEnd)
	}
	pkgCol, impCol := -1, -1
	for i := begin + 1; i < end; i++ {
		l := strings.TrimSpace(lines[i])
		if rest, ok := strings.CutPrefix(l, OutsidePrefix); ok {
			r.Outside = append(r.Outside, codeSpans(rest)...)
			continue
		}
		if !strings.HasPrefix(l, "|") {
			continue
		}
		cells := tableCells(l)
		if pkgCol < 0 {
			for j, c := range cells {
				switch {
				case strings.EqualFold(c, "package"):
					pkgCol = j
				case strings.HasPrefix(strings.ToLower(c), "may import"):
					impCol = j
				}
			}
			if pkgCol < 0 || impCol < 0 {
				return r, fmt.Errorf("%w: line %d: the table's header needs the columns \"package\" and \"may import\"", ErrNoRules, i+1)
			}
			continue
		}
		if strings.Trim(l, "|-: ") == "" {
			continue // the delimiter row
		}
		if len(cells) <= max(pkgCol, impCol) {
			return r, fmt.Errorf("archtest: line %d: %d cells, want %d", i+1, len(cells), max(pkgCol, impCol)+1)
		}
		row := Rule{Line: i + 1, Packages: codeSpans(cells[pkgCol]), Allowed: codeSpans(cells[impCol])}
		if len(row.Packages) == 0 {
			return r, fmt.Errorf("archtest: line %d: no package in backquotes", i+1)
		}
		r.Rows = append(r.Rows, row)
	}
	if len(r.Rows) == 0 {
		return r, fmt.Errorf("%w: the block has no table rows", ErrNoRules)
	}
	return r, nil
}

// tableCells splits a Markdown table row into its trimmed cells.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	cells := strings.Split(line, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// codeSpans returns the texts between backquotes.
func codeSpans(s string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(s, "`")
		if !ok {
			return out
		}
		span, after, ok := strings.Cut(rest, "`")
		if !ok {
			return out
		}
		out = append(out, strings.TrimSpace(span))
		s = after
	}
}

// Match reports whether pattern covers path: they are equal, or the
// pattern ends in "/..." and path is its prefix or below it.
func Match(pattern, path string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return pattern == path
}

// specificity ranks the patterns that match a path: an exact pattern
// beats every "/..." pattern, and a longer "/..." pattern a shorter one.
func specificity(pattern string) int {
	if strings.HasSuffix(pattern, "/...") {
		return len(pattern)
	}
	return 1 << 20
}

// RuleFor returns the row that governs a module package (relative path):
// the one with the most specific matching pattern. ok is false when no row
// covers the package.
func (r Rules) RuleFor(pkg string) (rule Rule, ok bool) {
	best := -1
	for _, row := range r.Rows {
		for _, p := range row.Packages {
			if Match(p, pkg) && specificity(p) > best {
				best, rule, ok = specificity(p), row, true
			}
		}
	}
	return rule, ok
}

// A Package is what the checks need of go list's description of a
// package.
type Package struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
}

// ListPackages runs go list in dir for the patterns and returns the
// packages (their non-test files and imports).
func ListPackages(ctx context.Context, dir string, patterns ...string) ([]Package, error) {
	args := append([]string{"list", "-json=ImportPath,Dir,GoFiles,CgoFiles,Imports"}, patterns...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return decodePackages(out)
}

// decodePackages decodes go list -json's stream of objects.
func decodePackages(out []byte) ([]Package, error) {
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		err := dec.Decode(&p)
		if err == io.EOF {
			return pkgs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}

// A Violation is an import the rules do not allow, a package no row
// covers, or an allowance nothing uses.
type Violation struct {
	Package string // relative to the module, or "" for an unused allowance
	Import  string // the import, relative when inside the module
	Where   string // file:line of the import, when known
	Rule    Rule   // the row concerned (zero when no row covers the package)
	Msg     string // what is wrong, in full
}

func (v Violation) String() string { return v.Msg }

// CheckImports checks the packages of module against the rules: every
// package has a row; every import of a module package, and of an outside
// package the rules cover, is allowed by the package's row; every pattern
// of every row is used. The violations come in a stable order.
func CheckImports(module string, pkgs []Package, r Rules) []Violation {
	var vs []Violation
	used := map[int]map[string]bool{} // row line -> allowed pattern -> used
	coveredRow := map[int]bool{}
	for _, p := range pkgs {
		rel, ok := relative(module, p.ImportPath)
		if !ok {
			continue
		}
		row, ok := r.RuleFor(rel)
		if !ok {
			vs = append(vs, Violation{Package: rel, Msg: fmt.Sprintf(
				"package %s is not in the import rules of docs/ARCHITECTURE.md: add a row for it (or a pattern covering it)", rel)})
			continue
		}
		coveredRow[row.Line] = true
		if used[row.Line] == nil {
			used[row.Line] = map[string]bool{}
		}
		for _, imp := range p.Imports {
			name, inModule := relative(module, imp)
			if !inModule && !slices.ContainsFunc(r.Outside, func(o string) bool { return Match(o, imp) }) {
				continue
			}
			i := slices.IndexFunc(row.Allowed, func(a string) bool { return Match(a, name) })
			if i >= 0 {
				used[row.Line][row.Allowed[i]] = true
				continue
			}
			where := importPos(p, imp)
			vs = append(vs, Violation{Package: rel, Import: name, Where: where, Rule: row, Msg: fmt.Sprintf(
				"%s imports %s (%s), which docs/ARCHITECTURE.md line %d (%s) does not allow; it allows %s",
				rel, name, where, row.Line, strings.Join(row.Packages, ", "), allowedList(row.Allowed))})
		}
	}
	for _, row := range r.Rows {
		if !coveredRow[row.Line] {
			vs = append(vs, Violation{Rule: row, Msg: fmt.Sprintf(
				"docs/ARCHITECTURE.md line %d: no package is governed by the row %s: remove it or fix its name",
				row.Line, strings.Join(row.Packages, ", "))})
			continue
		}
		for _, a := range row.Allowed {
			if !used[row.Line][a] {
				vs = append(vs, Violation{Import: a, Rule: row, Msg: fmt.Sprintf(
					"docs/ARCHITECTURE.md line %d: %s may import %s, but none does: remove the allowance",
					row.Line, strings.Join(row.Packages, ", "), a)})
			}
		}
	}
	return vs
}

func allowedList(a []string) string {
	if len(a) == 0 {
		return "nothing of the module"
	}
	return strings.Join(a, ", ")
}

// relative returns path relative to module, and whether it is in it.
func relative(module, path string) (string, bool) {
	if path == module {
		return ".", true
	}
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok
}

// importPos finds the file and line of the package's import of imp.
func importPos(p Package, imp string) string {
	fset := token.NewFileSet()
	for _, name := range slices.Concat(p.GoFiles, p.CgoFiles) {
		path := filepath.Join(p.Dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			continue
		}
		for _, s := range f.Imports {
			if v, err := strconv.Unquote(s.Path.Value); err == nil && v == imp {
				pos := fset.Position(s.Pos())
				return fmt.Sprintf("%s:%d", pos.Filename, pos.Line)
			}
		}
	}
	return "position unknown"
}
