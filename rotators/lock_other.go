//go:build !unix

package rotators

// lockState is a no-op where flock is not available: concurrent rotations
// are then the user's responsibility.
func lockState(string) (func(), error) { return func() {}, nil }
