//go:build !linux

package vaulttest

import "syscall"

// procAttr: only Linux can tie the server's life to the test binary's.
func procAttr() *syscall.SysProcAttr { return nil }
