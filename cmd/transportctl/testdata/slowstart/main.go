// Command transportkit-backend-slowstart is a test plugin that starts a
// helper process (as a tunnel plugin starts ssh), writes the helper's pid
// to $SLOWSTART_PIDFILE, and initialises for $SLOWSTART_INIT (default 3s)
// before it serves stdnet's dial.
package main

import (
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/transportkit/transportkit/plugins"
)

func main() {
	if f := os.Getenv("SLOWSTART_PIDFILE"); f != "" {
		helper := exec.Command("sleep", "60")
		if err := helper.Start(); err == nil {
			os.WriteFile(f+".tmp", []byte(strconv.Itoa(helper.Process.Pid)), 0o600)
			os.Rename(f+".tmp", f)
		}
	}
	init := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SLOWSTART_INIT")); err == nil {
		init = d
	}
	time.Sleep(init)
	plugins.ServeDialer("slowstart", func(_ struct{}, direct plugins.DialFunc) (plugins.DialFunc, error) {
		return direct, nil
	})
}
