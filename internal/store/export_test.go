package store

// SetDirectReadMax lets the external tests force the window path of
// newest-first pages; it returns a function restoring the default.
func SetDirectReadMax(n uint64) (restore func()) {
	old := directReadMax
	directReadMax = n
	return func() { directReadMax = old }
}
