// Command apicount lists and counts the exported identifiers of every
// package in the module, so that an API change can be measured.
//
// Usage, from the module root:
//
//	go run ./internal/tools/apicount            # one line per package: counts
//	go run ./internal/tools/apicount -list      # every exported name too
//
// What it counts, in the non-test .go files of each directory (every
// GOOS/GOARCH file; a name declared in several platform files counts once):
//
//   - func: exported top-level functions;
//   - type: exported top-level types;
//   - var, const: exported top-level variables and constants;
//   - method: exported methods whose receiver is an exported type, and the
//     exported methods of exported interface types;
//   - field: exported fields (embedded ones included) of exported struct
//     types.
//
// Packages named main, test-only directories, testdata and the bench
// module (its own go.mod) are skipped. Methods and fields of unexported
// types are not counted: a caller can reach them only through an
// interface or a value returned by the package, not by name.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

var kinds = []string{"func", "type", "var", "const", "method", "field"}

type pkgAPI struct {
	dir   string
	names map[string]string // qualified name -> kind
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command with its arguments and outputs, returning the exit
// status: 0, 1 when the tree cannot be read, 2 for bad arguments.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("apicount", flag.ContinueOnError)
	fl.SetOutput(stderr)
	list := fl.Bool("list", false, "list every exported name")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	root := "."
	if fl.NArg() > 0 {
		root = fl.Arg(0)
	}
	pkgs, err := scan(root)
	if err != nil {
		fmt.Fprintln(stderr, "apicount:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%-40s %5s %5s %5s %5s %6s %5s %5s\n", "package", "func", "type", "var", "const", "method", "field", "total")
	sum := map[string]int{}
	for _, p := range pkgs {
		c := map[string]int{}
		for _, k := range p.names {
			c[k]++
			sum[k]++
		}
		fmt.Fprintf(stdout, "%-40s %5d %5d %5d %5d %6d %5d %5d\n", p.dir, c["func"], c["type"], c["var"], c["const"], c["method"], c["field"], len(p.names))
	}
	total := 0
	for _, k := range kinds {
		total += sum[k]
	}
	fmt.Fprintf(stdout, "%-40s %5d %5d %5d %5d %6d %5d %5d\n", "TOTAL", sum["func"], sum["type"], sum["var"], sum["const"], sum["method"], sum["field"], total)
	if *list {
		for _, p := range pkgs {
			fmt.Fprintf(stdout, "\n%s\n", p.dir)
			names := make([]string, 0, len(p.names))
			for n := range p.names {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(stdout, "  %-6s %s\n", p.names[n], n)
			}
		}
	}
	return 0
}

func scan(root string) ([]pkgAPI, error) {
	var pkgs []pkgAPI
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		base := d.Name()
		if path != root {
			if base == "testdata" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module (bench/)
			}
		}
		p, ok, err := parseDir(path)
		if err != nil {
			return err
		}
		if ok {
			rel, _ := filepath.Rel(root, path)
			p.dir = filepath.ToSlash(rel)
			pkgs = append(pkgs, p)
		}
		return nil
	})
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].dir < pkgs[j].dir })
	return pkgs, err
}

func parseDir(dir string) (pkgAPI, bool, error) {
	p := pkgAPI{names: map[string]string{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return p, false, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			return p, false, err
		}
		if f.Name.Name == "main" {
			return p, false, nil
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return p, false, nil
	}
	exportedType := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
				for _, s := range g.Specs {
					if ts := s.(*ast.TypeSpec); ts.Name.IsExported() {
						exportedType[ts.Name.Name] = true
					}
				}
			}
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					p.names[d.Name.Name] = "func"
					continue
				}
				if r := recvName(d.Recv.List[0].Type); exportedType[r] {
					p.names[r+"."+d.Name.Name] = "method"
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								p.names[n.Name] = d.Tok.String()
							}
						}
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						p.names[s.Name.Name] = "type"
						members(p.names, s.Name.Name, s.Type)
					}
				}
			}
		}
	}
	return p, true, nil
}

func members(names map[string]string, typ string, t ast.Expr) {
	switch t := t.(type) {
	case *ast.StructType:
		for _, f := range t.Fields.List {
			if len(f.Names) == 0 {
				if n := recvName(f.Type); ast.IsExported(n) {
					names[typ+"."+n] = "field"
				}
			}
			for _, n := range f.Names {
				if n.IsExported() {
					names[typ+"."+n.Name] = "field"
				}
			}
		}
	case *ast.InterfaceType:
		for _, m := range t.Methods.List {
			for _, n := range m.Names {
				if n.IsExported() {
					names[typ+"."+n.Name] = "method"
				}
			}
		}
	}
}

// recvName returns the type name of a receiver or embedded field
// expression: T, *T, T[P], pkg.T.
func recvName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return recvName(e.X)
	case *ast.IndexExpr:
		return recvName(e.X)
	case *ast.IndexListExpr:
		return recvName(e.X)
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}
