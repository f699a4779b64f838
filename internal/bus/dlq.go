package bus

import (
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DLQ headers (SPEC §1).
const (
	HeaderReason    = "Authwatch-Reason"
	HeaderSubject   = "Authwatch-Subject"
	HeaderStreamSeq = "Authwatch-Stream-Seq"
)

// DLQMessage builds the dead letter for a message consumer could not use: the
// original payload byte for byte, why, and where it came from. Its
// Nats-Msg-Id is derived from the stream sequence, so a worker that dies
// after publishing it and before acking the original does not file it twice.
func DLQMessage(consumer string, subject string, streamSeq uint64, payload []byte, reason string) *nats.Msg {
	m := nats.NewMsg("auth.dlq." + consumer)
	m.Data = payload
	m.Header.Set(HeaderReason, reason)
	m.Header.Set(HeaderSubject, subject)
	seq := strconv.FormatUint(streamSeq, 10)
	m.Header.Set(HeaderStreamSeq, seq)
	m.Header.Set(jetstream.MsgIDHeader, consumer+"-"+seq)
	return m
}
