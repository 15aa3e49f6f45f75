package vaulttest

import "syscall"

// procAttr makes the kernel kill the server when the test binary dies
// (a test timeout, a kill -9), so no dev server outlives its tests.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
