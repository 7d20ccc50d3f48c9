"""The subset of the Inngest dev server's GraphQL schema that we serve.

Names, argument names, nullability and enum values are those of the real
server (``POST /v0/gql``), so a tool written against it (the official SDKs'
test harnesses, scripts that wait for a run and read its steps) runs here
unchanged.  Only the subset below exists; a query for anything else is
refused by validation, with the real server's message shape.

Scalars travel as the real server sends them: ``Time`` as RFC 3339 text,
``ULID``/``UUID`` as text, ``Bytes`` as JSON *text* (a string holding JSON).
"""

from __future__ import annotations

__all__ = ["SCHEMA_SDL"]

SCHEMA_SDL = """
scalar Time
scalar ULID
scalar UUID
scalar Bytes

enum FunctionRunStatus {
  COMPLETED
  FAILED
  CANCELLED
  RUNNING
  QUEUED
  SKIPPED
}

enum RunTraceSpanStatus {
  FAILED
  QUEUED
  RUNNING
  COMPLETED
  WAITING
  CANCELLED
  SKIPPED
}

enum AppMethod {
  SERVE
  CONNECT
  API
}

enum FunctionTriggerTypes {
  EVENT
  CRON
}

enum StepOp {
  INVOKE
  RUN
  SLEEP
  WAIT_FOR_EVENT
  AI_GATEWAY
  WAIT_FOR_SIGNAL
}

input AppsFilterV1 {
  method: AppMethod
}

input EventQuery {
  workspaceId: ID! = "local"
  eventId: ID!
}

input EventsQuery {
  workspaceId: ID! = "local"
  lastEventId: ID
}

type Query {
  apps(filter: AppsFilterV1): [App!]!
  app(id: UUID!): App
  event(query: EventQuery!): Event
  events(query: EventsQuery!): [Event!]
  functions: [Function!]
  run(runID: String!): FunctionRunV2
  runTrigger(runID: String!): RunTraceTrigger!
  runTraceSpanOutputByID(outputID: String!): RunTraceSpanOutput!
}

type App {
  id: ID!
  externalID: String!
  name: String!
  sdkLanguage: String!
  sdkVersion: String!
  framework: String
  url: String
  checksum: String
  error: String
  functions: [Function!]!
  method: AppMethod!
  connected: Boolean!
  functionCount: Int!
  autodiscovered: Boolean!
}

type Function {
  id: String!
  name: String!
  slug: String!
  concurrency: Int!
  triggers: [FunctionTrigger!]
  url: String!
  appID: String!
  app: App!
}

type FunctionTrigger {
  type: FunctionTriggerTypes!
  value: String!
  condition: String
}

type Event {
  id: ULID!
  externalID: String
  name: String
  createdAt: Time
  payload: String
  totalRuns: Int
  raw: String
  functionRuns: [FunctionRun!]
}

type FunctionRun {
  id: ID!
  functionID: String!
  function: Function
  status: FunctionRunStatus
  startedAt: Time
  finishedAt: Time
  output: String
  eventID: ID!
}

type FunctionRunV2 {
  id: ULID!
  appID: UUID!
  functionID: UUID!
  function: Function!
  traceID: String!
  queuedAt: Time!
  startedAt: Time
  endedAt: Time
  status: FunctionRunStatus!
  triggerIDs: [ULID!]!
  eventName: String
  isBatch: Boolean!
  output: Bytes
  trace(preview: Boolean): RunTraceSpan
  hasAI: Boolean!
}

type RunTraceSpan {
  appID: UUID!
  functionID: UUID!
  runID: ULID!
  spanID: String!
  traceID: String!
  name: String!
  status: RunTraceSpanStatus!
  attempts: Int
  duration: Int
  outputID: String
  queuedAt: Time!
  startedAt: Time
  endedAt: Time
  childrenSpans: [RunTraceSpan!]!
  stepOp: StepOp
  stepID: String
  stepType: String!
  isRoot: Boolean!
  parentSpanID: String
}

type RunTraceSpanOutput {
  input: Bytes
  data: Bytes
  error: StepError
}

type StepError {
  message: String!
  name: String
  stack: String
}

type RunTraceTrigger {
  eventName: String
  IDs: [ULID!]!
  payloads: [Bytes!]!
  timestamp: Time!
  isBatch: Boolean!
  batchID: ULID
  cron: String
}
"""
