// Publishes one authwatch login event from Node.js: the event is checked
// against schemas/event-v1.schema.json, then published to JetStream on
// auth.events.<tenant_id>.<kind> with Nats-Msg-Id = its id, and retried
// with the same id until JetStream acknowledges it (a retry inside the
// stream's 2-minute duplicate window is stored once; authwatch counts an
// event id once in any case).
//
//   npm install
//   NATS_URL=nats://127.0.0.1:4222 node publish.mjs

import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

// The schema is JSON Schema 2020-12; ajv-formats adds date-time, ipv4 and
// ipv6. allowUnionTypes: the schema writes optional fields as
// ["string", "null"].
const schema = JSON.parse(readFileSync(new URL("../../schemas/event-v1.schema.json", import.meta.url), "utf8"));
const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true });
addFormats(ajv);
const validateEvent = ajv.compile(schema);

// The rules JSON Schema cannot express (see the schema's description) that
// a gateway can get wrong: the payload size and the metadata size.
function checkEvent(event) {
  if (!validateEvent(event)) {
    throw new Error(`invalid event: ${ajv.errorsText(validateEvent.errors)}`);
  }
  const payload = JSON.stringify(event);
  if (Buffer.byteLength(payload, "utf8") > 16384) {
    throw new Error("invalid event: payload over 16 KiB");
  }
  const metadataBytes = Object.entries(event.metadata ?? {}).reduce(
    (n, [k, v]) => n + Buffer.byteLength(k, "utf8") + Buffer.byteLength(v, "utf8"), 0);
  if (metadataBytes > 4096) {
    throw new Error("invalid event: metadata over 4096 bytes");
  }
  return payload;
}

const event = {
  id: randomUUID(), // any 1-64 of A-Z a-z 0-9 _ -; a UUID or ULID
  kind: "login",
  tenant_id: "acme",
  user_id: "usr_42",
  occurred_at: new Date().toISOString(), // 2025-12-27T20:57:29.123Z
  ip_address: "203.0.113.7",
  user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15",
  status: "failed", // success, failed, blocked, 2fa_required, 2fa_failed
  failure_reason: "wrong password",
  identifier: "ada@acme.example",
  metadata: { gateway: "node-example" },
};
const payload = checkEvent(event);
const subject = `auth.events.${event.tenant_id}.${event.kind}`;

const nc = await connect({
  servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  maxReconnectAttempts: -1,
});
const js = jetstream(nc);
for (let attempt = 1; ; attempt++) {
  try {
    // msgID is sent as the Nats-Msg-Id header.
    const ack = await js.publish(subject, payload, { msgID: event.id, timeout: 5000 });
    console.log(`event ${event.id} stored in ${ack.stream}, sequence ${ack.seq}${ack.duplicate ? " (duplicate)" : ""}`);
    break;
  } catch (err) {
    // No stream yet, a timeout, a reconnect: send the same event again.
    if (attempt === 5) {
      throw err;
    }
    console.error(`attempt ${attempt}: ${err.message}; retrying`);
    await sleep(100 * 2 ** attempt);
  }
}
await nc.drain();
