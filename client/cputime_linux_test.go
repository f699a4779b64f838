package client_test

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time the calling OS thread has used, or -1 when it
// cannot be read. A benchmark that locks its goroutine to its thread
// (runtime.LockOSThread) reads its own CPU time with it, apart from the
// background goroutines and the embedded NATS server sharing the cores.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	return rusage(rusageThread)
}

// processCPU is the CPU time the whole process has used, or -1.
func processCPU() time.Duration {
	return rusage(syscall.RUSAGE_SELF)
}

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
