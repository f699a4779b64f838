// Package config reads services' settings from the environment, once, with
// defaults, collecting every bad value into one error.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authwatch/authwatch/internal/bus"
)

// Env reads typed variables from getenv.
type Env struct {
	getenv func(string) string
	errs   []error
}

// New returns an Env over getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Err is every problem met so far, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// String returns the variable or def when unset.
func (e *Env) String(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// Int returns the variable as a positive integer, or def.
func (e *Env) Int(name string, def int) int {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a positive integer", name, v))
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("1s", "72h"), or def.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a positive duration such as 500ms or 72h", name, v))
		return def
	}
	return d
}

// Bool returns the variable as a boolean (true/false/1/0), or def.
func (e *Env) Bool(name string, def bool) bool {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
	return b
}

// Topology reads the stream settings every service applies on start.
func Topology(e *Env) bus.Topology {
	t := bus.DefaultTopology()
	t.Replicas = e.Int("NATS_REPLICAS", t.Replicas)
	t.EventsMaxAge = e.Duration("EVENTS_MAX_AGE", t.EventsMaxAge)
	return t
}
