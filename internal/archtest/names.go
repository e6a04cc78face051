package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The markers around a part of a Markdown file whose names CheckNames
// does not check: a record of names removed or renamed.
const (
	HistoryBegin = "<!-- archtest:history -->"
	HistoryEnd   = "<!-- /archtest:history -->"
)

// Names are the exported names of the module's packages, by package name:
// "Type", "Func", "Var", "Const", and "Type.Method", "Type.Field" for
// the methods and fields of types (interface methods included).
type Names map[string]map[string]bool

// LoadNames parses the non-test Go files under root (hidden and testdata
// directories aside) and collects the exported names of every package but
// main. Packages of the same name are merged.
func LoadNames(root string) (Names, error) {
	names := Names{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if f.Name.Name == "main" {
			return nil
		}
		set := names[f.Name.Name]
		if set == nil {
			set = map[string]bool{}
			names[f.Name.Name] = set
		}
		collect(f, set)
		return nil
	})
	return names, err
}

// collect adds the exported names a file declares.
func collect(f *ast.File, set map[string]bool) {
	add := func(n string) {
		if last := n[strings.LastIndex(n, ".")+1:]; ast.IsExported(last) || last == embeddedMark {
			set[n] = true
		}
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				add(d.Name.Name)
				continue
			}
			add(typeName(d.Recv.List[0].Type) + "." + d.Name.Name)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						add(n.Name)
					}
				case *ast.TypeSpec:
					add(s.Name.Name)
					for _, m := range members(s.Type) {
						add(s.Name.Name + "." + m)
					}
				}
			}
		}
	}
}

// typeName returns the name of a receiver or embedded type: T of T, *T,
// (T), pkg.T, and of a generic T with its type parameters.
func typeName(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.ParenExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.SelectorExpr:
			return t.Sel.Name
		case *ast.Ident:
			return t.Name
		default:
			return ""
		}
	}
}

// members returns the field and method names of a struct or interface
// type, embedded types by their type name.
func members(e ast.Expr) []string {
	var list *ast.FieldList
	switch t := e.(type) {
	case *ast.StructType:
		list = t.Fields
	case *ast.InterfaceType:
		list = t.Methods
	default:
		return nil
	}
	var out []string
	for _, f := range list.List {
		for _, n := range f.Names {
			out = append(out, n.Name)
		}
		if len(f.Names) == 0 { // embedded: its name, and a mark
			out = append(out, typeName(f.Type), embeddedMark)
		}
	}
	return out
}

// has reports whether pkg declares name ("Name" or "Type.Member").
func (n Names) has(pkg, name string) bool {
	return n[pkg][name]
}

// qualified matches pkg.Name and pkg.Type.Member.
var qualified = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./])([a-z][a-z0-9]*)\.([A-Z][A-Za-z0-9_]*)(\*|\.[A-Z][A-Za-z0-9_]*)?`)

// docLink matches a Go doc link to a name of the comment's own package:
// a name, a pointer to one or a Type.Member in square brackets.
var docLink = regexp.MustCompile(`(?:^|[^A-Za-z0-9_\]])(\[\*?([A-Z][A-Za-z0-9_]*)(?:\.([A-Z][A-Za-z0-9_]*))?\])`)

// CheckNames reports every name of a module package, written pkg.Name or
// pkg.Type.Member (pkg.Prefix* for a family of names), that the Markdown
// files (outside fenced code blocks) and Go comments under root mention
// but the package does not declare, and every Go doc link (a name or
// Type.Member in square brackets) of a comment to a name its own package
// does not declare: names a rename or a removal left behind. Lines
// between HistoryBegin and HistoryEnd (a list of removed names, say) are
// not checked. Only packages named by names
// are checked (net/http's http.Transport is not); pkg.Type.Member is
// accepted when Type declares Member, or when Type embeds another type
// (promoted members are not followed).
func CheckNames(root string, names Names) ([]Problem, error) {
	c := &linkChecker{root: root}
	check := func(from, own string, line int, text string) {
		text = url.ReplaceAllString(text, " ")
		if names[own] != nil {
			for _, m := range docLink.FindAllStringSubmatch(text, -1) {
				name, member := m[2], m[3]
				switch {
				case !names.has(own, name):
					c.report(from, line, m[1], fmt.Sprintf("doc link: package %s declares no %s", own, name))
				case member != "" && !names.has(own, name+"."+member) && !embeds(names[own], name):
					c.report(from, line, m[1], fmt.Sprintf("doc link: %s.%s has no field or method %s", own, name, member))
				}
			}
		}
		for _, m := range qualified.FindAllStringSubmatch(text, -1) {
			pkg, name, member := m[1], m[2], strings.TrimPrefix(m[3], ".")
			if names[pkg] == nil {
				continue
			}
			ref := pkg + "." + name
			if member == "*" {
				if !slices.ContainsFunc(slices.Collect(maps.Keys(names[pkg])), func(n string) bool { return strings.HasPrefix(n, name) }) {
					c.report(from, line, ref+"*", fmt.Sprintf("package %s declares no name starting with %s", pkg, name))
				}
				continue
			}
			if !names.has(pkg, name) {
				c.report(from, line, ref, fmt.Sprintf("package %s declares no %s", pkg, name))
				continue
			}
			if member != "" && !names.has(pkg, name+"."+member) && !embeds(names[pkg], name) {
				c.report(from, line, ref+"."+member, fmt.Sprintf("%s.%s has no field or method %s", pkg, name, member))
			}
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
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
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var code fences
			history := false
			for i, line := range strings.Split(string(data), "\n") {
				switch strings.TrimSpace(line) {
				case HistoryBegin:
					history = true
				case HistoryEnd:
					history = false
				}
				if history {
					continue
				}
				if code.skip(line) {
					continue
				}
				check(path, "", i+1, line)
			}
		case ".go":
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for _, g := range f.Comments {
				for _, cm := range g.List {
					line := fset.Position(cm.Pos()).Line
					for i, l := range strings.Split(cm.Text, "\n") {
						check(path, f.Name.Name, line+i, l)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortProblems(c.problems)
	return c.problems, nil
}

// embeddedMark is recorded as Type.embeddedMark for a type that embeds
// another, whose members are promoted.
const embeddedMark = "(embeds)"

// embeds reports whether type t embeds another type.
func embeds(set map[string]bool, t string) bool {
	return set[t+"."+embeddedMark]
}
