//go:build linux

package plugins_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// nobody is the uid the ownership tests give files to: neither root nor
// the user running the tests.
const nobody = 65534

// mkdirMode makes directory path with mode, whatever the umask.
func mkdirMode(t testing.TB, path string, mode fs.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// plantPlugin copies the test plugin into dir as
// transportkit-backend-NAME, mode 0755, and returns its path.
func plantPlugin(t testing.TB, dir, name string) string {
	t.Helper()
	path, err := copyFile(testPluginPath, filepath.Join(dir, "transportkit-backend-"+name), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// evilPlugin writes, into dir, a script named transportkit-backend-NAME
// that creates the file marker when it runs, and returns its path.
func evilPlugin(t testing.TB, dir, name, marker string) string {
	t.Helper()
	path := filepath.Join(dir, "transportkit-backend-"+name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho ran > "+marker+"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// notRan fails t if the evil plugin that writes marker ran.
func notRan(t testing.TB, marker string) {
	t.Helper()
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the planted binary ran (%s exists)", marker)
	}
}

// needRoot skips t unless it runs as root, which chown needs.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root")
	}
}

// launchPlugin opens the plugin at path and launches it (Describe).
func launchPlugin(t testing.TB, p plugins.Plugin) (*plugins.Backend, plugins.Description, error) {
	t.Helper()
	b, err := plugins.Open(p, transport.Options{})
	if err != nil {
		return nil, plugins.Description{}, err
	}
	t.Cleanup(func() { b.Close() })
	desc, err := b.Describe(dialCtx(t))
	return b, desc, err
}

// wantRefused checks that err is a *PermissionError for the entry at
// path with the owner uid.
func wantRefused(t testing.TB, err error, path string, uid int) {
	t.Helper()
	var pe *plugins.PermissionError
	if !errors.Is(err, plugins.ErrInsecureBinary) || !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *plugins.PermissionError matching ErrInsecureBinary", err)
	}
	if pe.Path != path || pe.UID != uid {
		t.Errorf("PermissionError for %s (uid %d), want %s (uid %d): %v", pe.Path, pe.UID, path, uid, err)
	}
	t.Log(err)
}

// checkedEverywhere checks that the plugin at path is refused the same
// way by Check, Open, Verify and the registry's listing.
func checkedEverywhere(t testing.TB, path string, refused string, uid int) {
	t.Helper()
	p := plugins.Plugin{Name: strings.TrimPrefix(filepath.Base(path), "transportkit-backend-"), Path: path}
	wantRefused(t, p.Check(), refused, uid)
	_, err := plugins.Open(p, transport.Options{})
	wantRefused(t, err, refused, uid)
	_, err = plugins.Verify(dialCtx(t), path, plugins.VerifyOptions{})
	wantRefused(t, err, refused, uid)
	d := p.Driver()
	if d.Details["refused"] == "" || !errors.Is(d.Available(), plugins.ErrInsecureBinary) || !errors.Is(d.Available(), transport.ErrUnavailable) {
		t.Errorf("registry entry: refused %q, Available %v; want the refusal", d.Details["refused"], d.Available())
	}
}

// TestTrustDirectories: a directory on the way to the binary that group
// or others can write refuses the plugin, unless it is sticky and not
// the binary's own directory.
func TestTrustDirectories(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		name     string
		parent   fs.FileMode // of root/NAME
		dir      fs.FileMode // of root/NAME/plugins, which holds the binary
		refused  string      // "parent", "dir" or "" (started)
		sticky   bool
		holdsBin bool
	}{
		{name: "parent-world-writable", parent: 0o777, dir: 0o755, refused: "parent"},
		{name: "parent-group-writable", parent: 0o775, dir: 0o755, refused: "parent"},
		{name: "dir-world-writable", parent: 0o755, dir: 0o757, refused: "dir"},
		{name: "dir-sticky", parent: 0o755, dir: 0o777 | fs.ModeSticky, refused: "dir"},
		{name: "parent-sticky", parent: 0o777 | fs.ModeSticky, dir: 0o755},
		{name: "safe", parent: 0o755, dir: 0o700},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := mkdirMode(t, filepath.Join(root, tc.name), 0o755)
			dir := mkdirMode(t, filepath.Join(parent, "plugins"), 0o755)
			path := plantPlugin(t, dir, "test")
			mkdirMode(t, dir, tc.dir)
			mkdirMode(t, parent, tc.parent)
			switch tc.refused {
			case "parent":
				checkedEverywhere(t, path, parent, os.Geteuid())
			case "dir":
				checkedEverywhere(t, path, dir, os.Geteuid())
			default:
				if _, desc, err := launchPlugin(t, plugins.Plugin{Name: "test", Path: path}); err != nil || desc.RealPath != path {
					t.Fatalf("launch: %v, real path %q; want it started from %s", err, desc.RealPath, path)
				}
			}
		})
	}
}

// TestTrustOwner: a binary, or a directory on the way to it, owned by
// another user than root and the one running the host refuses the plugin,
// even with safe modes.
func TestTrustOwner(t *testing.T) {
	needRoot(t)
	t.Run("binary", func(t *testing.T) {
		path := plantPlugin(t, t.TempDir(), "test")
		if err := os.Chown(path, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		checkedEverywhere(t, path, path, nobody)
	})
	t.Run("directory", func(t *testing.T) {
		dir := mkdirMode(t, filepath.Join(t.TempDir(), "plugins"), 0o755)
		path := plantPlugin(t, dir, "test")
		if err := os.Chown(dir, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		checkedEverywhere(t, path, dir, nobody)
	})
}

// TestTrustSymlink: a symbolic link out of the plugin directory is
// followed, and the rules apply at the binary's real location (every
// directory on the way there and the link itself included); the binary
// that runs is the real one.
func TestTrustSymlink(t *testing.T) {
	pluginDir := t.TempDir()
	elsewhere := mkdirMode(t, filepath.Join(t.TempDir(), "vendor", "bin"), 0o755)
	real := plantPlugin(t, elsewhere, "test-1.2")

	t.Run("safe", func(t *testing.T) {
		link := filepath.Join(pluginDir, "transportkit-backend-test")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		b, desc, err := launchPlugin(t, plugins.Plugin{Name: "test", Path: link})
		if err != nil {
			t.Fatal(err)
		}
		if desc.Path != link || desc.RealPath != real {
			t.Errorf("Describe: path %q, real path %q; want %s and %s", desc.Path, desc.RealPath, link, real)
		}
		if exe, err := os.Readlink("/proc/" + strconv.Itoa(plugins.PID(b)) + "/exe"); err != nil || exe != real {
			t.Errorf("the plugin process runs %q (%v), want %s", exe, err, real)
		}
		if d := (plugins.Plugin{Name: "test", Path: link}).Driver(); d.Details["real_path"] != real || d.Available() != nil {
			t.Errorf("registry entry %+v, available %v; want real_path %s", d.Details, d.Available(), real)
		}
	})
	t.Run("unsafe-target-dir", func(t *testing.T) {
		open := mkdirMode(t, filepath.Join(t.TempDir(), "open"), 0o777)
		target := plantPlugin(t, open, "x")
		link := filepath.Join(t.TempDir(), "transportkit-backend-x")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		checkedEverywhere(t, link, open, os.Geteuid())
	})
	t.Run("relative-link-through-unsafe-dir", func(t *testing.T) {
		// plugins/transportkit-backend-y -> ../shared/y, where shared is
		// world-writable and sticky: fine on the way, not as the holder.
		base := t.TempDir()
		shared := mkdirMode(t, filepath.Join(base, "shared"), 0o777|fs.ModeSticky)
		plantPlugin(t, shared, "y")
		dir := mkdirMode(t, filepath.Join(base, "plugins"), 0o755)
		link := filepath.Join(dir, "transportkit-backend-y")
		if err := os.Symlink("../shared/transportkit-backend-y", link); err != nil {
			t.Fatal(err)
		}
		checkedEverywhere(t, link, shared, os.Geteuid())
	})
	t.Run("foreign-link", func(t *testing.T) {
		needRoot(t)
		link := filepath.Join(t.TempDir(), "transportkit-backend-z")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(link, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		checkedEverywhere(t, link, link, nobody)
	})
	t.Run("foreign-target", func(t *testing.T) {
		needRoot(t)
		target := plantPlugin(t, t.TempDir(), "w")
		if err := os.Chown(target, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(t.TempDir(), "transportkit-backend-w")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		checkedEverywhere(t, link, target, nobody)
	})
	t.Run("loop", func(t *testing.T) {
		dir := t.TempDir()
		link := filepath.Join(dir, "transportkit-backend-loop")
		if err := os.Symlink("transportkit-backend-loop", link); err != nil {
			t.Fatal(err)
		}
		if err := (plugins.Plugin{Name: "loop", Path: link}).Check(); err == nil || errors.Is(err, plugins.ErrInsecureBinary) {
			t.Errorf("a symlink loop: %v, want an error", err)
		}
	})
}

// TestTrustRelativePath: a relative directory in TRANSPORTKIT_PLUGIN_PATH
// is refused, with the reason, and nothing is started, neither the
// binary in the working directory nor one of the same name in $PATH. A
// relative plugins.dirs entry is taken from the config file's directory,
// and a relative path given to Verify from the working directory; in both
// cases that binary, and no other, runs.
func TestTrustRelativePath(t *testing.T) {
	work := t.TempDir()
	plantPlugin(t, work, "rel")
	marker := filepath.Join(t.TempDir(), "ran")
	evilDir := t.TempDir()
	evilPlugin(t, evilDir, "rel", marker)
	t.Setenv("PATH", evilDir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	t.Chdir(work)

	t.Run("env", func(t *testing.T) {
		t.Setenv(registry.EnvPluginPath, ".")
		infos, err := registry.List(nil)
		if err != nil {
			t.Fatal(err)
		}
		var in registry.Info
		for _, i := range infos {
			if i.Name == "plugin:rel" {
				in = i
			}
		}
		if in.Name == "" || in.Available || !strings.Contains(in.Details["refused"], "relative") || !strings.Contains(in.Reason, registry.EnvPluginPath) {
			t.Errorf("plugin:rel listed as %+v, want refused as relative, naming %s", in, registry.EnvPluginPath)
		}
		b, err := registry.Open("plugin:rel", transport.Options{})
		if err == nil {
			b.Dial(dialCtx(t), "tcp", "127.0.0.1:1")
			b.Close()
		}
		if !errors.Is(err, plugins.ErrRelativePath) {
			t.Errorf("registry.Open: %v, want ErrRelativePath", err)
		}
		notRan(t, marker)
	})

	t.Run("config", func(t *testing.T) {
		if err := os.WriteFile("tk.json", []byte(`{"plugins": {"dirs": ["."]}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := registry.LoadConfig("tk.json")
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Plugins.Dirs) != 1 || cfg.Plugins.Dirs[0] != work {
			t.Fatalf("plugins.dirs [\".\"] in %s/tk.json loaded as %q, want [%s]", work, cfg.Plugins.Dirs, work)
		}
		b, _, err := registry.Select(registry.Selection{Name: "plugin:rel", Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		pb, ok := b.(*plugins.Backend)
		if !ok {
			t.Fatalf("plugin:rel opened as %T", b)
		}
		desc, err := pb.Describe(dialCtx(t))
		if err != nil || desc.Name != "test" || desc.RealPath != filepath.Join(work, "transportkit-backend-rel") {
			t.Errorf("Describe: %+v, %v; want the test plugin from %s", desc, err, work)
		}
		notRan(t, marker)
	})

	t.Run("verify", func(t *testing.T) {
		desc, err := plugins.Verify(dialCtx(t), "transportkit-backend-rel", plugins.VerifyOptions{})
		if err != nil || desc.Name != "test" || desc.Path != filepath.Join(work, "transportkit-backend-rel") {
			t.Errorf("Verify: %+v, %v; want the test plugin from %s", desc, err, work)
		}
		notRan(t, marker)
	})

	t.Run("plugin", func(t *testing.T) {
		err := plugins.Plugin{Name: "rel", Path: "transportkit-backend-rel"}.Check()
		if !errors.Is(err, plugins.ErrRelativePath) {
			t.Errorf("Check of a relative path: %v, want ErrRelativePath", err)
		}
	})
}

// TestTrustSwap replaces the binary between its check and the start of
// the process: the file that was checked is the one that runs. A binary
// written to in place in that window is refused.
func TestTrustSwap(t *testing.T) {
	t.Run("rename", func(t *testing.T) {
		dir := t.TempDir()
		path := plantPlugin(t, dir, "test")
		marker := filepath.Join(t.TempDir(), "ran")
		evil := evilPlugin(t, t.TempDir(), "evil", marker)
		if os.Geteuid() == 0 {
			os.Chown(evil, nobody, nobody) // a binary the rules would refuse
		}
		defer plugins.SetTestHookOpened(func(string) {
			if err := os.Rename(evil, path); err != nil {
				t.Error(err)
			}
		})()
		_, desc, err := launchPlugin(t, plugins.Plugin{Name: "test", Path: path, Checksum: testSum(t)})
		if err != nil || desc.Name != "test" || desc.SHA256 != testSum(t) {
			t.Errorf("launch: %+v, %v; want the test plugin that was checked", desc, err)
		}
		notRan(t, marker)
	})
	t.Run("in-place", func(t *testing.T) {
		path := plantPlugin(t, t.TempDir(), "test")
		defer plugins.SetTestHookOpened(func(string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write([]byte("appended"))
			f.Close()
		})()
		_, _, err := launchPlugin(t, plugins.Plugin{Name: "test", Path: path})
		if !errors.Is(err, plugins.ErrBinaryChanged) {
			t.Errorf("launch of a binary written during the launch: %v, want ErrBinaryChanged", err)
		}
	})
	t.Run("in-place-pinned", func(t *testing.T) {
		path := plantPlugin(t, t.TempDir(), "test")
		defer plugins.SetTestHookOpened(func(string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			// Same size, and the modification time put back: only the
			// second hash can tell.
			fi, _ := f.Stat()
			last := make([]byte, 1)
			if r, err := os.Open(path); err == nil {
				r.ReadAt(last, fi.Size()-1)
				r.Close()
			}
			f.WriteAt([]byte{^last[0]}, fi.Size()-1)
			f.Close()
			os.Chtimes(path, fi.ModTime(), fi.ModTime())
		})()
		_, _, err := launchPlugin(t, plugins.Plugin{Name: "test", Path: path, Checksum: testSum(t)})
		if !errors.Is(err, plugins.ErrBinaryChanged) {
			t.Errorf("launch of a pinned binary written during the launch: %v, want ErrBinaryChanged", err)
		}
	})
	t.Run("verify", func(t *testing.T) {
		path := plantPlugin(t, t.TempDir(), "test")
		marker := filepath.Join(t.TempDir(), "ran")
		evil := evilPlugin(t, t.TempDir(), "evil", marker)
		defer plugins.SetTestHookOpened(func(string) { os.Rename(evil, path) })()
		desc, err := plugins.Verify(context.Background(), path, plugins.VerifyOptions{})
		if err != nil || desc.SHA256 != testSum(t) {
			t.Errorf("Verify: %+v, %v; want the test plugin that was checked", desc, err)
		}
		notRan(t, marker)
	})
}
