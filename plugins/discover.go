package plugins

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// DefaultStartTimeout bounds a plugin's launch (process start and
// go-plugin's handshake) when neither the config nor Plugin.StartTimeout
// sets one.
const DefaultStartTimeout = 10 * time.Second

// Plugin is a plugin binary: where it is and how to launch it.
type Plugin struct {
	// Name is the plugin's short name: NAME in the binary's file name
	// transportkit-backend-NAME, and in the backend name "plugin:NAME".
	Name string
	// Path is the binary.
	Path string
	// Version is the main module version recorded in the binary's Go
	// build information ("v1.2.3", "(devel)"); empty when the binary
	// has none.
	Version string
	// Checksum is the lower-case hex SHA-256 the binary must have. If
	// empty, the binary is not checked (its permissions still are).
	Checksum string
	// StartTimeout bounds the launch. If zero, DefaultStartTimeout.
	StartTimeout time.Duration
}

// Values of the "checksum" detail in a plugin's registry listing, as
// ChecksumStatus returns them.
const (
	// ChecksumOK: the binary has the pinned SHA-256.
	ChecksumOK = "ok"
	// ChecksumMismatch: the binary does not have the pinned SHA-256; it
	// will not be started.
	ChecksumMismatch = "mismatch"
	// ChecksumUnpinned: the config pins no SHA-256 for the plugin.
	ChecksumUnpinned = "unpinned"
	// ChecksumUnreadable: the binary could not be read to check it.
	ChecksumUnreadable = "unreadable"
)

func init() { registry.RegisterDiscoverer(discoverDrivers) }

// discoverDrivers is the registry's Discoverer for plugin binaries.
func discoverDrivers(cfg registry.PluginConfig) ([]registry.Driver, error) {
	found, err := discover(cfg)
	drivers := make([]registry.Driver, len(found))
	for i, p := range found {
		drivers[i] = p.Driver()
	}
	return drivers, err
}

// discover finds the plugin binaries in cfg.Dirs: files named
// transportkit-backend-NAME that are executable. When two directories
// hold the same NAME, the first wins, as for PATH. Checksums and the start
// timeout are taken from cfg. Directories that do not exist are skipped;
// other failures to read one are returned, joined, with everything found
// elsewhere. The registry hands its Discoverer the directories of
// TRANSPORTKIT_PLUGIN_PATH first, then the config file's (which LoadConfig
// made absolute). Binaries found through a relative directory are
// returned with their relative Path, which Check refuses (ErrRelativePath)
// and listings show as refused: the directory would be taken from the
// working directory of whoever runs the host. discover only lists: it
// applies none of the trust rules.
func discover(cfg registry.PluginConfig) ([]Plugin, error) {
	var (
		found []Plugin
		errs  []error
		seen  = map[string]bool{}
	)
	for _, dir := range cfg.Dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("plugins: searching %s: %w", dir, err))
		}
		for _, e := range entries {
			name, ok := pluginName(e.Name())
			if !ok || seen[name] {
				continue
			}
			path := filepath.Join(dir, e.Name())
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
				continue
			}
			seen[name] = true
			found = append(found, Plugin{
				Name:         name,
				Path:         path,
				Version:      binaryVersion(path),
				Checksum:     strings.ToLower(cfg.Checksums[name]),
				StartTimeout: cfg.StartTimeout,
			})
		}
	}
	return found, errors.Join(errs...)
}

// ValidName reports whether name can name a plugin: NAME in
// transportkit-backend-NAME and plugin:NAME, made of letters, digits, '.',
// '_' and '-'.
func ValidName(name string) bool {
	_, ok := pluginName(registry.PluginBinaryPrefix + name)
	return ok
}

// pluginName returns NAME for a file named transportkit-backend-NAME.
// NAME is letters, digits, '.', '_' and '-'.
func pluginName(file string) (string, bool) {
	if runtime.GOOS == "windows" {
		file = strings.TrimSuffix(file, ".exe")
	}
	name, ok := strings.CutPrefix(file, registry.PluginBinaryPrefix)
	if !ok || name == "" {
		return "", false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "", false
		}
	}
	return name, true
}

// binaryVersion reads the main module version from path's build info.
func binaryVersion(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	return bi.Main.Version
}

// Driver returns the registry entry for p: the backend "plugin:NAME" of
// kind registry.KindPlugin, launched only when first dialed. Its Details
// give the path, the version and the checksum status (see
// ChecksumStatus), plus "real_path" when symbolic links lead the path
// elsewhere, the binary's "sha256" when it was computed and "refused" with
// the reason when the plugin would not be started (see Check). Available
// reports that reason, wrapped in transport.ErrUnavailable.
func (p Plugin) Driver() registry.Driver {
	details := map[string]string{"path": p.Path, "version": p.Version}
	if real, err := resolveTrusted(p.Path); err == nil && real != p.Path {
		details["real_path"] = real
	}
	status, sum := p.ChecksumStatus()
	details["checksum"] = status
	if sum != "" {
		details["sha256"] = sum
	}
	if err := p.check(cachedSHA256); err != nil {
		details["refused"] = err.Error()
	}
	return registry.Driver{
		Name:        registry.PluginPrefix + p.Name,
		Kind:        registry.KindPlugin,
		Description: "out-of-process plugin " + p.Path,
		Available:   p.available,
		Open: func(opts transport.Options) (transport.Backend, error) {
			return Open(p, opts)
		},
		Details: details,
	}
}

// available reports why p cannot be started, wrapped in
// transport.ErrUnavailable, or nil.
func (p Plugin) available() error {
	if errPlatform != nil {
		return errPlatform
	}
	if err := p.check(cachedSHA256); err != nil {
		return fmt.Errorf("%w: %w", transport.ErrUnavailable, err)
	}
	return nil
}

// Check reports whether p may be started: p.Path is absolute (otherwise
// an error matching ErrRelativePath), the binary passes the trust rules of
// the package doc at its real location, every directory and symbolic link
// on the way included (otherwise a *PermissionError), and has the pinned
// checksum if one is set (otherwise a *ChecksumError). The host checks
// again at every launch, on the file it then executes.
func (p Plugin) Check() error { return p.check(FileSHA256) }

// check is Check with the hash function given: listings use a cached one.
func (p Plugin) check(hash func(string) (string, error)) error {
	if errPlatform != nil {
		return errPlatform
	}
	real, err := resolveTrusted(p.Path)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(real)
	if err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	if err := checkBinary(fi, real, p.Path); err != nil {
		return err
	}
	if p.Checksum == "" {
		return nil
	}
	if b, err := hex.DecodeString(p.Checksum); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("plugins: the checksum pinned for %s is not 64 hex digits: %q", p.Name, p.Checksum)
	}
	sum, err := hash(real)
	if err != nil {
		return fmt.Errorf("plugins: checking %s: %w", p.Path, err)
	}
	if sum != strings.ToLower(p.Checksum) {
		return &ChecksumError{Path: p.Path, Want: p.Checksum, Got: sum}
	}
	return nil
}

// ChecksumStatus says how p's binary compares with its pinned checksum:
// ChecksumOK, ChecksumMismatch, ChecksumUnpinned or ChecksumUnreadable,
// with the binary's hex SHA-256 when it was computed (only when pinned:
// listing unpinned plugins reads no binary).
func (p Plugin) ChecksumStatus() (status, sum string) {
	if p.Checksum == "" {
		return ChecksumUnpinned, ""
	}
	if !filepath.IsAbs(p.Path) {
		return ChecksumUnreadable, ""
	}
	sum, err := cachedSHA256(p.Path)
	switch {
	case err != nil:
		return ChecksumUnreadable, ""
	case sum == strings.ToLower(p.Checksum):
		return ChecksumOK, sum
	default:
		return ChecksumMismatch, sum
	}
}

// sumCache remembers checksums by path, size and modification time, so
// that listing plugins over and over hashes each binary once. Launches do
// not use it: they hash the binary every time.
var sumCache struct {
	sync.Mutex
	m map[string]cachedSum
}

type cachedSum struct {
	size  int64
	mtime time.Time
	sum   string
}

// cachedSHA256 is FileSHA256 through sumCache.
func cachedSHA256(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	sumCache.Lock()
	c, ok := sumCache.m[path]
	sumCache.Unlock()
	if ok && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) {
		return c.sum, nil
	}
	sum, err := FileSHA256(path)
	if err != nil {
		return "", err
	}
	sumCache.Lock()
	if sumCache.m == nil {
		sumCache.m = map[string]cachedSum{}
	}
	sumCache.m[path] = cachedSum{size: fi.Size(), mtime: fi.ModTime(), sum: sum}
	sumCache.Unlock()
	return sum, nil
}

// FileSHA256 returns the lower-case hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
