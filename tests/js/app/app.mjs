// An app written with the TypeScript SDK (npm `inngest`, pinned in
// package.json), run by tests/js against our dev server.
//
// Usage: node app.mjs serve|connect
//   serve    serves the app "js-app" over HTTP at /api/inngest and the app
//            "js-shorthand" at /api/shorthand (node:http);
//            JS_APP_CHECKPOINTING=off turns the SDK's checkpointing off.
//   connect  runs them as a connect worker (WebSocket to the gateway).
// Either way it also serves, on the same node:http server:
//   /stats     what the app saw (calls, step executions, spans) as JSON,
//              for the tests to check what the dev server's API cannot show;
//   /endpoint  a durable endpoint (`inngest.endpoint()`).
// It listens on 127.0.0.1 (port JS_APP_PORT, 0 for any) and, once it does
// (and the worker is connected), writes `{"port": N}` to JS_APP_READY_FILE.
// INNGEST_DEV must hold the dev server's URL, so that the SDK talks to
// nothing else.

import { renameSync, writeFileSync } from "node:fs";
import http from "node:http";
import { Inngest, NonRetriableError, RetryAfterError, step } from "inngest";
import { endpointAdapter, serve, serveEndpoint } from "inngest/node";

const mode = process.argv[2];
if (mode !== "serve" && mode !== "connect") {
  console.error("usage: node app.mjs serve|connect");
  process.exit(2);
}
const devUrl = process.env.INNGEST_DEV ?? "";
if (!/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(devUrl)) {
  // Without it the SDK would look for a dev server elsewhere, or for Inngest
  // Cloud: refuse instead.
  console.error(`INNGEST_DEV must be http://127.0.0.1:PORT, not ${devUrl}`);
  process.exit(2);
}

function client(id) {
  return new Inngest({
    id,
    checkpointing: process.env.JS_APP_CHECKPOINTING !== "off",
    endpointAdapter,
    logLevel: "warn",
  });
}

// Two apps: "js-app" sets concurrency only in its list form; "js-shorthand"
// has the functions that set it as a number or a single object.
const inngest = client("js-app");
const shorthand = client("js-shorthand");

// What the app saw, for /stats.
const calls = {}; // function id -> handler calls
const stepRuns = {}; // "fn/step" -> executions of the step's code
const spans = {}; // function id -> [{start, end, data}] of "work" steps

function count(table, key) {
  table[key] = (table[key] ?? 0) + 1;
  return table[key];
}

function sleepMs(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A step that holds its call for `ms`, recording when it ran.
async function work(fnId, ms, data) {
  const start = Date.now();
  await sleepMs(ms);
  const span = { start, end: Date.now(), data };
  (spans[fnId] ??= []).push(span);
  return span;
}

function fn(options, handler, app = inngest) {
  return app.createFunction(options, async (ctx) => {
    count(calls, options.id);
    return handler(ctx);
  });
}

function stepRun(step, fnId, id, body) {
  return step.run(id, async () => {
    count(stepRuns, `${fnId}/${id}`);
    return body();
  });
}

// ---------------------------------------------------------------- steps

const child = fn(
  { id: "child", triggers: [{ event: "js/child.never" }] },
  async ({ event, step }) => {
    const doubled = await step.run("double", () => event.data.x * 2);
    return { doubled };
  },
);

const everyStep = fn(
  { id: "every-step", triggers: [{ event: "js/steps" }] },
  async ({ event, step }) => {
    const a = await stepRun(step, "every-step", "a", () => "A");
    await step.sleep("nap", "1s");
    await step.sleepUntil("until", event.data.until);
    const invoked = await step.invoke("call-child", {
      function: child,
      data: { x: event.data.n },
    });
    const sent = await step.sendEvent("send", {
      name: "js/sent",
      data: { from: "every-step", n: event.data.n },
    });
    const [left, right] = await Promise.all([
      step.run("left", () => "L"),
      step.run("right", () => "R"),
    ]);
    return { a, invoked, sent: sent.ids.length, both: [left, right] };
  },
);

const heard = fn(
  { id: "heard", triggers: [{ event: "js/sent" }] },
  async ({ event }) => `heard ${event.data.n}`,
);

const waitMatch = fn(
  { id: "wait-match", triggers: [{ event: "js/wait.match" }] },
  async ({ event, step }) => {
    const got = await step.waitForEvent("answer", {
      event: "js/answer",
      match: "data.key",
      timeout: event.data.timeout,
    });
    return got === null ? null : got.data.v;
  },
);

const waitIf = fn(
  { id: "wait-if", triggers: [{ event: "js/wait.if" }] },
  async ({ event, step }) => {
    const got = await step.waitForEvent("answer", {
      event: "js/answer",
      if: "async.data.key == event.data.key && async.data.v != 'no'",
      timeout: event.data.timeout,
    });
    return got === null ? null : got.data.v;
  },
);

const waitAny = fn(
  { id: "wait-any", triggers: [{ event: "js/wait.any" }] },
  async ({ step }) => {
    const got = await step.waitForEvent("answer", {
      event: "js/anything",
      timeout: "1m",
    });
    return got === null ? null : got.data.v;
  },
);

const flaky = fn(
  { id: "flaky", retries: 2, triggers: [{ event: "js/flaky" }] },
  async ({ step }) =>
    stepRun(step, "flaky", "shaky", () => {
      if (stepRuns["flaky/shaky"] < 2) {
        throw new Error("not yet");
      }
      return "steady";
    }),
);

const doomed = fn(
  {
    id: "doomed",
    retries: 3,
    triggers: [{ event: "js/doomed" }],
    onFailure: async ({ error, event, step }) => {
      const note = await step.run("clean", () => `cleaned ${error.message}`);
      return { note, original: event.data.event.name };
    },
  },
  async () => {
    throw new NonRetriableError("no way");
  },
);

const exhausted = fn(
  { id: "exhausted", retries: 1, triggers: [{ event: "js/exhausted" }] },
  async ({ step }) => {
    await stepRun(step, "exhausted", "always", () => {
      throw new Error("always broken");
    });
  },
);

// Each output is about 1.5 MiB: two of them make a call request over 4 MiB,
// which the server sends without the step results (use_api).
const BIG = 1536 * 1024;

const big = fn(
  { id: "big", triggers: [{ event: "js/big" }] },
  async ({ step }) => {
    const parts = [];
    for (const id of ["one", "two", "three"]) {
      parts.push(await step.run(id, () => id[0].repeat(BIG)));
    }
    return parts.map((p) => `${p[0]}${p.length}`).join(",") + ":" + "z".repeat(BIG);
  },
);

// ------------------------------------------------------------- more kinds

const conditional = fn(
  { id: "conditional", triggers: [{ event: "js/cond", if: "event.data.go == true" }] },
  async ({ event }) => event.data.n,
);

const wildcard = fn(
  { id: "wildcard", triggers: [{ event: "js/wild.*" }] },
  async ({ event }) => event.name,
);

const later = fn(
  { id: "retry-after", retries: 1, triggers: [{ event: "js/retry.after" }] },
  async ({ attempt }) => {
    if (attempt === 0) {
      throw new RetryAfterError("come back later", "1s");
    }
    return `attempt ${attempt}`;
  },
);

const broken = fn(
  { id: "broken-child", retries: 0, triggers: [{ event: "js/broken.never" }] },
  async () => {
    throw new NonRetriableError("child broke");
  },
);

const sleepy = fn(
  { id: "sleepy-child", triggers: [{ event: "js/sleepy.never" }] },
  async ({ step }) => {
    await step.sleep("long", "1m");
    return "woke";
  },
);

// Invoke errors reach the caller as errors its code can catch.
const invokeErrors = fn(
  { id: "invoke-errors", triggers: [{ event: "js/invoke.errors" }] },
  async ({ step }) => {
    const caught = {};
    try {
      await step.invoke("broken", { function: broken, data: {} });
    } catch (err) {
      caught.broken = err.message;
    }
    try {
      await step.invoke("sleepy", { function: sleepy, data: {}, timeout: "1s" });
    } catch (err) {
      caught.sleepy = err.name;
    }
    return caught;
  },
);

const sendMany = fn(
  { id: "send-many", triggers: [{ event: "js/send.many" }] },
  async ({ event, step }) => {
    const sent = await step.sendEvent("fan-out", [
      { name: "js/fanned", data: { k: event.data.k, i: 1 } },
      { name: "js/fanned", data: { k: event.data.k, i: 2 } },
    ]);
    return sent.ids.length;
  },
);

const nothing = fn(
  { id: "nothing", triggers: [{ event: "js/nothing" }] },
  async ({ step }) => {
    await step.run("void", () => undefined);
  },
);

// A step output over 4 MiB fails the attempt, every time.
const tooBig = fn(
  { id: "too-big", retries: 1, triggers: [{ event: "js/too.big" }] },
  async ({ step }) => {
    await stepRun(step, "too-big", "huge", () => "h".repeat(5 * 1024 * 1024));
    return "never";
  },
);

// Steps of 400 ms under checkpointing's maxRuntime of 1 s: the SDK
// checkpoints the first ones in the same call, then hands the run back.
const longCall = fn(
  {
    id: "long-call",
    checkpointing: { maxRuntime: "1s", bufferedSteps: 2 },
    triggers: [{ event: "js/long.call" }],
  },
  async ({ step }) => {
    const got = [];
    for (const id of ["a", "b", "c", "d", "e"]) {
      got.push(
        await stepRun(step, "long-call", id, async () => {
          await sleepMs(400);
          return id;
        }),
      );
    }
    return got.join("");
  },
);

const parallelFail = fn(
  { id: "parallel-fail", retries: 0, triggers: [{ event: "js/parallel.fail" }] },
  async ({ step }) => {
    const results = await Promise.allSettled([
      step.run("fine", () => "ok"),
      step.run("bad", () => {
        throw new NonRetriableError("bad step");
      }),
    ]);
    return results.map((r) => r.status);
  },
);

// step.fetch: the server makes the request (a Gateway op).
const fetcher = fn(
  { id: "fetcher", triggers: [{ event: "js/fetch" }] },
  async ({ event, step }) => {
    const resp = await step.fetch(event.data.url, {
      method: "POST",
      headers: { "x-probe": "yes" },
      body: JSON.stringify({ n: event.data.n }),
    });
    return { status: resp.status, body: await resp.json() };
  },
);

const signalWaiter = fn(
  { id: "signal-waiter", triggers: [{ event: "js/signal.wait" }] },
  async ({ event, step }) =>
    step.waitForSignal("sig", { signal: event.data.signal, timeout: event.data.timeout }),
);

const signalSender = fn(
  { id: "signal-sender", triggers: [{ event: "js/signal.send" }] },
  async ({ event, step }) =>
    step.sendSignal("send", { signal: event.data.signal, data: { v: event.data.v } }),
);

const more = [
  fetcher,
  signalWaiter,
  signalSender,
  conditional,
  wildcard,
  later,
  broken,
  sleepy,
  invokeErrors,
  sendMany,
  nothing,
  tooBig,
  longCall,
  parallelFail,
];

// ---------------------------------------------------------- flow control

// A function whose one step holds its call for `ms`: its output is the span.
function worker(id, options, ms = 500, app = inngest) {
  return fn(
    { id, ...options },
    async ({ event, events, step }) =>
      step.run("work", () => work(id, ms, { ...event.data, count: events.length })),
    app,
  );
}

const flow = [
  // Concurrency: shorthand, one object with a key, and a list.
  worker("free", { triggers: [{ event: "js/free" }] }),
  worker("conc-list", {
    concurrency: [{ limit: 2 }, { limit: 1, key: "event.data.k" }],
    triggers: [{ event: "js/conc.list" }],
  }),
  worker("throttled", {
    throttle: { limit: 1, period: "1s" },
    triggers: [{ event: "js/throttle" }],
  }, 10),
  worker("throttled-burst", {
    throttle: { limit: 1, period: "1s", burst: 1, key: "event.data.k" },
    triggers: [{ event: "js/throttle.burst" }],
  }, 10),
  worker("rate-limited", {
    rateLimit: { limit: 1, period: "1m", key: "event.data.k" },
    triggers: [{ event: "js/rate" }],
  }, 10),
  worker("debounced", {
    debounce: { period: "1s", key: "event.data.k" },
    triggers: [{ event: "js/debounce" }],
  }, 10),
  worker("batched", {
    batchEvents: { maxSize: 3, timeout: "1s" },
    triggers: [{ event: "js/batch" }],
  }, 10),
  worker("prioritized", {
    concurrency: [{ limit: 1 }],
    priority: { run: "int(event.data.p)" },
    triggers: [{ event: "js/priority" }],
  }, 200),
  worker("idempotent", {
    idempotency: "event.data.k",
    triggers: [{ event: "js/idempotent" }],
  }, 10),
  worker("late-start", {
    concurrency: [{ limit: 1 }],
    timeouts: { start: "1s" },
    triggers: [{ event: "js/late" }],
  }, 1500),
  fn(
    {
      id: "cancellable",
      cancelOn: [{ event: "js/cancel", match: "data.k", timeout: "1m" }],
      triggers: [{ event: "js/cancellable" }],
    },
    async ({ step }) => {
      await step.sleep("long", "1m");
      return "not cancelled";
    },
  ),
  fn(
    {
      id: "cancellable-if",
      cancelOn: [{ event: "js/cancel", if: "async.data.k == event.data.k" }],
      triggers: [{ event: "js/cancellable.if" }],
    },
    async ({ step }) => {
      await step.sleep("long", "1m");
      return "not cancelled";
    },
  ),
  fn(
    {
      id: "slow-finish",
      timeouts: { finish: "1s" },
      triggers: [{ event: "js/slow" }],
    },
    async ({ step }) => {
      await step.sleep("long", "1m");
      return "finished";
    },
  ),
  fn(
    {
      id: "single-skip",
      singleton: { key: "event.data.k", mode: "skip" },
      triggers: [{ event: "js/single.skip" }],
    },
    async ({ event, step }) => {
      await step.waitForEvent("release", { event: "js/release", match: "data.k", timeout: "1m" });
      return event.data.n;
    },
  ),
  fn(
    {
      id: "single-cancel",
      singleton: { mode: "cancel" },
      triggers: [{ event: "js/single.cancel" }],
    },
    async ({ event, step }) => {
      await step.waitForEvent("release", { event: "js/release", match: "data.k", timeout: "1m" });
      return event.data.n;
    },
  ),
  fn(
    { id: "cron", triggers: [{ cron: "TZ=Europe/Paris 0 5 * * *" }, { event: "js/cron.now" }] },
    async ({ event }) => event.name,
  ),
  fn(
    { id: "cron-jitter", triggers: [{ cron: "*/30 * * * *", jitter: "10s" }] },
    async () => "tick",
  ),
];

const functions = [
  child,
  everyStep,
  heard,
  waitMatch,
  waitIf,
  waitAny,
  flaky,
  doomed,
  exhausted,
  big,
  ...more,
  ...flow,
];

const shorthandFunctions = [
  worker("conc-number", { concurrency: 1, triggers: [{ event: "js/conc.number" }] }, 500, shorthand),
  worker(
    "conc-object",
    {
      concurrency: { limit: 1, key: "event.data.k" },
        triggers: [{ event: "js/conc.object" }],
    },
    500,
    shorthand,
  ),
];

// ------------------------------------------------------ durable endpoint

const endpoint = serveEndpoint(
  inngest.endpoint(async (req) => {
    const url = new URL(req.url);
    const n = Number(url.searchParams.get("n") ?? "1");
    const a = await step.run("first", () => {
      count(stepRuns, "endpoint/first");
      return n + 1;
    });
    const b = await step.run("second", () => {
      count(stepRuns, "endpoint/second");
      return a * 10;
    });
    return new Response(JSON.stringify({ a, b }), {
      headers: { "content-type": "application/json" },
    });
  }),
);

// ----------------------------------------------------------------- serve

const apps = {
  "js-app": { client: inngest, functions },
  "js-shorthand": { client: shorthand, functions: shorthandFunctions },
};
const handlers = {
  "/api/inngest": serve(apps["js-app"]),
  "/api/shorthand": serve(apps["js-shorthand"]),
};

const server = http.createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
  if (mode === "serve" && path in handlers) {
    return handlers[path](req, res);
  }
  if (path === "/endpoint") {
    return endpoint(req, res);
  }
  if (path === "/echo") {
    // For step.fetch: answers what it was sent.
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ method: req.method, probe: req.headers["x-probe"] ?? null, body }));
    });
    return;
  }
  if (path === "/stats") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ calls, stepRuns, spans }));
  }
  res.writeHead(404);
  res.end();
});

server.listen(Number(process.env.JS_APP_PORT ?? "0"), "127.0.0.1", async () => {
  const { port } = server.address();
  if (mode === "connect") {
    const { connect } = await import("inngest/connect");
    // JS_APP_CONNECT: the apps the worker brings, comma-separated.
    const names = (process.env.JS_APP_CONNECT ?? "js-app").split(",");
    await connect({
      apps: names.map((name) => apps[name]),
      instanceId: "js-worker",
      handleShutdownSignals: ["SIGTERM", "SIGINT"],
    });
  }
  // Written whole at once (rename), so the test never reads half of it.
  const ready = process.env.JS_APP_READY_FILE;
  writeFileSync(`${ready}.tmp`, JSON.stringify({ port }));
  renameSync(`${ready}.tmp`, ready);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
