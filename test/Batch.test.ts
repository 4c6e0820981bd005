import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Redacted, Schedule, Stream } from "effect"
import * as Batch from "../src/batch/Batch.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as BatchSimulator from "../src/testing/BatchSimulator.js"
import { driveTestClock } from "./drive-test-clock.js"

const KEY = "sk-batch-test"
const MODEL = "gpt-4.1-mini"
const CLAUDE = "claude-haiku-4-5"

const request = (i: number): LanguageModel.RequestInput => ({
  messages: [{ role: "system", content: "Classify the ticket." }, { role: "user", content: `ticket #${i}` }],
  maxTokens: 20
})

const echo = (item: BatchSimulator.Item): string => {
  const body = item.body as { messages: ReadonlyArray<{ role: string; content: unknown }> }
  const user = body.messages.filter((m) => m.role === "user").at(-1)!.content
  const text = typeof user === "string" ? user : (user as ReadonlyArray<{ text: string }>).map((p) => p.text).join("")
  return `answer to ${text}`
}


const openAi = (sim: BatchSimulator.Simulator) =>
  Batch.makeOpenAi({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: MODEL }).pipe(
    Effect.provide(Pricing.layer())
  )
const anthropic = (sim: BatchSimulator.Simulator) =>
  Batch.makeAnthropic({ apiKey: Redacted.make(KEY), baseURL: sim.anthropicBaseURL, model: CLAUDE }).pipe(
    Effect.provide(Pricing.layer())
  )

const halfPrice = (model: string, usage: LanguageModel.Usage) => Pricing.costOf(Pricing.defaults[model]!, usage) * 0.5

const operations = (sim: BatchSimulator.Simulator) => Effect.map(sim.journal, (entries) => entries.map((e) => e.operation))

describe("Batch", () => {
  it.scoped("500 requests through the OpenAI SDK: uploaded, polled under TestClock, every result matched, failures typed, costs at 50%", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 4 } })
      yield* sim.setItemHandler((item) => {
        if (item.index % 50 === 7) return { error: { status: 429, type: "rate_limit_error", code: "rate_limit_exceeded", message: "slow down" } }
        if (item.index % 97 === 3) return { error: { status: 400, type: "invalid_request_error", code: "invalid_value", message: "bad" } }
        if (item.index === 499) return { expired: true }
        return { text: echo(item), usage: { input: 30 + (item.index % 5), output: 4, cachedInput: item.index % 2 === 0 ? 10 : 0 } }
      })
      const batch = yield* openAi(sim)
      const requests = Array.from({ length: 500 }, (_, i) => request(i))
      const { elapsed, exit } = yield* driveTestClock(Stream.runCollect(batch.run(requests, { schedule: Schedule.spaced("1 minute") })))
      const results = Chunk.toReadonlyArray(yield* exit)

      // polled 4 times, 1 simulated minute apart; nothing else slept
      expect((yield* sim.batches)[0]).toMatchObject({ provider: "openai", requests: 500, polls: 4 })
      expect(elapsed).toBe(3 * 60_000)
      expect(yield* operations(sim)).toEqual([
        "files.create", "batches.create",
        "batches.retrieve", "batches.retrieve", "batches.retrieve", "batches.retrieve",
        "batches.retrieve", "files.content", "files.content"
      ])

      // one result per request, matched by custom id although the files are in reverse order
      expect(results).toHaveLength(500)
      expect(new Set(results.map((r) => r.customId)).size).toBe(500)
      expect(results[0]!.index).toBe(499 - 1) // the first line of the output file is the last success
      for (const r of results) {
        expect(r.customId).toBe(`req-${r.index}`)
        expect(r.request.messages[1]!.content).toBe(`ticket #${r.index}`)
      }
      const byTag = (tag: string) => results.filter((r) => r._tag === "Failed" && r.error._tag === tag)
      const rateLimited = results.filter((r) => r.index % 50 === 7)
      const invalid = results.filter((r) => r.index % 97 === 3 && r.index % 50 !== 7)
      expect(byTag("RateLimited").map((r) => r.index).sort((a, b) => a - b)).toEqual(rateLimited.map((r) => r.index).sort((a, b) => a - b))
      expect(byTag("InvalidRequest").map((r) => r.index).sort((a, b) => a - b)).toEqual(invalid.map((r) => r.index).sort((a, b) => a - b))
      const expired = results.find((r) => r.index === 499)!
      expect(expired._tag === "Failed" && expired.error._tag === "ProviderUnavailable" && expired.error.kind).toBe("timeout")
      const succeeded = results.filter((r): r is Batch.Succeeded => r._tag === "Succeeded")
      expect(succeeded).toHaveLength(500 - rateLimited.length - invalid.length - 1)
      let total = 0
      for (const r of succeeded) {
        expect(r.response.text).toBe(`answer to ticket #${r.index}`)
        expect(r.response.model).toBe(MODEL)
        expect(r.response.usage.cachedInputTokens).toBe(r.index % 2 === 0 ? 10 : 0)
        expect(r.response.cost!.usd).toBeCloseTo(halfPrice(MODEL, r.response.usage), 15)
        expect(r.response.cost!.estimated).toBe(false)
        total += r.response.cost!.usd
      }
      // half of what the same calls cost live
      const live = succeeded.reduce((sum, r) => sum + Pricing.costOf(Pricing.defaults[MODEL]!, r.response.usage), 0)
      expect(total).toBeCloseTo(live / 2, 12)
    }))

  it.scoped("the uploaded JSONL is one Chat Completions request per line with its custom id", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY })
      const seen: Array<BatchSimulator.Item> = []
      yield* sim.setItemHandler((item) => {
        seen.push(item)
        return undefined
      })
      const batch = yield* openAi(sim)
      const job = yield* batch.submit([
        { customId: "a", request: request(1) },
        { customId: "b", request: { ...request(2), model: "gpt-4.1-nano", responseFormat: { type: "json" } } }
      ], { metadata: { suite: "x" } })
      expect(job.items.map((i) => i.customId)).toEqual(["a", "b"])
      const { exit } = yield* driveTestClock(batch.wait(job, { schedule: Schedule.spaced("10 seconds") }))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(seen.map((s) => s.customId)).toEqual(["a", "b"])
      expect(seen[0]!.body).toMatchObject({ model: MODEL, max_completion_tokens: 20, messages: [{ role: "system" }, { role: "user", content: "ticket #1" }] })
      expect(seen[1]!.body).toMatchObject({ model: "gpt-4.1-nano", response_format: { type: "json_object" } })
    }))

  it.scoped("Anthropic Message Batches: succeeded, errored, expired and canceled items, matched and typed", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 3 } })
      yield* sim.setItemHandler((item) =>
        item.index === 5
          ? { error: { status: 529, type: "overloaded_error", message: "busy" } }
          : item.index === 6
          ? { error: { status: 400, type: "invalid_request_error", message: "prompt is too long: 300000 tokens > 200000 maximum" } }
          : item.index === 7
          ? { expired: true }
          : item.index === 8
          ? { canceled: true }
          : { text: echo(item), usage: { input: 50, output: 8 } }
      )
      const batch = yield* anthropic(sim)
      const requests = Array.from({ length: 60 }, (_, i) => ({ customId: `ticket_${i}`, request: request(i) }))
      const { elapsed, exit } = yield* driveTestClock(Stream.runCollect(batch.run(requests, { schedule: Schedule.spaced("30 seconds") })))
      const results = Chunk.toReadonlyArray(yield* exit)
      expect(elapsed).toBe(2 * 30_000)
      expect(results).toHaveLength(60)
      const byId = new Map(results.map((r) => [r.customId, r]))
      const tagOf = (i: number) => {
        const r = byId.get(`ticket_${i}`)!
        return r._tag === "Failed" ? r.error._tag + (r.error._tag === "ProviderUnavailable" ? `:${r.error.kind}` : "") : "ok"
      }
      expect([5, 6, 7, 8, 9].map(tagOf)).toEqual([
        "ProviderUnavailable:overloaded",
        "ContextLengthExceeded",
        "ProviderUnavailable:timeout",
        "ProviderUnavailable:server",
        "ok"
      ])
      const ok = byId.get("ticket_9")!
      expect(ok._tag === "Succeeded" && ok.response.text).toBe("answer to ticket #9")
      expect(ok._tag === "Succeeded" && ok.response.cost!.usd).toBeCloseTo(
        halfPrice(CLAUDE, new LanguageModel.Usage({ inputTokens: 50, outputTokens: 8 })),
        15
      )
      // the system prompt went to `system`, max_tokens was set
      expect(yield* operations(sim)).toContain("messages.batches.results")
    }))

  it.scoped("a batch that fails validation fails with InvalidRequest naming the problem", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY })
      yield* sim.enqueueBatch("openai", { fail: { code: "invalid_json_line", message: "This line is not parseable", line: 3 } })
      const batch = yield* openAi(sim)
      const { exit } = yield* driveTestClock(Stream.runCollect(batch.run([request(1), request(2)], { schedule: Schedule.spaced("1 minute") })))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
      expect(error).toBeInstanceOf(LlmError.InvalidRequest)
      expect((error as LlmError.InvalidRequest).code).toBe("invalid_json_line")
      expect(error!.message).toContain("line 3")
    }))

  it.scoped("a schedule that runs out fails with ProviderUnavailable (timeout); results can be read later", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 5 } })
      const batch = yield* openAi(sim)
      const job = yield* batch.submit([request(1)])
      const first = yield* driveTestClock(batch.wait(job, { schedule: Schedule.spaced("1 minute").pipe(Schedule.intersect(Schedule.recurs(2))) }))
      const error = Exit.isFailure(first.exit) && first.exit.cause._tag === "Fail" ? first.exit.cause.error : undefined
      expect(error?._tag === "ProviderUnavailable" && error.kind).toBe("timeout")
      expect(error!.message).toContain(job.id)
      expect(first.elapsed).toBe(2 * 60_000)
      const later = yield* driveTestClock(batch.wait(job, { schedule: Schedule.spaced("1 minute") }))
      expect(Exit.isSuccess(later.exit)).toBe(true)
      const results = yield* Stream.runCollect(batch.results(job))
      expect(Chunk.toReadonlyArray(results).map((r) => r._tag)).toEqual(["Succeeded"])
    }))

  it.scoped("a cancelled job reports every request it did not run as failed", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 5 } })
      const batch = yield* openAi(sim)
      const job = yield* batch.submit([request(1), request(2), request(3)])
      yield* batch.cancel(job)
      const { exit } = yield* driveTestClock(batch.wait(job, { schedule: Schedule.spaced("1 minute") }))
      expect(Exit.isSuccess(exit) && exit.value.state).toBe("cancelled")
      const results = Chunk.toReadonlyArray(yield* Stream.runCollect(batch.results(job)))
      expect(results.map((r) => [r.customId, r._tag])).toEqual([["req-0", "Failed"], ["req-1", "Failed"], ["req-2", "Failed"]])
      expect(results.every((r) => r._tag === "Failed" && r.error.message.includes("no result"))).toBe(true)
    }))

  it.scoped("refused before any upload: an unpriced model, duplicate ids, an invalid request, an empty batch", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY })
      const batch = yield* openAi(sim)
      const anth = yield* anthropic(sim)
      const codeOf = (effect: Effect.Effect<unknown, LlmError.LlmError>) =>
        Effect.map(Effect.flip(effect), (e) => (e._tag === "InvalidRequest" ? e.code : e._tag))
      expect(yield* codeOf(batch.submit([{ ...request(1), model: "my-finetune" }]))).toBe("unpriced_model")
      expect(yield* codeOf(batch.submit([{ customId: "x", request: request(1) }, { customId: "x", request: request(2) }]))).toBe("duplicate_custom_id")
      expect(yield* codeOf(batch.submit([{ messages: [] } as unknown as LanguageModel.RequestInput]))).toBe("invalid_request")
      expect(yield* codeOf(batch.submit([]))).toBe("empty_batch")
      expect(yield* codeOf(anth.submit([{ customId: "has space", request: request(1) }]))).toBe("invalid_custom_id")
      expect(yield* sim.journal).toEqual([])
    }))

  it.scoped("two concurrent jobs reusing custom ids: each item's error names the model of its own job (OpenAI and Anthropic)", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 1 } })
      yield* sim.setItemHandler(() => ({ error: { status: 400, type: "invalid_request_error", code: "invalid_value", message: "bad" } }))
      const check = (batch: Batch.Service, first: string, second: string) =>
        Effect.gen(function*() {
          // both jobs are submitted before either is read: the second submit must not change what the first reports
          const jobA = yield* batch.submit([{ customId: "item-1", request: { ...request(1), model: first } }])
          const jobB = yield* batch.submit([{ customId: "item-1", request: { ...request(2), model: second } }])
          const { exit } = yield* driveTestClock(Effect.all([batch.wait(jobA, { schedule: Schedule.spaced("1 minute") }), batch.wait(jobB, { schedule: Schedule.spaced("1 minute") })]))
          expect(Exit.isSuccess(exit)).toBe(true)
          const modelOf = (job: Batch.Job) =>
            Effect.map(Stream.runCollect(batch.results(job)), (results) =>
              Chunk.toReadonlyArray(results).map((r) => r._tag === "Failed" ? `${r.error._tag}:${r.error.model}` : "ok"))
          expect(yield* modelOf(jobA)).toEqual([`InvalidRequest:${first}`])
          expect(yield* modelOf(jobB)).toEqual([`InvalidRequest:${second}`])
        })
      yield* check(yield* openAi(sim), "gpt-4.1-nano", "gpt-4.1")
      yield* check(yield* anthropic(sim), "claude-haiku-4-5", "claude-sonnet-4-5")
    }))

  it.scoped("a wrong API key is AuthenticationFailed from submit", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: "sk-other" })
      const batch = yield* openAi(sim)
      const error = yield* Effect.flip(batch.submit([request(1)]))
      expect(error._tag).toBe("AuthenticationFailed")
      const anth = yield* anthropic(sim)
      expect((yield* Effect.flip(anth.submit([request(1)])))._tag).toBe("AuthenticationFailed")
    }))

  it.scoped("the layer and accessors", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 1 } })
      const layer = Batch.layerOpenAi({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: MODEL }).pipe(
        Layer.provide(Pricing.layer())
      )
      const { exit } = yield* driveTestClock(Stream.runCollect(Batch.run([request(1)])).pipe(Effect.provide(layer)))
      expect(Exit.isSuccess(exit) && Chunk.toReadonlyArray(exit.value).map((r) => r._tag)).toEqual(["Succeeded"])
    }))
})

describe("Batch: a job still running, a failed poll, a caller that gives up (found in review)", () => {
  it.scoped("results(job) before the job has ended fails with batch_not_ended (every request came back as failed)", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 5 } })
      for (const client of [yield* openAi(sim), yield* anthropic(sim)]) {
        const job = yield* client.submit([request(1), request(2)])
        const error = yield* Effect.flip(Stream.runCollect(client.results(job)))
        expect(error._tag).toBe("InvalidRequest")
        expect(error._tag === "InvalidRequest" && error.code).toBe("batch_not_ended")
        expect(error.message).toContain(job.id)
      }
    }))

  it.scoped("a transient failure of one status poll is tried again, not the end of the run", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 4 } })
      let polls = 0
      const flaky: typeof globalThis.fetch = (input, init) => {
        const url = String(input instanceof Request ? input.url : input)
        if ((init?.method ?? "GET") === "GET" && /\/v1\/batches\/[^/]+$/.test(url) && ++polls === 2) {
          return Promise.resolve(new Response(JSON.stringify({ error: { message: "upstream hiccup", type: "server_error" } }), { status: 503, headers: { "content-type": "application/json" } }))
        }
        return globalThis.fetch(input, init)
      }
      const client = yield* Batch.makeOpenAi({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: MODEL, fetch: flaky }).pipe(Effect.provide(Pricing.layer()))
      const { exit } = yield* driveTestClock(Stream.runCollect(client.run([request(1), request(2)], { schedule: Schedule.spaced("1 minute") })))
      expect(Exit.isSuccess(exit) && Chunk.toReadonlyArray(exit.value).map((r) => r._tag)).toEqual(["Succeeded", "Succeeded"])
      expect(polls).toBeGreaterThan(2)
    }))

  it.scoped("a caller interrupting run while it waits cancels the provider job", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 100 } })
      const client = yield* openAi(sim)
      const fiber = yield* Effect.fork(Stream.runCollect(client.run([request(1)], { schedule: Schedule.spaced("1 minute") })))
      yield* sim.awaitEntry((e) => e.operation === "batches.retrieve" && e.status !== undefined)
      yield* Fiber.interrupt(fiber)
      expect(yield* operations(sim)).toContain("batches.cancel")
    }))
})
