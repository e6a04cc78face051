package transporttest

import (
	"os"
	"strconv"
)

// readProcFDs lists dir (/proc/self/fd) as fd -> link target. The
// descriptor used to read the directory is listed too, before and after
// alike.
func readProcFDs(dir string) (map[int]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fds := make(map[int]string, len(entries))
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			target = "?" // closed while we looked
		}
		fds[fd] = target
	}
	return fds, nil
}
