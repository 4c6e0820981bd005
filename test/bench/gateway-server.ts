/**
 * The effect-llm gateway as a process of its own, for the throughput and memory
 * benchmarks: `Gateway.layer` over `Stack.layer` against a simulator.
 *
 *   node --import tsx test/bench/gateway-server.ts --upstream URL/v1 [--stack equivalent|full] [--port N]
 *
 * `equivalent`: retry + fallback (two upstreams) + exact cache, what the Portkey
 * config holds; `full`: the full stack of stacks.ts. Prints `GATEWAY http://...`.
 * The gateway key is `gw-bench-key` (tenant `bench`).
 */
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as Stack from "../../src/Stack.js"
import { equivalentConfig, silentLogger, stackConfig } from "./stacks.js"

const args = process.argv.slice(2)
const arg = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const upstream = arg("--upstream")
if (upstream === undefined) throw new Error("--upstream URL is required")
const config = arg("--stack") === "full" ? stackConfig(upstream, upstream) : equivalentConfig(upstream, upstream)

const server = Gateway.layer({ keys: [{ key: Redacted.make("gw-bench-key"), tenant: "bench" }], port: Number(arg("--port") ?? "0") }).pipe(
  Layer.provide(Stack.layer(config)),
  Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["BENCH_OPENAI_KEY", "sk-bench-0000"]])))),
  Layer.provide(silentLogger)
)

Effect.runFork(
  Effect.gen(function*() {
    console.log(`GATEWAY ${yield* Gateway.url}`)
    yield* Effect.never
  }).pipe(Effect.provide(server), Effect.provide(silentLogger), Effect.scoped, Effect.tapErrorCause(Effect.logError))
)
