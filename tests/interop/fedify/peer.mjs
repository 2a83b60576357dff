// A foreign ActivityPub peer built on Fedify, for Shoal's interop tests.
//
//   node peer.mjs [--port 0] [--watch-stdin]
//
// One Person actor, "fedi", at http://127.0.0.1:PORT/users/fedi; all state in memory.
// --port 0 picks a free port; "READY <origin>" on stdout says which (all logs go to
// stderr). --watch-stdin: exit when stdin closes, so the peer cannot outlive its driver.
// Tests drive it through a JSON control API under /_control/ (loopback only).
// Env: FEDIFY_PEER_LOG (LogTape level, default "info"); FEDIFY_FIRST_KNOCK ("rfc9421",
// Fedify's default, or "draft-cavage-http-signatures-12"); FEDIFY_PREFER_SHARED_INBOX=1
// (deliver to endpoints.sharedInbox when the recipient has one; Fedify's default is not to).
import { AsyncLocalStorage } from "node:async_hooks";
import http from "node:http";
import { parseArgs } from "node:util";
import { configure, getTextFormatter } from "@logtape/logtape";
import { Temporal } from "@js-temporal/polyfill";
import {
  createExponentialBackoffPolicy, createFederation, generateCryptoKeyPair,
  InProcessMessageQueue, MemoryKvStore,
} from "@fedify/fedify";
import {
  Accept, Activity, Announce, Create, Delete, Endpoints, Follow, isActor, Like, Note,
  Person, PUBLIC_COLLECTION, Reject, Undo, Update,
} from "@fedify/vocab";

const ME = "fedi";
const MAX_BODY = 1 << 20;
const sendOptions = { preferSharedInbox: process.env.FEDIFY_PREFER_SHARED_INBOX === "1" };
const { values: args } = parseArgs({
  options: { port: { type: "string", default: "0" }, "watch-stdin": { type: "boolean" } },
});

const level = process.env.FEDIFY_PEER_LOG ?? "info";
const httpLevel = level === "debug" ? "debug" : "error";
const formatter = getTextFormatter({ timestamp: "time" });
await configure({
  contextLocalStorage: new AsyncLocalStorage(),
  sinks: { stderr: (record) => process.stderr.write(formatter(record)) },
  loggers: [
    { category: "fedify", lowestLevel: level, sinks: ["stderr"] },
    // handle() logs one line per request, with the signature scheme; Fedify's is redundant
    { category: ["fedify", "federation", "http"], lowestLevel: httpLevel },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
  ],
});
const now = () => new Date().toISOString().slice(11, 23);
const log = (msg) => process.stderr.write(`${now()} peer: ${msg}\n`);

// ---- state, all in memory ----------------------------------------------------------
const keys = [
  await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"), // HTTP Signatures (cavage and RFC 9421)
  await generateCryptoKeyPair("Ed25519"), // Object Integrity Proofs (FEP-8b32)
];
const followers = new Map(); // actor id -> { actor, follow (id), recipient }
const following = new Map(); // actor id -> { actor, id (of our Follow), state, recipient }
const notes = new Map(); // uuid -> Note
const posts = []; // our Create activities, oldest first
const inbox = []; // verified activities, as received, in processing order
const errors = []; // refused inbound requests, listener errors, failed deliveries
const received = new Map(); // activity id -> { json, path, signature }: raw inbox bodies

// ---- HTTP server first: with --port 0 the origin is known only once listening --------
const server = http.createServer((req, res) => handle(req, res).catch((e) => {
  log(`handler error: ${e?.stack ?? e}`);
  errors.push({ kind: "http", request: `${req.method} ${req.url}`, error: String(e) });
  if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
  res.end("internal error");
}));
server.listen(Number(args.port), "127.0.0.1");
await new Promise((ok, fail) => server.once("listening", ok).once("error", fail));
const origin = `http://127.0.0.1:${server.address().port}`;
const newId = (kind) => new URL(`/users/${ME}/${kind}/${crypto.randomUUID()}`, origin);

// ---- federation --------------------------------------------------------------------
const quickRetries = createExponentialBackoffPolicy({
  initialDelay: { milliseconds: 500 }, maxDelay: { seconds: 5 }, maxAttempts: 6,
});
const federation = createFederation({
  kv: new MemoryKvStore(),
  queue: new InProcessMessageQueue(),
  origin,
  allowPrivateAddress: true, // Shoal and the other peers live on 127.0.0.1
  skipSignatureVerification: false,
  firstKnock: process.env.FEDIFY_FIRST_KNOCK || undefined,
  circuitBreaker: false, // else 5 failures hold deliveries to a host for 30 minutes
  outboxRetryPolicy: quickRetries,
  inboxRetryPolicy: quickRetries,
  onOutboxError: (error, activity) => {
    errors.push({ kind: "outbox", activity: activity?.id?.href ?? null, error: String(error) });
  },
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== ME) return null;
    const pairs = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Fedify interop peer",
      summary: "A Fedify peer used by Shoal's interop tests.",
      url: ctx.getActorUri(identifier),
      manuallyApprovesFollowers: false,
      inbox: ctx.getInboxUri(identifier),
      outbox: ctx.getOutboxUri(identifier),
      followers: ctx.getFollowersUri(identifier),
      following: ctx.getFollowingUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: pairs[0].cryptographicKey,
      assertionMethods: pairs.map((p) => p.multikey),
    });
  })
  .mapHandle((_ctx, username) => (username === ME ? ME : null))
  .setKeyPairsDispatcher((_ctx, identifier) => (identifier === ME ? keys : []));

const mine = (identifier, items) => (identifier === ME ? { items } : null);
federation.setFollowersDispatcher("/users/{identifier}/followers", (_ctx, id) =>
  mine(id, [...followers.values()].map((f) => f.recipient)));
const accepted = () => [...following.values()].filter((f) => f.state === "accepted");
federation.setFollowingDispatcher("/users/{identifier}/following", (_ctx, id) =>
  mine(id, accepted().map((f) => new URL(f.actor))));
federation.setOutboxDispatcher("/users/{identifier}/outbox", (_ctx, id) =>
  mine(id, posts.toReversed()));
federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", (_ctx, v) =>
  (v.identifier === ME ? notes.get(v.id) ?? null : null));
federation.setNodeInfoDispatcher("/nodeinfo/2.1", () => ({
  software: { name: "fedify-interop-peer", version: "2.3.6" },
  protocols: ["activitypub"],
  openRegistrations: false,
  usage: { users: { total: 1 }, localPosts: posts.length, localComments: 0 },
}));

async function record(activity) {
  const raw = received.get(activity.id?.href);
  const json = raw?.json ?? (await activity.toJsonLd());
  const via = { path: raw?.path, signature: raw?.signature };
  inbox.push({ ...json, verified: true, _received: via });
  log(`verified ${json.type} ${json.id} from ${activity.actorId?.href}`);
}

function settleFollow(activity, state) { // Accept/Reject of one of our Follows
  const entry = following.get(activity.actorId?.href);
  if (entry && [undefined, entry.id].includes(activity.objectId?.href)) entry.state = state;
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .setSharedKeyDispatcher(() => ({ identifier: ME })) // sign fetches made for the shared inbox
  .on(Follow, async (ctx, follow) => {
    await record(follow);
    if (follow.objectId?.href !== ctx.getActorUri(ME).href) return;
    const actor = await follow.getActor(ctx);
    if (!isActor(actor) || actor.id == null || actor.inboxId == null) {
      throw new Error(`cannot use the follower ${follow.actorId?.href}`);
    }
    const recipient = { id: actor.id, inboxId: actor.inboxId, endpoints: actor.endpoints };
    followers.set(actor.id.href, { actor: actor.id.href, follow: follow.id?.href, recipient });
    // As in Fedify's tutorial: the Follow is embedded, with its now-resolved actor.
    const accept = new Accept({ id: newId("accepts"), actor: ctx.getActorUri(ME), object: follow });
    await ctx.sendActivity({ identifier: ME }, actor, accept, sendOptions);
  })
  .on(Undo, async (ctx, undo) => {
    await record(undo);
    const entry = followers.get(undo.actorId?.href);
    if (entry == null) return;
    const object = await undo.getObject(ctx).catch(() => null);
    if (object instanceof Follow || undo.objectId?.href === entry.follow) {
      followers.delete(entry.actor);
    }
  })
  .on(Accept, async (_ctx, accept) => { await record(accept); settleFollow(accept, "accepted"); })
  .on(Reject, async (_ctx, reject) => { await record(reject); settleFollow(reject, "rejected"); })
  .on(Create, (_ctx, a) => record(a))
  .on(Update, (_ctx, a) => record(a))
  .on(Delete, (_ctx, a) => record(a))
  .on(Announce, (_ctx, a) => record(a))
  .on(Like, (_ctx, a) => record(a))
  .on(Activity, (_ctx, a) => record(a)) // every other type (Join, Leave, Add, Offer…)
  .onUnverifiedActivity((_ctx, activity, reason) => {
    const keyId = reason.keyId?.href ?? null;
    errors.push({ kind: "unverified", id: activity.id?.href ?? null, reason: reason.type, keyId });
  })
  .onError((_ctx, error) => {
    errors.push({ kind: "inbox", error: String(error?.stack ?? error) });
  });

// ---- control API (loopback only) ---------------------------------------------------
class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const control = {
  "GET inbox": () => inbox,
  "GET followers": () => [...followers.keys()],
  "GET following": () => [...following.values()].map(({ recipient: _, ...entry }) => entry),
  "GET errors": () => errors,
  "POST follow": async (ctx, { actor }) => {
    const documentLoader = await ctx.getDocumentLoader({ identifier: ME }); // signed GETs
    const target = await ctx.lookupObject(actor, { documentLoader });
    if (!isActor(target) || target.id == null) throw new HttpError(404, `not an actor: ${actor}`);
    const me = ctx.getActorUri(ME);
    const follow = new Follow({ id: newId("follows"), actor: me, object: target.id });
    const entry = { actor: target.id.href, id: follow.id.href, state: "pending" };
    following.set(entry.actor, { ...entry, recipient: target });
    await ctx.sendActivity({ identifier: ME }, target, follow, sendOptions);
    return { id: entry.id, actor: entry.actor };
  },
  "POST unfollow": async (ctx, { actor }) => {
    const entry = following.get(actor);
    if (entry == null) throw new HttpError(404, `not following ${actor}`);
    const me = ctx.getActorUri(ME);
    const follow = new Follow({ id: new URL(entry.id), actor: me, object: new URL(actor) });
    const undo = new Undo({ id: newId("undos"), actor: me, object: follow });
    following.delete(actor);
    await ctx.sendActivity({ identifier: ME }, entry.recipient, undo, sendOptions);
    return { id: undo.id.href };
  },
  "POST post": async (ctx, { text }) => {
    const uuid = crypto.randomUUID();
    const me = ctx.getActorUri(ME);
    const published = Temporal.Now.instant();
    const common = { published, to: PUBLIC_COLLECTION, cc: ctx.getFollowersUri(ME) };
    const content = `<p>${String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)}</p>`;
    const id = ctx.getObjectUri(Note, { identifier: ME, id: uuid });
    const note = new Note({ id, attribution: me, content, ...common });
    notes.set(uuid, note);
    const create = new Create({ id: newId("creates"), actor: me, object: note, ...common });
    posts.push(create);
    await ctx.sendActivity({ identifier: ME }, "followers", create, sendOptions);
    return { id: note.id.href, activity: create.id.href };
  },
};

// ---- node:http <-> Fetch API --------------------------------------------------------
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    if ((size += chunk.length) > MAX_BODY) throw new HttpError(413, "body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function send(res, status, headers, body) {
  res.writeHead(status, headers);
  res.end(body);
}

async function handleControl(req, res, op, body) {
  const local = ["127.0.0.1", "::1", "::ffff:127.0.0.1"].includes(req.socket.remoteAddress);
  if (!local) return send(res, 403, { "content-type": "text/plain" }, "loopback only");
  if (op == null) return send(res, 404, { "content-type": "text/plain" }, "no such control op");
  let status = 200, result;
  try {
    const ctx = federation.createContext(new URL(origin), undefined);
    result = await op(ctx, body.length ? JSON.parse(body) : {});
  } catch (e) {
    log(`control ${req.method} ${req.url} failed: ${e?.stack ?? e}`);
    [status, result] = [e.status ?? 500, { error: String(e?.message ?? e) }];
  }
  send(res, status, { "content-type": "application/json" }, JSON.stringify(result));
}

async function handle(req, res) {
  // The Host header, not `origin`, so RFC 9421's @authority/@target-uri are checked as sent.
  const url = new URL(req.url, req.headers.host ? `http://${req.headers.host}` : origin);
  const body = await readBody(req);
  if (url.pathname.startsWith("/_control/")) {
    const op = control[`${req.method} ${url.pathname.slice("/_control/".length)}`];
    return handleControl(req, res, op, body);
  }
  const h = req.headers;
  const signature = h["signature-input"] ? "rfc9421" : h.signature ? "draft-cavage" : "none";
  if (req.method === "POST" && /^\/(users\/[^/]+\/)?inbox$/.test(url.pathname)) {
    try {
      const json = JSON.parse(body);
      const path = url.pathname;
      if (typeof json?.id === "string") received.set(json.id, { json, path, signature });
    } catch { /* not JSON: Fedify answers 400 */ }
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(h)) {
    for (const v of [].concat(value)) headers.append(name, v);
  }
  const hasBody = !["GET", "HEAD"].includes(req.method);
  const request = new Request(url, { method: req.method, headers, body: hasBody ? body : null });
  const response = await federation.fetch(request, { contextData: undefined });
  log(`${req.method} ${url.pathname}${url.search} sig=${signature} -> ${response.status}`);
  const out = Buffer.from(await response.arrayBuffer());
  send(res, response.status, Object.fromEntries(response.headers), out);
}

if (args["watch-stdin"]) {
  process.stdin.on("end", () => process.exit(0)).on("error", () => process.exit(0)).resume();
}
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
process.stdout.write(`READY ${origin}\n`);
