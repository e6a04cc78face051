package plugins

import "github.com/hashicorp/go-hclog"

// chatter is the logger go-plugin gets, on both sides: its own messages
// (handshake steps, "plugin address", "stdio EOF", "plugin process
// exited") are demoted from Debug and Info to Trace, so that a host
// logging at Debug sees what transportkit and the plugin say, not
// go-plugin's machinery; its warnings and errors ("plugin failed to exit
// gracefully", "plugin process exited" with the signal that ended it,
// "error encountered while scanning stdout") are demoted to Debug: they
// are about a launch or a stop whose outcome the caller gets as an error
// (an *ExitError, ErrNotPlugin, ...), and at the default levels they
// only repeated it, before it, in go-plugin's words. On the
// host, go-plugin forwards what the plugin logs through Named(output):
// that logger is the host's own, named after the plugin, and keeps the
// levels the plugin logged at (the plugin logs only what the host's level
// lets through: Serve takes the host's level).
type chatter struct {
	hclog.Logger
	output string // the name go-plugin names the plugin's output logger with; "" in a plugin
	named  string // the name the plugin's output is logged under
}

// quiet wraps log for go-plugin. output is the base name of the plugin's
// binary (go-plugin names the plugin's stderr logger after it), named the
// name the plugin's output is logged under instead.
func quiet(log hclog.Logger, output, named string) hclog.Logger {
	return &chatter{Logger: log, output: output, named: named}
}

func (c *chatter) Log(level hclog.Level, msg string, args ...any) {
	switch level {
	case hclog.Debug, hclog.Info:
		level = hclog.Trace
	case hclog.Warn, hclog.Error:
		level = hclog.Debug
	}
	c.Logger.Log(level, msg, args...)
}

func (c *chatter) Debug(msg string, args ...any) { c.Logger.Trace(msg, args...) }
func (c *chatter) Info(msg string, args ...any)  { c.Logger.Trace(msg, args...) }
func (c *chatter) Warn(msg string, args ...any)  { c.Logger.Debug(msg, args...) }
func (c *chatter) Error(msg string, args ...any) { c.Logger.Debug(msg, args...) }
func (c *chatter) IsDebug() bool                 { return c.Logger.IsTrace() }
func (c *chatter) IsInfo() bool                  { return c.Logger.IsTrace() }
func (c *chatter) IsWarn() bool                  { return c.Logger.IsDebug() }
func (c *chatter) IsError() bool                 { return c.Logger.IsDebug() }

func (c *chatter) With(args ...any) hclog.Logger {
	return &chatter{Logger: c.Logger.With(args...), output: c.output, named: c.named}
}

func (c *chatter) Named(name string) hclog.Logger {
	if c.output != "" && name == c.output {
		return c.Logger.Named(c.named)
	}
	return &chatter{Logger: c.Logger.Named(name), output: c.output, named: c.named}
}

func (c *chatter) ResetNamed(name string) hclog.Logger {
	return &chatter{Logger: c.Logger.ResetNamed(name), output: c.output, named: c.named}
}
