package plugins

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// This file holds the trust rules (see the package doc, "Trust"): which
// plugin binaries the host agrees to run, and how it makes sure that the
// file it checked is the file that runs.

// maxSymlinks bounds the symbolic links followed to reach a binary, as
// the kernel's own limit (ELOOP) does.
const maxSymlinks = 40

// trustedOwner reports whether uid may own a plugin binary or an entry on
// the way to it: root, or the user running the host.
func trustedOwner(uid int) bool { return uid == 0 || uid == os.Geteuid() }

// othersWrite reports whether group or others may write to an entry of
// mode m.
func othersWrite(m fs.FileMode) bool { return m.Perm()&0o022 != 0 }

// modeBits keeps the bits of m that PermissionError reports.
func modeBits(m fs.FileMode) fs.FileMode { return m & (fs.ModeType | fs.ModePerm | fs.ModeSticky) }

// resolveTrusted follows path from the root, one entry at a time and
// symbolic links included, as the kernel does to execute it, and checks
// every entry on the way: each must be owned by root or by the user
// running the host, and no directory may be writable by group or others
// unless it is sticky (then others cannot replace the entry below it,
// which is checked in turn). The directory that holds the binary itself
// may not be writable by them at all. It returns the binary's real path:
// absolute, without symbolic links. The binary itself is checked by
// checkBinary, on the file that is opened. path must be absolute.
func resolveTrusted(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", relativeError(path)
	}
	fi, err := os.Lstat("/")
	if err != nil {
		return "", fmt.Errorf("plugins: %w", err)
	}
	if err := checkEntry(fi, "/", path); err != nil {
		return "", err
	}
	real := "/"
	pending := splitPath(path)
	links := 0
	for len(pending) > 0 {
		name := pending[0]
		pending = pending[1:]
		switch name {
		case ".":
			continue
		case "..":
			real = filepath.Dir(real)
			continue
		}
		next := filepath.Join(real, name)
		fi, err := os.Lstat(next)
		if err != nil {
			return "", fmt.Errorf("plugins: %w", err)
		}
		if err := checkEntry(fi, next, path); err != nil {
			return "", err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if links++; links > maxSymlinks {
				return "", fmt.Errorf("plugins: %s: %w", path, &fs.PathError{Op: "resolve", Path: next, Err: syscall.ELOOP})
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", fmt.Errorf("plugins: %w", err)
			}
			if filepath.IsAbs(target) {
				real = "/"
			}
			pending = append(splitPath(target), pending...)
		case fi.IsDir():
			real = next
		case len(pending) > 0:
			return "", fmt.Errorf("plugins: %s: %w", path, &fs.PathError{Op: "resolve", Path: next, Err: syscall.ENOTDIR})
		default:
			real = next
		}
	}
	if real == "/" {
		return "", &NotPluginError{Path: path, Reason: "not a regular file"}
	}
	dir := filepath.Dir(real)
	if fi, err := os.Lstat(dir); err != nil {
		return "", fmt.Errorf("plugins: %w", err)
	} else if othersWrite(fi.Mode()) {
		return "", &PermissionError{Path: dir, Plugin: path, Mode: modeBits(fi.Mode()), UID: fileOwner(fi), Holder: true}
	}
	return real, nil
}

// splitPath returns the names in path, without empty ones.
func splitPath(path string) []string {
	var names []string
	for _, n := range strings.Split(path, "/") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names
}

// checkEntry checks one entry on the way to plugin: its owner, and for a
// directory that is not sticky, that group and others cannot write it.
// (The permission bits of a symbolic link mean nothing; the binary's are
// checked by checkBinary.)
func checkEntry(fi fs.FileInfo, path, plugin string) error {
	uid := fileOwner(fi)
	refuse := !trustedOwner(uid) ||
		(fi.IsDir() && othersWrite(fi.Mode()) && fi.Mode()&fs.ModeSticky == 0)
	if refuse {
		return &PermissionError{Path: path, Plugin: plugin, Mode: modeBits(fi.Mode()), UID: uid}
	}
	return nil
}

// checkBinary checks the binary at its real path real: a regular file,
// owned by root or the user running the host, that group and others
// cannot write.
func checkBinary(fi fs.FileInfo, real, plugin string) error {
	if !fi.Mode().IsRegular() {
		reason := "not a regular file"
		if fi.IsDir() {
			reason = "a directory"
		}
		return &NotPluginError{Path: plugin, Reason: reason}
	}
	uid := fileOwner(fi)
	if !trustedOwner(uid) || othersWrite(fi.Mode()) {
		return &PermissionError{Path: real, Plugin: plugin, Mode: modeBits(fi.Mode()), UID: uid}
	}
	return nil
}

// relativeError explains why a relative plugin path is refused.
func relativeError(path string) error {
	return fmt.Errorf("%w %q refused: it would name another file in every working directory, and exec would search $PATH for a bare name; "+
		"use an absolute directory in TRANSPORTKIT_PLUGIN_PATH (plugins.dirs in a config file are resolved against the file)", ErrRelativePath, path)
}

// openedBinary is a plugin binary opened for a launch: the open file is what
// was checked and hashed, and what the process is started from.
type openedBinary struct {
	f     *os.File
	real  string // its real path
	sum   string // its hex SHA-256
	stamp fileStamp
	// handshake is whether the binary carries the plugin handshake's
	// magic cookie key, as every binary built on this package does.
	handshake bool
}

// openBinary resolves p.Path under the trust rules, opens the binary once
// (never following a symbolic link at that point), checks and hashes the
// open file, and compares the hash with the pinned checksum. The caller
// closes b.f.
func openBinary(p Plugin) (*openedBinary, error) {
	if p.Checksum != "" {
		if b, err := hex.DecodeString(p.Checksum); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("plugins: the checksum pinned for %s is not 64 hex digits: %q", p.Name, p.Checksum)
		}
	}
	real, err := resolveTrusted(p.Path)
	if err != nil {
		return nil, err
	}
	f, err := openNoFollow(real)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	b, err := checkOpen(f, real, p)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// checkOpen checks and hashes the open binary f.
func checkOpen(f *os.File, real string, p Plugin) (*openedBinary, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	if err := checkBinary(fi, real, p.Path); err != nil {
		return nil, err
	}
	h := sha256.New()
	mark := &scanner{needle: []byte(Handshake.MagicCookieKey)}
	if _, err := io.Copy(io.MultiWriter(h, mark), f); err != nil {
		return nil, fmt.Errorf("plugins: checking %s: %w", p.Path, err)
	}
	after, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	b := &openedBinary{f: f, real: real, sum: hex.EncodeToString(h.Sum(nil)), stamp: stampOf(fi), handshake: mark.found}
	if stampOf(after) != b.stamp {
		return nil, fmt.Errorf("%w: %s was modified while it was being hashed", ErrBinaryChanged, p.Path)
	}
	if p.Checksum != "" && b.sum != strings.ToLower(p.Checksum) {
		return nil, &ChecksumError{Path: p.Path, Want: p.Checksum, Got: b.sum}
	}
	return b, nil
}

// unchanged reports an error matching ErrBinaryChanged if the open binary
// was modified since it was hashed. Called once the process runs, when the
// kernel no longer lets anyone write to the file: with a pinned checksum
// it hashes the file again, so that what runs is exactly what was pinned;
// otherwise it compares the file's size and modification time.
func (b *openedBinary) unchanged(p Plugin) error {
	changed := false
	if p.Checksum != "" {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(b.f, 0, 1<<62)); err != nil {
			return fmt.Errorf("plugins: checking %s: %w", p.Path, err)
		}
		changed = hex.EncodeToString(h.Sum(nil)) != b.sum
	} else {
		fi, err := b.f.Stat()
		if err != nil {
			return fmt.Errorf("plugins: %w", err)
		}
		changed = stampOf(fi) != b.stamp
	}
	if changed {
		return fmt.Errorf("%w: %s was modified between its check and the start of the process", ErrBinaryChanged, p.Path)
	}
	return nil
}

// scanner is an io.Writer that records whether what was written to it
// contains needle, across the boundaries of the writes.
type scanner struct {
	needle []byte
	buf    []byte // the end of the previous write, then the current one
	found  bool
}

func (s *scanner) Write(p []byte) (int, error) {
	if s.found {
		return len(p), nil
	}
	s.buf = append(s.buf, p...)
	s.found = bytes.Contains(s.buf, s.needle)
	keep := min(len(s.buf), len(s.needle)-1)
	s.buf = append(s.buf[:0], s.buf[len(s.buf)-keep:]...)
	return len(p), nil
}
