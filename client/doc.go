// Package client is what an auth gateway links to work with authwatch:
//
//   - Publisher sends login and token events to the AUTH_EVENTS JetStream
//     stream in the background, without ever slowing a login down.
//   - Lockouts keeps an in-memory copy of the IP lockouts the detector
//     writes to KV auth_lockouts, so that Locked answers without a network call.
//   - LoginGuard puts both in front of a login handler: net/http middleware
//     that answers a locked-out IP with the API's 429, and RecordLogin,
//     which publishes the outcome of an attempt. Package echomw has the
//     same middleware for Echo.
//
// docs/gateway.md in the repository is the guide for gateway teams.
package client
