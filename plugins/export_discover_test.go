package plugins

// Discover lists the plugin binaries in cfg.Dirs (see discover); the
// registry's discoverer is the public path.
var Discover = discover
