/**
 * The ProviderSimulator as a process of its own, so the benchmarked process (or
 * gateway) does not share its event loop with the fake provider.
 *
 *   node --import tsx test/bench/simulator-server.ts [--port N] [--latency-ms N]
 *     [--first-token-ms N] [--token-ms N] [--chunks N]
 *
 * Prints `SIMULATOR http://127.0.0.1:PORT` when listening. Every call gets the
 * same answer: "Paris is the capital of France." (or `--chunks` words), after
 * `--latency-ms` (JSON) or `--first-token-ms` then `--token-ms` between chunks
 * (SSE). The journal is cleared every few seconds: a benchmark makes many calls.
 */
import { Effect } from "effect"
import * as ProviderSimulator from "../../src/testing/ProviderSimulator.js"

const args = process.argv.slice(2)
const portArg = args.indexOf("--port")
const port = portArg >= 0 ? Number(args[portArg + 1]) : 0

const flag = (name: string): number | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : undefined
}

const words = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? "Paris" : ` word${i}`))

Effect.runFork(Effect.scoped(Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make({ port })
  const chunks = flag("--chunks")
  const behavior: ProviderSimulator.Behavior = {
    text: chunks === undefined ? "Paris is the capital of France." : words(chunks).join(""),
    chunks: chunks === undefined ? undefined : words(chunks),
    latencyMs: flag("--latency-ms"),
    firstTokenDelayMs: flag("--first-token-ms"),
    tokenDelayMs: flag("--token-ms"),
    usage: { input: 20, output: 8 }
  }
  const handler: ProviderSimulator.Handler = () => behavior
  yield* sim.setHandler(handler)
  // `reset` clears the handler too: set it again in the same step.
  yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep("3 seconds"), Effect.zipRight(sim.reset, sim.setHandler(handler)))))
  console.log(`SIMULATOR ${sim.url}`)
  yield* Effect.never
})))
