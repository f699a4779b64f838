//go:build !linux

package client_test

import "time"

// threadCPU cannot tell a thread's CPU time on this system.
func threadCPU() time.Duration { return -1 }

// processCPU cannot tell the process's CPU time on this system.
func processCPU() time.Duration { return -1 }
