/**
 * How a provider stream hands its events to the gateway (src/providers/internal/stream.ts):
 * events already read arrive together in one chunk (each chunk costs a step of every
 * stream stage of the stack), events that trickle in are not held back, and a
 * reader that runs ahead is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Redacted, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import { highWaterMark, sdkPull } from "../src/providers/internal/stream.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const KEY = "sk-test-0123456789abcdef"
const words = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? "w0" : ` w${i}`))

const setup = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make({ apiKey: KEY })
  const lm = yield* OpenAi.make({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" })
  return { sim, lm }
})

const ask = (content: string) => LanguageModel.decodeRequest({ messages: [{ role: "user", content }] })

/** The chunks of a stream, each with the time it arrived. */
const chunksOf = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.map(
    Stream.runCollect(Stream.mapChunks(stream, (chunk) => Chunk.of({ at: Date.now(), events: Chunk.toReadonlyArray(chunk) }))),
    Chunk.toReadonlyArray
  )

describe("provider streams", () => {
  it.scoped("an answer sent in one burst arrives in fewer chunks than it has events, all in order", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup
      const chunks = words(12)
      yield* sim.enqueue("openai", { text: chunks.join(""), chunks, usage: { input: 5, output: 12 } })
      const got = yield* chunksOf(lm.stream(yield* ask("burst")))
      const events = got.flatMap((c) => c.events)
      expect(events.map((e) => e._tag)).toEqual([...chunks.map(() => "TextDelta"), "Finish"])
      expect(events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")).toBe(chunks.join(""))
      // One SDK item a chunk gave 13 chunks here.
      expect(got.length).toBeLessThan(events.length / 2)
    }))

  it.scoped("tokens that trickle in are handed over as they come, not held back", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup
      const chunks = words(4)
      yield* sim.enqueue("openai", { text: chunks.join(""), chunks, tokenDelayMs: 60, usage: { input: 5, output: 4 } })
      const got = yield* chunksOf(lm.stream(yield* ask("slow")))
      const deltas = got.filter((c) => c.events.some((e) => e._tag === "TextDelta"))
      expect(deltas.length).toBeGreaterThanOrEqual(3)
      // The first token arrived well before the last.
      expect(got[got.length - 1]!.at - deltas[0]!.at).toBeGreaterThanOrEqual(120)
    }))

  it.live("the reader stops reading ahead at the high-water mark until the consumer pulls", () =>
    Effect.gen(function*() {
      let produced = 0
      const items = async function*() {
        for (;;) {
          produced++
          yield produced
        }
      }
      const delta = new LanguageModel.TextDelta({ text: "x" })
      const stream = LanguageModel.fromPull(sdkPull<number>({
        origin: { provider: "test", model: "m" },
        open: () => Promise.resolve(items()),
        onError: () => {
          throw new Error("unexpected")
        },
        events: () => [delta],
        finish: () => Either.right(delta)
      }))
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* Stream.toPull(stream)
        const chunk = yield* pull
        // Let the reader run as far as it will.
        yield* Effect.sleep("50 millis")
        return chunk.length
      }))
      expect(first).toBeGreaterThan(0)
      expect(produced).toBeLessThanOrEqual(first + highWaterMark + 2)
    }))
})
