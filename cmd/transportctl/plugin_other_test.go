//go:build !linux

package main

// Plugins run only on Linux; elsewhere there is no test plugin to clean.
func cleanupTestPlugin() {}
