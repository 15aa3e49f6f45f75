// Package safeurl decides where rekey may send keys and tokens: over
// https, or over plain http only to this machine (test and dev servers).
package safeurl

import (
	"net"
	"net/url"
)

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Secure reports whether secrets may be sent to u.
func Secure(u *url.URL) bool {
	return u.Scheme == "https" || u.Scheme == "http" && IsLoopback(u.Hostname())
}
